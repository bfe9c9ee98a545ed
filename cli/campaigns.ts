// Client side of campaigns: start (or re-submit) the campaign workflow, show a progress bar, resume.
import { Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy, defaultPayloadConverter } from '@temporalio/common';
import proto from '@temporalio/proto';
import { ORCHESTRATOR_TASK_QUEUE, SEARCH_ATTRIBUTES } from '../domain/defaults.js';
import { formatDuration } from '../domain/duration.js';
import { campaignWorkflowId } from '../domain/ids.js';
import type { CampaignEntry, CampaignInput, CampaignProgress, Problem, SearchOptions } from '../domain/types.js';
import { workflowUrl, type TemporalTarget } from '../infra/temporal.js';
import { campaignProgressQuery } from '../workflows/definitions.js';
import type { campaign } from '../workflows/campaign.js';
import { GPU_IDENTITY_SLOTS } from '../workers/gpu.js';
import { pollUntilSettled } from './searches.js';

interface Output {
  json: boolean;
  detach: boolean;
  log: (line: string) => void;
}

/** Verification slots of the GPU workers polling a queue right now (each worker's identity names its slot count). */
export async function connectedGpuSlots(client: Client, taskQueue: string): Promise<number> {
  const res = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
  });
  return (res.pollers ?? []).reduce((sum, p) => sum + Number(GPU_IDENTITY_SLOTS.exec(p.identity ?? '')?.[1] ?? 1), 0);
}

export async function runCampaign(
  client: Client,
  target: TemporalTarget,
  spec: { name: string; problems: Problem[]; options: SearchOptions; concurrency?: number },
  out: Output,
): Promise<number> {
  let concurrency = spec.concurrency;
  if (concurrency === undefined) {
    const slots = await connectedGpuSlots(client, spec.options.gpuTaskQueue);
    if (slots === 0) out.log(`no GPU worker polls ${spec.options.gpuTaskQueue} yet: running 1 search at a time (set --concurrency to choose)`);
    concurrency = Math.max(1, slots);
  }
  const input: CampaignInput = { name: spec.name, problems: spec.problems, options: { ...spec.options, campaign: spec.name }, concurrency };
  return submit(client, target, input, out);
}

async function submit(client: Client, target: TemporalTarget, input: CampaignInput, out: Output): Promise<number> {
  const workflowId = campaignWorkflowId(input.name);
  try {
    await client.workflow.start<typeof campaign>('campaign', {
      workflowId,
      taskQueue: ORCHESTRATOR_TASK_QUEUE,
      args: [input],
      // A running campaign is attached to; a finished one runs again, which restarts only failed children.
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      typedSearchAttributes: [{ key: SEARCH_ATTRIBUTES.campaign, value: input.name }],
      staticSummary: `campaign ${input.name}: ${input.problems.length} problems`,
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
  const handle = client.workflow.getHandle<typeof campaign>(workflowId);
  const url = workflowUrl(target, workflowId);
  out.log(`campaign ${input.name}: ${input.problems.length} problems, ${input.concurrency} at a time`);
  out.log(`Temporal UI: ${url}`);
  if (out.detach) {
    if (out.json) process.stdout.write(`${JSON.stringify({ campaign: input.name, workflowId, url })}\n`);
    return 0;
  }
  const { show, end } = progressDisplay(out);
  const entries = await pollUntilSettled(handle.result(), async () => show(progressLine(await handle.query(campaignProgressQuery))));
  // The bar's last state (all done), which the polling may have missed: on its own line, TTY or not.
  show(progressLine(progressOf(input, entries)));
  end();
  if (out.json) process.stdout.write(`${JSON.stringify({ campaign: input.name, url, entries })}\n`);
  else printEntries(entries);
  return entries.some((e) => e.status === 'failed') ? 1 : 0;
}

/** The progress of a finished campaign, from its result. */
export function progressOf(input: CampaignInput, entries: CampaignEntry[]): CampaignProgress {
  const count = (...s: CampaignEntry['status'][]) => entries.filter((e) => s.includes(e.status)).length;
  return {
    name: input.name,
    total: entries.length,
    done: count('solved', 'unsolved', 'failed', 'kept'),
    solved: count('solved') + entries.filter((e) => e.status === 'kept' && e.keptSolved).length,
    running: count('running'),
    failed: count('failed'),
    concurrency: input.concurrency,
    startedAtMs: 0,
    budgetMs: input.options.budgetMs,
    entries,
  };
}

/**
 * A progress line that redraws itself on a TTY and, without one, is logged only when it changed;
 * `end` finishes the TTY's line. With --json the lines go to the log (stderr), never over stdout.
 */
export function progressDisplay(out: Pick<Output, 'json' | 'log'>): { show: (line: string) => void; end: () => void } {
  const tty = process.stderr.isTTY && !out.json;
  let lastLine = '';
  return {
    show: (line) => {
      if (tty) process.stderr.write(`\r\x1b[K${line}`);
      else if (line !== lastLine) out.log(line);
      lastLine = line;
    },
    end: () => {
      if (tty) process.stderr.write('\n');
    },
  };
}

/** `[######..................]`: `done` of `total`, 24 characters wide. */
export function progressBar(done: number, total: number): string {
  const width = 24;
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

export function progressLine(p: CampaignProgress): string {
  const remaining = p.total - p.done;
  // Each wave of `concurrency` searches takes at most the per-problem budget.
  const leftMs = Math.ceil(Math.max(0, remaining - p.running) / p.concurrency) * p.budgetMs + (p.running > 0 ? p.budgetMs : 0);
  const kept = p.entries.filter((e) => e.status === 'kept').length;
  const tail = remaining === 0 ? 'finished' : `at most ${formatDuration(leftMs)} left`;
  return `${progressBar(p.done, p.total)} ${p.done}/${p.total} done${kept > 0 ? ` (${kept} kept)` : ''} · ${p.solved} solved · ${p.running} running · ${p.failed} failed · ${tail}`;
}

function printEntries(entries: CampaignEntry[]): void {
  for (const e of entries) {
    const speed = e.bestSpeedup !== null ? ` ${e.bestSpeedup.toFixed(2)}x` : '';
    process.stdout.write(`${e.status.padEnd(8)} ${e.problemId}${speed}${e.error ? ` — ${e.error}` : ''}\n`);
  }
  const count = (s: string) => entries.filter((e) => e.status === s).length;
  process.stdout.write(`${entries.length} problems: ${count('solved')} solved, ${count('unsolved')} unsolved, ${count('failed')} failed, ${count('kept')} kept from an earlier run (${entries.filter((e) => e.status === 'kept' && e.keptSolved).length} of them solved)\n`);
}

/** Re-submits a campaign with the input of its first run: failed or terminated children start again. */
export async function resumeCampaign(client: Client, target: TemporalTarget, name: string, out: Output, concurrency?: number): Promise<number> {
  const handle = client.workflow.getHandle(campaignWorkflowId(name));
  let history;
  try {
    history = await handle.fetchHistory();
  } catch {
    throw new Error(`no campaign named "${name}"`);
  }
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const payload = started?.input?.payloads?.[0];
  if (!payload) throw new Error(`campaign "${name}" has no recorded input`);
  const input = defaultPayloadConverter.fromPayload<CampaignInput>(payload);
  if (concurrency !== undefined) input.concurrency = concurrency;
  const description = await handle.describe();
  if (description.status.name === 'RUNNING') out.log(`campaign ${name} is still running; attaching to it`);
  return submit(client, target, input, out);
}
