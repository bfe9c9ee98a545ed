// Client side of audits and of `verify`: start (or re-submit) the audit workflow and show its progress;
// judge one kernel through the same child workflow and print its verdict as a person reads it.
import { Client, WorkflowExecutionAlreadyStartedError, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { existsSync } from 'node:fs';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy, defaultPayloadConverter } from '@temporalio/common';
import { auditProgressOf, auditWorkflowId, heldUp, verdictInWords, verifyWorkflowId, type AuditEntry, type AuditInput, type AuditKernelResult, type AuditOptions, type AuditProgress } from '../domain/audit.js';
import { ORCHESTRATOR_TASK_QUEUE, SEARCH_ATTRIBUTES } from '../domain/defaults.js';
import type { Problem } from '../domain/types.js';
import { workflowUrl, type TemporalTarget } from '../infra/temporal.js';
import { ArtifactStore } from '../activities/artifacts.js';
import { auditProgressQuery } from '../workflows/auditDefinitions.js';
import type { audit, auditKernel } from '../workflows/audit.js';
import { verdictLines } from '../report/audit.js';
import { connectedGpuSlots, progressBar, progressDisplay } from './campaigns.js';
import { pollUntilSettled } from './searches.js';

interface Output {
  json: boolean;
  detach: boolean;
  log: (line: string) => void;
}

export async function runAudit(client: Client, target: TemporalTarget, spec: Omit<AuditInput, 'concurrency'> & { concurrency?: number }, out: Output): Promise<number> {
  let concurrency = spec.concurrency;
  if (concurrency === undefined) {
    const slots = await connectedGpuSlots(client, spec.options.gpuTaskQueue);
    if (slots === 0) out.log(`no GPU worker polls ${spec.options.gpuTaskQueue} yet: verifying 1 kernel at a time (set --concurrency to choose)`);
    concurrency = Math.max(1, slots);
  }
  return submitAudit(client, target, { ...spec, concurrency }, out);
}

async function submitAudit(client: Client, target: TemporalTarget, input: AuditInput, out: Output): Promise<number> {
  const workflowId = auditWorkflowId(input.name);
  try {
    await client.workflow.start<typeof audit>('audit', {
      workflowId,
      taskQueue: ORCHESTRATOR_TASK_QUEUE,
      args: [input],
      // A running audit is attached to; a finished one runs again, which judges only what failed or changed.
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      staticSummary: `audit ${input.name}: ${input.kernels.length} kernels from ${input.kernelsPath}`,
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
  const handle = client.workflow.getHandle<typeof audit>(workflowId);
  const url = workflowUrl(target, workflowId);
  out.log(`audit ${input.name}: ${input.kernels.length} kernel(s) on ${input.problems.length} problem(s), ${input.concurrency} at a time`);
  out.log(`Temporal UI: ${url}`);
  if (out.detach) {
    if (out.json) process.stdout.write(`${JSON.stringify({ audit: input.name, workflowId, url })}\n`);
    return 0;
  }
  const { show, end } = progressDisplay(out);
  const entries = await pollUntilSettled(handle.result(), async () => show(auditProgressLine(await handle.query(auditProgressQuery))));
  show(auditProgressLine(auditProgressOf(input.name, input.concurrency, entries)));
  end();
  if (out.json) process.stdout.write(`${JSON.stringify({ audit: input.name, url, entries, unmatched: input.unmatched, problemsWithoutKernel: input.problemsWithoutKernel })}\n`);
  else printAuditEntries(entries, input);
  return entries.some((e) => e.status === 'failed') ? 1 : 0;
}

export function auditProgressLine(p: AuditProgress): string {
  const kept = p.entries.filter((e) => e.kept).length;
  return `${progressBar(p.done, p.total)} ${p.done}/${p.total} judged${kept > 0 ? ` (${kept} kept)` : ''} · ${p.heldUp} held up · ${p.running} running · ${p.failed} not judged${p.done === p.total ? ' · finished' : ''}`;
}

function printAuditEntries(entries: AuditEntry[], input: AuditInput): void {
  const out = (s: string) => process.stdout.write(`${s}\n`);
  for (const e of entries) {
    const words = e.status === 'failed' ? `not judged — ${e.error ?? 'failed'}` : e.verdictStatus ? verdictInWords({ status: e.verdictStatus, cheats: [] }).replace(/ \(unnamed\)$/, '') : e.status;
    out(`${(e.verdictStatus ?? e.status).padEnd(13)} ${e.file} → ${e.problemId}: ${words}${e.kept ? ' (kept)' : ''}`);
  }
  const held = entries.filter((e) => e.verdictStatus === 'correct').length;
  out(`${held} of ${entries.length} claimed kernel(s) held up${input.unmatched.length > 0 ? `; ${input.unmatched.length} file(s) matched no problem` : ''}${input.problemsWithoutKernel.length > 0 ? `; ${input.problemsWithoutKernel.length} problem(s) had no kernel` : ''} (kernel-search report ${input.name}: cheat evidence, speedups, speed of light)`);
}

/** Re-submits an audit with the input of its latest run: kernels that failed or were terminated are judged again. */
export async function resumeAudit(client: Client, target: TemporalTarget, name: string, out: Output, concurrency?: number): Promise<number> {
  const input = await auditInputOf(client, name);
  if (!input) throw new Error(`no audit named "${name}"`);
  if (concurrency !== undefined) input.concurrency = concurrency;
  return submitAudit(client, target, input, out);
}

/** The input of an audit's latest run; null when there is no audit of that name. */
export async function auditInputOf(client: Client, name: string): Promise<AuditInput | null> {
  try {
    const history = await client.workflow.getHandle(auditWorkflowId(name)).fetchHistory();
    const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    return payload ? defaultPayloadConverter.fromPayload<AuditInput>(payload) : null;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError || /not found/i.test(String(err))) return null;
    throw err;
  }
}

/**
 * `kernel-search verify`: one auditKernel workflow, so the kernel takes exactly the GPU worker path of an
 * audit. The same kernel on the same problem gets the same id: a run still in progress (an interrupted
 * verify) is attached to; a finished one is judged afresh.
 */
export async function verifyOnce(
  client: Client,
  target: TemporalTarget,
  spec: { problem: Problem; kernelFile: string; source: string; options: AuditOptions },
  out: { json: boolean; log: (line: string) => void },
): Promise<number> {
  const workflowId = verifyWorkflowId(spec.problem, spec.source);
  const handle = await client.workflow.start<typeof auditKernel>('auditKernel', {
    workflowId,
    taskQueue: ORCHESTRATOR_TASK_QUEUE,
    args: [{ problem: spec.problem, kernel: { kernelId: spec.problem.id, file: spec.kernelFile, source: spec.source }, audit: '', options: spec.options }],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    typedSearchAttributes: [
      { key: SEARCH_ATTRIBUTES.problem, value: spec.problem.id },
      { key: SEARCH_ATTRIBUTES.backend, value: spec.problem.backend },
    ],
    staticSummary: `verify ${spec.kernelFile} on ${spec.problem.id}`,
  });
  const url = workflowUrl(target, workflowId);
  out.log(`verifying ${spec.kernelFile} on ${spec.problem.id} (${spec.problem.backend}); Temporal UI: ${url}`);
  let result: AuditKernelResult;
  try {
    result = await handle.result();
  } catch (err) {
    const why = err instanceof WorkflowFailedError ? innermost(err) : err instanceof Error ? err.message : String(err);
    if (out.json) process.stdout.write(`${JSON.stringify({ workflowId, url, judged: false, error: why })}\n`);
    else process.stdout.write(`${spec.kernelFile} on ${spec.problem.id}: NOT JUDGED — ${why}\n`);
    return 1;
  }
  const v = result.verdict;
  const verdictPath = v.artifactKey ? localArtifact(v.artifactKey) : null;
  if (out.json) {
    process.stdout.write(`${JSON.stringify({ workflowId, url, judged: true, heldUp: heldUp(v), verdictInWords: verdictInWords(v), file: spec.kernelFile, problemId: spec.problem.id, verdict: v, verdictPath })}\n`);
  } else {
    for (const line of verdictLines(v, { file: spec.kernelFile, problemId: spec.problem.id, source: spec.source })) process.stdout.write(`${line}\n`);
    process.stdout.write(`full verdict: ${verdictPath ?? `${v.artifactKey ?? 'n/a'} (in the GPU worker's artifact store)`}\n`);
    process.stdout.write(`Temporal UI: ${url}\n`);
  }
  return heldUp(v) ? 0 : 3;
}

/** The path of an artifact in this machine's store, when it is there (the GPU worker may be elsewhere). */
export function localArtifact(key: string, store = new ArtifactStore()): string | null {
  try {
    const file = store.pathOf(key);
    return existsSync(file) ? file : null;
  } catch {
    return null;
  }
}

function innermost(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return (e instanceof Error ? e.message : String(err)).split('\n')[0]!;
}
