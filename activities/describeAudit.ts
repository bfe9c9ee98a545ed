// describeAuditKernels: which kernels of an audit were already judged in an earlier run (their verdict
// stands). Runs on the orchestrator: it only talks to Temporal.
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { AuditKernelResult } from '../domain/audit.js';
import type { VerdictStatus } from '../domain/types.js';

export interface ExistingAuditKernel {
  /** RUNNING, COMPLETED, FAILED, TERMINATED, …, or NOT_FOUND for a kernel never started. */
  status: string;
  /** The verdict's status of a completed one; the verdict itself stays in that child's result (history stays small). */
  verdictStatus: VerdictStatus | null;
}

export function createAuditActivities() {
  async function describeAuditKernel(workflowId: string): Promise<ExistingAuditKernel> {
    const handle = Context.current().client.workflow.getHandle(workflowId);
    try {
      const status = (await handle.describe()).status.name;
      if (status !== 'COMPLETED') return { status, verdictStatus: null };
      return { status, verdictStatus: ((await handle.result()) as AuditKernelResult).verdict.status };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return { status: 'NOT_FOUND', verdictStatus: null };
      throw err;
    }
  }
  /** Each kernel's child by id, in one activity for the audit's whole list. */
  async function describeAuditKernels(workflowIds: string[]): Promise<ExistingAuditKernel[]> {
    const out: ExistingAuditKernel[] = [];
    for (const id of workflowIds) {
      out.push(await describeAuditKernel(id));
      Context.current().heartbeat(out.length);
    }
    return out;
  }
  return { describeAuditKernel, describeAuditKernels };
}
