// The loop end to end: real Temporal dev server, scripted model over HTTP, CPU verifier.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TestEnv, problemFile } from './harness.js';

let env: TestEnv;
before(async () => {
  env = await TestEnv.start();
  await env.startWorkers();
});
after(async () => env?.stop());

test('the loop solves a scripted problem, feeding each verdict into the next prompt', async () => {
  const res = await env.cli(['run', '--problem', problemFile('vector_add'), '--width', '1', '--budget', '4m', '--json']);
  assert.equal(res.exitCode, 0, res.stderr);
  const result = JSON.parse(res.stdout);
  assert.equal(result.solved, true);
  assert.equal(result.stopReason, 'solved_untimed');
  assert.deepEqual(result.candidates.map((c: { status: string }) => c.status), ['compile_error', 'incorrect', 'correct']);
  assert.match(result.best.source, /class ModelNew/);
  // The new best was profiled (patch 'ncu-profile'); the CPU verifier says why there are no counters.
  assert.equal(result.best.profile?.available, false, JSON.stringify(result.best.profile));
  assert.match(result.best.profile.reason, /CPU device/);

  const prompts = env.model.requests.filter((r) => r.problemId === 'vector_add');
  assert.deepEqual(prompts.map((p) => p.round), [1, 2, 3]);
  // Round n+1's prompt quotes round n's verifier message (its first line at least).
  for (const n of [1, 2]) {
    const firstLine = result.candidates[n - 1].message.split('\n')[0];
    assert.ok(firstLine.length > 10, `round ${n} message is too thin: ${firstLine}`);
    assert.ok(prompts[n]!.prompt.includes(firstLine), `round ${n + 1} prompt lacks round ${n}'s verifier message: ${firstLine}`);
  }
  // R1-class model: instructions in the user turn only, temperature 0.6.
  assert.equal(prompts[0]!.hasSystemPrompt, false);
  assert.equal(prompts[0]!.temperature, 0.6);
  assert.equal(prompts[0]!.stream, true);
});

test('submitting a finished search again shows its result, says so, and starts no second one', async () => {
  const first = await env.cli(['run', '--problem', problemFile('vector_add'), '--width', '1', '--budget', '4m', '--json']);
  assert.equal(first.exitCode, 0, first.stderr);
  assert.match(first.stderr, /search \S+ already finished \([^)]+\): showing its result; --fresh starts a new search/);
  const before = env.model.requests.length;
  const again = JSON.parse(first.stdout);
  assert.equal(again.solved, true);
  assert.equal(env.model.requests.length, before, 'no new model calls for a finished search');
  const list = await env.cli(['list', '--problem', 'vector_add', '--json']);
  assert.equal(list.exitCode, 0, list.stderr);
  const rows = JSON.parse(list.stdout);
  assert.equal(rows.length, 1);
  assert.equal(rows[0].status, 'solved');
});

test('endpoint failures are retried by Temporal, honouring Retry-After', async () => {
  env.model.failNext({ status: 429, retryAfterS: 2 }, { status: 500 });
  const before = env.model.requests.length;
  const res = await env.cli(['run', '--problem', problemFile('vector_add'), '--width', '1', '--budget', '4m', '--campaign', 'retry', '--json']);
  assert.equal(res.exitCode, 0, res.stderr);
  assert.equal(JSON.parse(res.stdout).solved, true);
  const seen = env.model.requests.slice(before);
  assert.deepEqual(seen.slice(0, 3).map((r) => r.answered), [429, 500, 200]);
  assert.ok(seen[1]!.at - seen[0]!.at >= 1900, `retried after ${seen[1]!.at - seen[0]!.at} ms, Retry-After was 2 s`);
});

test('an endpoint that refuses every candidate fails the search at once, saying why', async () => {
  env.model.failNext({ status: 404 });
  const started = Date.now();
  const res = await env.cli(['run', '--problem', problemFile('vector_add'), '--width', '1', '--budget', '4m', '--campaign', 'refused', '--json']);
  assert.equal(res.exitCode, 1, res.stderr);
  assert.match(res.stderr, /Workflow execution failed: .*every candidate of round 1 was refused: model endpoint http:\/\/127\.0\.0\.1:\d+\/v1 \(model scripted-deepseek-r1\) answered 404/);
  assert.ok(Date.now() - started < 60_000, 'failed at once instead of running empty rounds until the deadline');
});
