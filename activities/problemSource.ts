// The problem an activity works on. Searches started before problem keys send the whole problem in
// every activity input; newer ones send a key (domain/problemKey.ts), and the source is read once per
// worker from the search's start event (the workflow's input, recorded once), then kept in memory and
// in the artifact store (problems/<hash>.py), so the history no longer grows by the source per candidate.
import { Context } from '@temporalio/activity';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import { matchesKey, type ProblemKey } from '../domain/problemKey.js';
import type { Problem, SearchInput } from '../domain/types.js';
import { ArtifactStore } from './artifacts.js';

const cache = new Map<string, string>();

export async function problemOf(req: { problem?: Problem; problemKey?: ProblemKey }, store: ArtifactStore): Promise<Problem> {
  if (req.problem) return req.problem;
  const key = req.problemKey;
  if (!key) throw ApplicationFailure.nonRetryable('the activity input names no problem', 'BadRequest');
  const source = await sourceFor(key, store);
  return { id: key.id, backend: key.backend, source, ...(key.atol === undefined ? {} : { atol: key.atol }), ...(key.rtol === undefined ? {} : { rtol: key.rtol }) };
}

async function sourceFor(key: ProblemKey, store: ArtifactStore): Promise<string> {
  const cacheKey = `${key.sourceHash}-${key.sourceChars}`;
  const cached = cache.get(cacheKey);
  if (cached !== undefined) return cached;
  const storeKey = `problems/${key.id.replace(/[^A-Za-z0-9._-]/g, '_')}-${cacheKey}.py`;
  const stored = await store.get(storeKey).catch(() => null);
  if (stored !== null && matchesKey(stored, key)) {
    cache.set(cacheKey, stored);
    return stored;
  }
  const source = await fromStartEvent();
  if (!matchesKey(source, key)) throw ApplicationFailure.nonRetryable(`the problem source in the search's start event does not match its key ${key.id}/${key.sourceHash}`, 'ProblemMismatch');
  await store.put(storeKey, source).catch(() => undefined); // a cache: a read-only store only costs a fetch
  cache.set(cacheKey, source);
  return source;
}

/** The problem source from the first event of the run that scheduled this activity. */
async function fromStartEvent(): Promise<string> {
  const ctx = Context.current();
  const { workflowExecution, workflowNamespace } = ctx.info;
  if (!workflowExecution) throw ApplicationFailure.nonRetryable('a problem key needs an activity started by a workflow', 'BadRequest');
  const res = await ctx.client.workflowService.getWorkflowExecutionHistory({ namespace: workflowNamespace, execution: workflowExecution, maximumPageSize: 1 });
  const payload = res.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!payload) throw ApplicationFailure.retryable(`no start input found for ${workflowExecution.workflowId}`, 'ProblemUnavailable');
  const input = defaultPayloadConverter.fromPayload<SearchInput>(payload);
  return input.problem.source;
}
