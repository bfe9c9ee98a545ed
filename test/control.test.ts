// Deadline, default budget, stop, extend and status, through the CLI against a real server.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DEFAULT_BUDGET_MS } from '../domain/defaults.js';
import type { SearchStatus } from '../domain/types.js';
import { statusQuery } from '../workflows/definitions.js';
import { TestEnv, eventually, problemFile } from './harness.js';

let env: TestEnv;
before(async () => {
  env = await TestEnv.start();
  await env.startWorkers();
});
after(async () => env?.stop());

test('a search that never succeeds ends at its deadline as unsolved, with its best-so-far', async () => {
  const budgetMs = 15_000;
  const started = Date.now();
  const res = await env.cli(['run', '--problem', problemFile('never_solved'), '--width', '2', '--budget', '15s', '--json']);
  const elapsed = Date.now() - started;
  assert.equal(res.exitCode, 3, res.stderr); // 3 = finished unsolved
  const result = JSON.parse(res.stdout);
  assert.equal(result.solved, false);
  assert.equal(result.stopReason, 'deadline');
  assert.ok(result.candidates.length >= 1, 'at least one candidate was verified before the deadline');
  assert.equal(result.best.verdict.status, 'incorrect', 'best-so-far is the closest attempt');
  // every verification is counted: the slot time of each, summed; a verification takes some of it
  assert.ok(result.best.verdict.gpuSeconds > 0, `the best verdict's GPU-seconds: ${result.best.verdict.gpuSeconds}`);
  assert.ok(result.gpuSeconds >= result.best.verdict.gpuSeconds, `the search's ${result.gpuSeconds} GPU-s hold its verdicts'`);
  assert.ok(result.gpuSeconds <= result.elapsedMs / 1000 + 1, `${result.gpuSeconds} GPU-s: more than the one CPU lane's wall time`);
  assert.ok(result.elapsedMs >= budgetMs, `ended before the deadline: ${result.elapsedMs}`);
  assert.ok(result.elapsedMs < budgetMs + 5000, `ended ${result.elapsedMs - budgetMs} ms after the deadline`);
  assert.ok(elapsed < budgetMs + 20_000, `the CLI took ${elapsed} ms`);
});

test('default budget is 15 minutes; status, extend and stop work from the CLI', async () => {
  const start = await env.cli(['run', '--problem', problemFile('never_solved'), '--width', '1', '--detach', '--json']);
  assert.equal(start.exitCode, 0, start.stderr);
  const { searchId } = JSON.parse(start.stdout);
  const handle = env.client.workflow.getHandle(searchId);

  const s: SearchStatus = await eventually(() => handle.query(statusQuery), 20_000, 'status query');
  assert.equal(s.deadlineMs - s.startedAtMs, DEFAULT_BUDGET_MS);

  const status = await env.cli(['status', searchId, '--json']);
  assert.equal(status.exitCode, 0, status.stderr);
  const parsed = JSON.parse(status.stdout);
  assert.equal(parsed.workflowStatus, 'RUNNING');
  assert.equal(parsed.status.phase, 'running');

  const extend = await env.cli(['extend', searchId, '10m']);
  assert.equal(extend.exitCode, 0, extend.stderr);
  const s2 = await handle.query(statusQuery);
  assert.equal(s2.deadlineMs - s2.startedAtMs, DEFAULT_BUDGET_MS + 10 * 60_000);

  const tooMuch = await env.cli(['extend', searchId, '48h']);
  assert.notEqual(tooMuch.exitCode, 0);
  assert.match(tooMuch.stderr, /at most/);
  const zero = await env.cli(['extend', searchId, '0s']);
  assert.notEqual(zero.exitCode, 0);
  // The update validator refuses what the CLI lets through: a direct call with a negative value.
  await assert.rejects(handle.executeUpdate('extendBudget', { args: [-1000] }), (err: Error & { cause?: Error }) => {
    assert.match(err.cause?.message ?? '', /positive/);
    return true;
  });

  const spent = await eventually(async () => {
    const r = JSON.parse((await env.cli(['status', searchId, '--json'])).stdout);
    if (r.status.candidatesVerified < 1) throw new Error('nothing verified yet');
    return r;
  }, 60_000, 'a verified candidate');
  assert.ok(spent.spent.gpuSeconds > 0 && spent.spent.gpuSeconds === spent.status.gpuSeconds, JSON.stringify(spent.spent));
  assert.equal(spent.spent.tokens, spent.status.tokens);
  assert.match((await env.cli(['status', searchId])).stdout, /spent \d+\.\d GPU-s, [\d,]+ tokens/);

  const stop = await env.cli(['stop', searchId]);
  assert.equal(stop.exitCode, 0, stop.stderr);
  const result = await handle.result();
  assert.equal(result.stopReason, 'stopped');
  assert.equal(result.solved, false);

  const after = await env.cli(['status', searchId]);
  assert.equal(after.exitCode, 0, after.stderr);
  assert.match(after.stdout, /COMPLETED/);
  const missing = await env.cli(['status', 'no-such-search']);
  assert.equal(missing.exitCode, 2);
  assert.match(missing.stderr, /no search with id "no-such-search"/);
});
