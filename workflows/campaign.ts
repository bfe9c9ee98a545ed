// The campaign workflow: one kernelSearch child per problem, at most `concurrency` at once.
// Submitting it again (or `kernel-search resume`) restarts only the children that failed or were
// terminated: a child that already completed keeps its result, because children are started with
// deterministic ids and the ALLOW_DUPLICATE_FAILED_ONLY reuse policy.
import {
  ParentClosePolicy,
  WorkflowIdReusePolicy,
  condition,
  log,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
// Pure SDK code; @temporalio/workflow does not re-export this error class.
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { SEARCH_ATTRIBUTES } from '../domain/defaults.js';
import { campaignSearchId } from '../domain/ids.js';
import type { CampaignEntry, CampaignInput, CampaignProgress, SearchResult } from '../domain/types.js';
import type { Activities } from '../activities/index.js';
import { campaignProgressQuery } from './definitions.js';
import { kernelSearch } from './kernelSearch.js';

const DESCRIBE_OPTIONS = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2s', maximumInterval: '30s', maximumAttempts: 10 },
};
const { describeSearch } = proxyActivities<Activities>(DESCRIBE_OPTIONS);

/**
 * Patch 'describe-before-start': a campaign first asks, in one activity, which of its searches already
 * finished in an earlier run, and keeps those without trying to start them; before it, each kept child
 * showed in the history (and the UI) as a failed StartChildWorkflowExecution. It also counts them in the
 * progress from the start.
 */
export const DESCRIBE_BEFORE_START_PATCH = 'describe-before-start';

// A search of an earlier run still running when this run starts is one of that run's children being
// terminated (parent close policy): wait this long at most for it to close.
const TERMINATING_POLL = '5 seconds';
const TERMINATING_POLLS = 120;

export async function campaign(input: CampaignInput): Promise<CampaignEntry[]> {
  const startedAtMs = Date.now();
  const entries: CampaignEntry[] = input.problems.map((p) => ({ problemId: p.id, searchId: campaignSearchId(input.name, p.id), status: 'pending', bestSpeedup: null }));
  const concurrency = Math.max(1, input.concurrency);
  let running = 0;

  setHandler(campaignProgressQuery, (): CampaignProgress => {
    const count = (...s: CampaignEntry['status'][]) => entries.filter((e) => s.includes(e.status)).length;
    return {
      name: input.name,
      total: entries.length,
      done: count('solved', 'unsolved', 'failed', 'kept'),
      solved: count('solved') + entries.filter((e) => e.status === 'kept' && e.keptSolved).length,
      running: count('running'),
      failed: count('failed'),
      concurrency,
      startedAtMs,
      budgetMs: input.options.budgetMs,
      entries,
    };
  });

  async function runOne(index: number): Promise<void> {
    const problem = input.problems[index]!;
    const entry = entries[index]!;
    for (let attempt = 0; ; attempt++) {
      try {
        const child = await startChild(kernelSearch, {
          workflowId: entry.searchId,
          args: [{ problem, options: { ...input.options, campaign: input.name } }],
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
          parentClosePolicy: ParentClosePolicy.TERMINATE,
          typedSearchAttributes: [
            { key: SEARCH_ATTRIBUTES.problem, value: problem.id },
            { key: SEARCH_ATTRIBUTES.campaign, value: input.name },
            { key: SEARCH_ATTRIBUTES.backend, value: problem.backend },
            { key: SEARCH_ATTRIBUTES.status, value: 'running' },
          ],
          staticSummary: `kernel search: ${problem.id} (campaign ${input.name})`,
        });
        entry.status = 'running';
        const result: SearchResult = await child.result();
        entry.status = result.solved ? 'solved' : 'unsolved';
        entry.bestSpeedup = result.best?.verdict.timing?.meaningful ? result.best.verdict.timing.speedupVsEager : null;
        return;
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) {
          entry.status = 'failed';
          entry.error = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
          log.warn('search failed', { problem: problem.id, error: entry.error });
          return;
        }
        if (!patched('describe-existing-searches')) {
          entry.status = 'kept'; // campaigns started before describeSearch existed
          return;
        }
        // The id is taken: a search that finished in an earlier run (its result stands), or one of that
        // run's children still being terminated (wait for it to close, then start it again).
        let existing;
        try {
          existing = await describeSearch(entry.searchId);
        } catch (describeErr) {
          entry.status = 'failed';
          entry.error = `could not tell what became of search ${entry.searchId}: ${describeErr instanceof Error ? describeErr.message : String(describeErr)}`;
          return;
        }
        if (existing.status === 'COMPLETED') {
          entry.status = 'kept';
          entry.keptSolved = existing.solved ?? undefined;
          entry.bestSpeedup = existing.bestSpeedup;
          return;
        }
        if (attempt >= TERMINATING_POLLS) {
          entry.status = 'failed';
          entry.error = `a search with id ${entry.searchId} is still ${existing.status.toLowerCase()} (not started by this campaign run)`;
          return;
        }
        // RUNNING: being terminated, wait; closed otherwise (terminated, failed, …): start it again at
        // once, and wait between later tries (a status this code does not know must not spin)
        if (existing.status === 'RUNNING' || attempt > 0) await sleep(TERMINATING_POLL);
      }
    }
  }

  if (patched(DESCRIBE_BEFORE_START_PATCH)) {
    const { describeSearches } = proxyActivities<Activities>({ ...DESCRIBE_OPTIONS, startToCloseTimeout: '10 minutes', heartbeatTimeout: '1 minute', summary: `which of ${entries.length} searches finished in an earlier run?` });
    const existing = await describeSearches(entries.map((e) => e.searchId));
    existing.forEach((x, i) => {
      if (x.status !== 'COMPLETED') return;
      const entry = entries[i]!;
      entry.status = 'kept';
      entry.keptSolved = x.solved ?? undefined;
      entry.bestSpeedup = x.bestSpeedup;
    });
  }

  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < input.problems.length; i++) {
    if (entries[i]!.status === 'kept') continue;
    await condition(() => running < concurrency);
    running++;
    inFlight.push(runOne(i).finally(() => running--));
  }
  await Promise.all(inFlight);
  log.info('campaign finished', { name: input.name, problems: entries.length, run: workflowInfo().runId });
  return entries;
}
