// Continue-as-new when the server suggests it: the dev server is told to suggest it after a few
// events, so a short search crosses several runs and still ends with every round it verified.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { kernelSearch } from '../workflows/kernelSearch.js';
import { TestEnv, problemFile } from './harness.js';

let env: TestEnv;
before(async () => {
  env = await TestEnv.start({ dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 12 } });
  await env.startWorkers();
});
after(async () => env?.stop());

test('a search continues as new and keeps its state, deadline and results', async () => {
  const res = await env.cli(['run', '--problem', problemFile('vector_add'), '--width', '1', '--budget', '4m', '--json']);
  assert.equal(res.exitCode, 0, res.stderr);
  const result = JSON.parse(res.stdout);
  assert.equal(result.solved, true);
  assert.deepEqual(result.candidates.map((c: { round: number; status: string }) => [c.round, c.status]), [
    [1, 'compile_error'],
    [2, 'incorrect'],
    [3, 'correct'],
  ]);
  const handle = env.client.workflow.getHandle<typeof kernelSearch>(result.searchId);
  const runs: string[] = [];
  for await (const wf of env.client.workflow.list({ query: `WorkflowId = '${result.searchId}'` })) runs.push(wf.runId);
  assert.ok(runs.length >= 2, `expected the search to continue as new at least once, saw ${runs.length} run(s)`);
  assert.equal((await handle.describe()).status.name, 'COMPLETED');
});
