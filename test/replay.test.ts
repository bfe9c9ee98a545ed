// Replays recorded histories against today's workflow code: a change that breaks determinism for
// searches already in flight fails here. Re-record with `node dist/tools/record-history.js` only
// when such a change is intended (and patched, see docs/operations.md).
import { Worker } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { readdirSync, readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { WORKFLOWS_PATH } from '../infra/paths.js';
import { FIXTURES } from './harness.js';

const dir = path.join(FIXTURES, 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

test('recorded histories exist', () => {
  assert.ok(files.length > 0, `no recorded histories in ${dir}`);
});

for (const file of files) {
  test(`replay ${file}`, async () => {
    const history = historyFromJSON(JSON.parse(readFileSync(path.join(dir, file), 'utf8')));
    await Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH, replayName: file }, history);
  });
}
