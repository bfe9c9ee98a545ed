// Records the history of a real search (scripted model, CPU verifier) for the replay test.
// Usage: node dist/tools/record-history.js [NAME]   (after `make build`; NAME defaults to vector_add_solved)
import { execa } from 'execa';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { temporalCli } from '../infra/paths.js';
import { TestEnv, FIXTURES, problemFile } from '../test/harness.js';

const env = await TestEnv.start();
try {
  await env.startWorkers();
  const res = await env.cli(['run', '--problem', problemFile('vector_add'), '--width', '1', '--budget', '5m', '--json']);
  if (res.exitCode !== 0) throw new Error(res.stderr);
  const { searchId } = JSON.parse(res.stdout);
  // The CLI writes the proto3 JSON that historyFromJSON reads (the same as the UI's download).
  const shown = await execa(temporalCli(), ['workflow', 'show', '--workflow-id', searchId, '--address', env.target.address, '--output', 'json']);
  const out = path.join(FIXTURES, 'histories', `${process.argv[2] ?? 'vector_add_solved'}.json`);
  writeFileSync(out, shown.stdout);
  console.log(`wrote ${out} (${JSON.parse(shown.stdout).events.length} events)`);
} finally {
  await env.stop();
}
