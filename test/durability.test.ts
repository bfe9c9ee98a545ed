// Durability: a GPU worker SIGKILLed mid-verification, and the Temporal server SIGKILLed and
// restarted on the same SQLite file. Both searches complete and no round is lost.
import proto from '@temporalio/proto';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { kernelSearch } from '../workflows/kernelSearch.js';
import { statusQuery } from '../workflows/definitions.js';
import { TestEnv, eventually, problemFile } from './harness.js';

let env: TestEnv;
before(async () => {
  env = await TestEnv.start();
  await env.startWorkers();
});
after(async () => env?.stop());

async function startDetached(problem: string): Promise<string> {
  const res = await env.cli(['run', '--problem', problemFile(problem), '--width', '1', '--budget', '5m', '--detach', '--json']);
  assert.equal(res.exitCode, 0, res.stderr);
  return JSON.parse(res.stdout).searchId;
}

test('a GPU worker killed in the middle of a verification: the candidate is verified again elsewhere', async () => {
  const searchId = await startDetached('slow_verify');
  const handle = env.client.workflow.getHandle<typeof kernelSearch>(searchId);
  await eventually(
    async () => (await handle.describe()).raw.pendingActivities?.some((a) => a.activityType?.name === 'verifyKernel' && a.state === proto.temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED),
    60_000,
    'verification to start',
  );
  await new Promise((r) => setTimeout(r, 1500)); // well inside the verifier subprocess
  const gpu = env.workers[1]!;
  gpu.kill('SIGKILL');
  await gpu.catch(() => undefined);
  await env.startWorker('gpu');

  const result = await handle.result();
  assert.equal(result.solved, true);
  assert.equal(result.rounds, 1, 'the killed verification was retried, not replaced by a new round');
  assert.deepEqual(result.candidates.map((c) => [c.round, c.status]), [[1, 'correct']]);
  const history = await handle.fetchHistory();
  const retried = history.events?.some((e) => e.activityTaskStartedEventAttributes && (e.activityTaskStartedEventAttributes.attempt ?? 1) > 1);
  assert.ok(retried, 'history shows a second attempt of the verification');
});

test('the Temporal server killed and restarted on the same SQLite file: the search completes', async () => {
  const searchId = await startDetached('vector_add');
  const handle = env.client.workflow.getHandle<typeof kernelSearch>(searchId);
  await eventually(async () => (await handle.query(statusQuery)).candidatesVerified >= 1, 60_000, 'first verdict');
  await env.killServer();
  await new Promise((r) => setTimeout(r, 2000));
  await env.startServer();

  const restarted = env.client.workflow.getHandle<typeof kernelSearch>(searchId);
  const result = await restarted.result();
  assert.equal(result.solved, true);
  assert.deepEqual(result.candidates.map((c) => [c.round, c.status]), [
    [1, 'compile_error'],
    [2, 'incorrect'],
    [3, 'correct'],
  ]);
});
