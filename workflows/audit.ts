// Audits: verification only. `audit` starts one auditKernel child per kernel, at most `concurrency` at
// once; auditKernel calls verifyKernel once on the GPU task queue (the same activity and worker path as
// a search's candidates) and returns the verdict. Like campaigns, children have deterministic ids and the
// ALLOW_DUPLICATE_FAILED_ONLY reuse policy, and the parent asks first which kernels an earlier run
// already judged: submitting the audit again judges only what failed, was terminated or changed.
import {
  ActivityCancellationType,
  ParentClosePolicy,
  WorkflowIdReusePolicy,
  condition,
  log,
  proxyActivities,
  setHandler,
  sleep,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { ActivityOptions } from '@temporalio/common';
// Pure SDK code; @temporalio/workflow does not re-export this error class.
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities/index.js';
import { auditKernelWorkflowId, auditProgressOf, type AuditEntry, type AuditInput, type AuditKernelInput, type AuditKernelResult, type AuditProgress } from '../domain/audit.js';
import { SEARCH_ATTRIBUTES, VERIFY_ACTIVITY_SLACK_S, verificationLimitS } from '../domain/defaults.js';
import { problemKeyOf } from '../domain/problemKey.js';
import { auditProgressQuery } from './auditDefinitions.js';

export async function auditKernel(input: AuditKernelInput): Promise<AuditKernelResult> {
  const { verifyKernel } = proxyActivities<Activities>({
    taskQueue: input.options.gpuTaskQueue,
    // as a search's verification (workflows/kernelSearch.ts): the activity's own timeout fires first
    startToCloseTimeout: `${verificationLimitS(input.options.verifyTimeoutS) + VERIFY_ACTIVITY_SLACK_S} seconds`,
    heartbeatTimeout: '15 seconds',
    cancellationType: ActivityCancellationType.TRY_CANCEL,
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
    summary: `verify ${input.kernel.file} on ${input.problem.id}`,
  } satisfies ActivityOptions);
  const verdict = await verifyKernel({
    searchId: workflowInfo().workflowId,
    problemKey: problemKeyOf(input.problem),
    round: 0,
    index: 0,
    candidateSource: input.kernel.source,
    timeoutS: input.options.verifyTimeoutS,
  });
  return { kernelId: input.kernel.kernelId, file: input.kernel.file, problemId: input.problem.id, verdict, verifiedAtMs: Date.now() };
}

const DESCRIBE_OPTIONS = {
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '2s', maximumInterval: '30s', maximumAttempts: 10 },
};

// A child of an earlier run still running when this run starts is being terminated (parent close
// policy): wait this long at most for it to close.
const TERMINATING_POLL = '5 seconds';
const TERMINATING_POLLS = 120;

export async function audit(input: AuditInput): Promise<AuditEntry[]> {
  const problems = new Map(input.problems.map((p) => [p.id, p]));
  const entries: AuditEntry[] = input.kernels.map((k) => ({
    kernelId: k.kernelId,
    file: k.file,
    problemId: k.problemId,
    workflowId: auditKernelWorkflowId(input.name, k.kernelId, k.source, problems.get(k.problemId)?.source ?? ''),
    status: 'pending',
    kept: false,
    verdictStatus: null,
  }));
  const concurrency = Math.max(1, input.concurrency);
  let running = 0;
  setHandler(auditProgressQuery, (): AuditProgress => auditProgressOf(input.name, concurrency, entries));
  const { describeAuditKernel, describeAuditKernels } = proxyActivities<Activities>({ ...DESCRIBE_OPTIONS, summary: `which of ${entries.length} kernels were judged in an earlier run?` });

  async function runOne(index: number): Promise<void> {
    const kernel = input.kernels[index]!;
    const entry = entries[index]!;
    const problem = problems.get(kernel.problemId);
    if (!problem) {
      entry.status = 'failed';
      entry.error = `the audit's input has no problem "${kernel.problemId}"`;
      return;
    }
    for (let attempt = 0; ; attempt++) {
      try {
        const child = await startChild(auditKernel, {
          workflowId: entry.workflowId,
          args: [{ problem, kernel: { kernelId: kernel.kernelId, file: kernel.file, source: kernel.source }, audit: input.name, options: input.options }],
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
          parentClosePolicy: ParentClosePolicy.TERMINATE,
          typedSearchAttributes: [
            { key: SEARCH_ATTRIBUTES.problem, value: problem.id },
            { key: SEARCH_ATTRIBUTES.backend, value: problem.backend },
          ],
          staticSummary: `audit ${input.name}: ${kernel.file} on ${problem.id}`,
        });
        entry.status = 'running';
        const result = await child.result();
        entry.status = 'judged';
        entry.verdictStatus = result.verdict.status;
        return;
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) {
          entry.status = 'failed';
          entry.error = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
          log.warn('kernel not judged', { kernel: kernel.file, error: entry.error });
          return;
        }
        // The id is taken: judged in an earlier run (its verdict stands), or a child of that run still
        // being terminated (wait for it to close, then judge again).
        let existing;
        try {
          existing = await describeAuditKernel(entry.workflowId);
        } catch (describeErr) {
          entry.status = 'failed';
          entry.error = `could not tell what became of ${entry.workflowId}: ${describeErr instanceof Error ? describeErr.message : String(describeErr)}`;
          return;
        }
        if (existing.status === 'COMPLETED') {
          Object.assign(entry, { status: 'judged', kept: true, verdictStatus: existing.verdictStatus });
          return;
        }
        if (attempt >= TERMINATING_POLLS) {
          entry.status = 'failed';
          entry.error = `${entry.workflowId} is still ${existing.status.toLowerCase()} (not started by this audit run)`;
          return;
        }
        if (existing.status === 'RUNNING' || attempt > 0) await sleep(TERMINATING_POLL);
      }
    }
  }

  const existing = await describeAuditKernels(entries.map((e) => e.workflowId));
  existing.forEach((x, i) => {
    if (x.status === 'COMPLETED') Object.assign(entries[i]!, { status: 'judged', kept: true, verdictStatus: x.verdictStatus });
  });

  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < entries.length; i++) {
    if (entries[i]!.kept) continue;
    await condition(() => running < concurrency);
    running++;
    inFlight.push(runOne(i).finally(() => running--));
  }
  await Promise.all(inFlight);
  log.info('audit finished', { name: input.name, kernels: entries.length, run: workflowInfo().runId });
  return entries;
}
