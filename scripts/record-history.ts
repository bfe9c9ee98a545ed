// Records the history of a real search (scripted model, CPU verifier) for the replay test.
// Usage: node dist/scripts/record-history.js   (after `make build`)
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { TestEnv, FIXTURES, problemFile } from '../test/harness.js';

const env = await TestEnv.start();
try {
  await env.startWorkers();
  const res = await env.cli(['run', '--problem', problemFile('vector_add'), '--width', '1', '--budget', '5m', '--json']);
  if (res.exitCode !== 0) throw new Error(res.stderr);
  const { searchId } = JSON.parse(res.stdout);
  const history = await env.client.workflow.getHandle(searchId).fetchHistory();
  const out = path.join(FIXTURES, 'histories', 'vector_add_solved.json');
  writeFileSync(out, historyToJSON(history));
  console.log(`wrote ${out} (${history.events?.length} events)`);
} finally {
  await env.stop();
}
