// Client side of a search: deterministic ids, starting without duplicates, watching progress.
import { Client, WorkflowExecutionAlreadyStartedError, type WorkflowHandle } from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import { createHash } from 'node:crypto';
import { ORCHESTRATOR_TASK_QUEUE, SEARCH_ATTRIBUTES } from '../domain/defaults.js';
import type { SearchInput, SearchResult, SearchStatus } from '../domain/types.js';
import { statusQuery } from '../workflows/definitions.js';
import type { kernelSearch } from '../workflows/kernelSearch.js';

/** Same problem, backend and options → same id, so submitting a search twice does not start two. */
export function searchIdFor(input: SearchInput): string {
  const hash = createHash('sha256').update(JSON.stringify({ source: input.problem.source, backend: input.problem.backend, options: input.options })).digest('hex').slice(0, 10);
  const campaign = input.options.campaign ? `${input.options.campaign}-` : '';
  return `ks-${campaign}${input.problem.id}-${hash}`;
}

/** A fresh search's id: the deterministic one with a suffix of its start time, so it never collides. */
export function freshSearchIdFor(input: SearchInput, nowMs = Date.now()): string {
  return `${searchIdFor(input)}-${nowMs.toString(36)}`;
}

/** What `run` did: started a search, attached to one still running, or found one that had finished. */
export type StartOutcome = 'started' | 'restarted' | 'attached' | 'finished';

export interface StartedSearch {
  handle: WorkflowHandle<typeof kernelSearch>;
  outcome: StartOutcome;
  /** For 'finished' and 'attached': when that search started; for 'restarted': how the earlier run ended. */
  earlier?: { startTime: Date; closeTime?: Date; status: string };
}

export async function startSearch(client: Client, input: SearchInput, opts: { fresh?: boolean } = {}): Promise<StartedSearch> {
  const workflowId = opts.fresh ? freshSearchIdFor(input) : searchIdFor(input);
  const describe = () =>
    client.workflow
      .getHandle(workflowId)
      .describe()
      .then((d) => ({ status: d.status.name as string, startTime: d.startTime, closeTime: d.closeTime }))
      .catch(() => null);
  const before = await describe();
  try {
    const handle = await client.workflow.start<typeof kernelSearch>('kernelSearch', {
      workflowId,
      taskQueue: ORCHESTRATOR_TASK_QUEUE,
      args: [input],
      // Running: attach to it. Finished: keep its result, except a failed or terminated run, which may be started again.
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
      typedSearchAttributes: [
        { key: SEARCH_ATTRIBUTES.problem, value: input.problem.id },
        { key: SEARCH_ATTRIBUTES.backend, value: input.problem.backend },
        { key: SEARCH_ATTRIBUTES.status, value: 'running' },
        ...(input.options.campaign ? [{ key: SEARCH_ATTRIBUTES.campaign, value: input.options.campaign }] : []),
      ],
      staticSummary: `kernel search: ${input.problem.id} (${input.problem.backend})`,
    });
    if (before?.status === 'RUNNING') return { handle, outcome: 'attached', earlier: before };
    return before ? { handle, outcome: 'restarted', earlier: before } : { handle, outcome: 'started' };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    // The id belongs to a search that completed (its result stands) or, in a race, one that now runs.
    const now = await describe();
    const handle = client.workflow.getHandle<typeof kernelSearch>(workflowId);
    return { handle, outcome: now?.status === 'RUNNING' ? 'attached' : 'finished', earlier: now ?? undefined };
  }
}

/** The line `run` prints about what it did, naming the search and, for an earlier one, when it ran. */
export function startLine(s: StartedSearch): string {
  const id = s.handle.workflowId;
  const when = (d: Date | undefined) => (d ? d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : '?');
  switch (s.outcome) {
    case 'started':
      return `started search ${id}`;
    case 'restarted':
      return `started search ${id} again (its earlier run ended ${s.earlier?.status.toLowerCase() ?? 'without a result'})`;
    case 'attached':
      return `attached to running search ${id} (started ${when(s.earlier?.startTime)}; same problem and options)`;
    case 'finished':
      return `search ${id} already finished (${when(s.earlier?.closeTime)}): showing its result; --fresh starts a new search`;
  }
}

export interface WatchCallbacks {
  onVerdict?: (v: SearchStatus['recent'][number]) => void;
  onTick?: (s: SearchStatus) => void;
}

/**
 * Calls `tick` every interval until `result` settles, then returns it. A failing tick is skipped: queries
 * fail for a moment while a worker restarts or a run continues as new.
 */
export async function pollUntilSettled<T>(result: Promise<T>, tick: () => Promise<void>, intervalMs = 1000): Promise<T> {
  let finished = false;
  void result.then(() => (finished = true), () => (finished = true));
  while (!finished) {
    await tick().catch(() => undefined);
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, intervalMs))]);
  }
  return result;
}

/** Polls the status query until the search closes; reports each new verdict once. */
export async function watchSearch(handle: WorkflowHandle<typeof kernelSearch>, cb: WatchCallbacks, intervalMs = 1000): Promise<SearchResult> {
  const seen = new Set<string>();
  const result = await pollUntilSettled(
    handle.result(),
    async () => {
      const status = await handle.query(statusQuery);
      for (const v of status.recent) {
        const key = `${v.round}/${v.index}`;
        if (!seen.has(key)) {
          seen.add(key);
          cb.onVerdict?.(v);
        }
      }
      cb.onTick?.(status);
    },
    intervalMs,
  );
  for (const c of result.candidates) {
    const key = `${c.round}/${c.index}`;
    if (!seen.has(key)) {
      seen.add(key);
      cb.onVerdict?.({ round: c.round, index: c.index, status: c.status, message: c.message });
    }
  }
  return result;
}
