// Campaigns end to end: 10 problems (some solvable, some not) with an orchestrator restart in the
// middle and a terminated child; resume restarts only that child; the report's numbers add up.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadProblem } from '../cli/problem.js';
import { DEFAULT_SEARCH_OPTIONS, ORCHESTRATOR_TASK_QUEUE } from '../domain/defaults.js';
import { campaignSearchId } from '../domain/ids.js';
import type { CampaignEntry } from '../domain/types.js';
import { campaignProgressQuery } from '../workflows/definitions.js';
import { FIXTURE_REPLIES, TestEnv, eventually, problemFile } from './harness.js';

let env: TestEnv;
let dir: string;
const SOLVABLE = ['camp_ok_1', 'camp_ok_2', 'camp_ok_3', 'camp_ok_4', 'camp_ok_5', 'camp_ok_6'];
const UNSOLVABLE = ['camp_bad_1', 'camp_bad_2', 'camp_bad_3', 'camp_bad_4'];

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ks-campaign-'));
  const problems = path.join(dir, 'problems');
  const replies = path.join(dir, 'replies');
  mkdirSync(problems);
  const make = (id: string, from: string, reply: string) => {
    copyFileSync(problemFile(from), path.join(problems, `${id}.py`));
    mkdirSync(path.join(replies, id), { recursive: true });
    copyFileSync(path.join(FIXTURE_REPLIES, from, reply), path.join(replies, id, '01.md'));
  };
  for (const id of SOLVABLE) make(id, 'vector_add', '03.md');
  for (const id of UNSOLVABLE) make(id, 'never_solved', '01.md');
  // the race test's problem: solvable, in a folder of its own
  mkdirSync(path.join(dir, 'race'));
  copyFileSync(problemFile('vector_add'), path.join(dir, 'race', 'race_ok.py'));
  mkdirSync(path.join(replies, 'race_ok'), { recursive: true });
  copyFileSync(path.join(FIXTURE_REPLIES, 'vector_add', '03.md'), path.join(replies, 'race_ok', '01.md'));
  env = await TestEnv.start({ scripted: { repliesDirs: [replies] } });
  await Promise.all([env.startWorker('orchestrator'), env.startWorker('gpu', ['--slots', '2'])]);
});
after(async () => {
  await env?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a campaign survives a worker restart, records a terminated search as failed, and resume reruns only that one', async () => {
  const problemsDir = path.join(dir, 'problems');
  const start = await env.cli(['campaign', '--name', 'c1', '--problems', problemsDir, '--budget', '20s', '--width', '1', '--detach', '--json']);
  assert.equal(start.exitCode, 0, start.stderr);
  assert.match(start.stderr, /10 problems, 2 at a time/, 'concurrency defaults to the connected GPU slots');
  const handle = env.client.workflow.getHandle('campaign-c1');

  // Restart the orchestrator once the campaign is under way.
  await eventually(async () => (await handle.query(campaignProgressQuery)).done >= 1, 120_000, 'a first finished search');
  const orchestrator = env.workers[0]!;
  orchestrator.kill('SIGKILL');
  await orchestrator.catch(() => undefined);
  await env.startWorker('orchestrator');

  // Terminate one unsolvable search while it runs: the campaign must record it as failed.
  const victim = await eventually(async () => {
    const p = await handle.query(campaignProgressQuery);
    return p.entries.find((e) => e.status === 'running' && e.problemId.startsWith('camp_bad'));
  }, 180_000, 'an unsolvable search to be running');
  // the campaign is certainly running now (its victim is): listed with its progress, asked by query
  const running = await env.cli(['list', '--kind', 'campaign', '--json']);
  assert.equal(running.exitCode, 0, running.stderr);
  const [live] = JSON.parse(running.stdout) as { name: string; workflowStatus: string; total: number; done: number }[];
  assert.equal(live?.name, 'c1');
  assert.equal(live.workflowStatus, 'RUNNING');
  assert.equal(live.total, 10, 'a running campaign is listed with its progress');
  assert.ok(live.done >= 1 && live.done < 10, JSON.stringify(live));
  await env.client.workflow.getHandle(victim.searchId).terminate('test: operator terminated it');

  const entries = (await handle.result()) as CampaignEntry[];
  const byId = Object.fromEntries(entries.map((e) => [e.problemId, e.status]));
  for (const id of SOLVABLE) assert.equal(byId[id], 'solved', id);
  for (const id of UNSOLVABLE) assert.equal(byId[id], id === victim.problemId ? 'failed' : 'unsolved', id);

  const requestsBefore = env.model.requests.length;
  const resumed = await env.cli(['resume', 'c1', '--json']);
  assert.equal(resumed.exitCode, 0, resumed.stderr);
  const after = JSON.parse(resumed.stdout).entries as CampaignEntry[];
  for (const e of after) assert.equal(e.status, e.problemId === victim.problemId ? 'unsolved' : 'kept', e.problemId);
  for (const e of after.filter((x) => x.status === 'kept')) assert.equal(e.keptSolved, byId[e.problemId] === 'solved', e.problemId);
  const newRequests = env.model.requests.slice(requestsBefore);
  assert.ok(newRequests.length > 0);
  assert.deepEqual([...new Set(newRequests.map((r) => r.problemId))], [victim.problemId], 'only the failed search ran again');

  const listed = await env.cli(['list', '--campaign', 'c1', '--status', 'solved', '--json']);
  assert.equal(listed.exitCode, 0, listed.stderr);
  assert.equal(JSON.parse(listed.stdout).length, SOLVABLE.length);
  const campaigns = await env.cli(['list', '--kind', 'campaign', '--json']);
  assert.equal(campaigns.exitCode, 0, campaigns.stderr);
  const rows = JSON.parse(campaigns.stdout) as { name: string; workflowStatus: string; total: number; done: number; good: number; failed: number }[];
  assert.equal(rows.length, 1, 'the resumed campaign is one row, its newest run');
  assert.deepEqual({ ...rows[0], startTime: undefined, closeTime: undefined, workflowId: undefined },
    { name: 'c1', workflowStatus: 'COMPLETED', total: 10, done: 10, good: SOLVABLE.length, failed: 0, startTime: undefined, closeTime: undefined, workflowId: undefined });

  // Scheduling: one verification per slot at a time, and every slot used.
  const slots = (readdirSync(path.join(env.dataDir, 'artifacts'), { recursive: true }) as string[])
    .filter((f) => f.endsWith('slot.json'))
    .map((f) => JSON.parse(readFileSync(path.join(env.dataDir, 'artifacts', f), 'utf8')) as { slot: string; startedAtMs: number; endedAtMs: number });
  assert.deepEqual([...new Set(slots.map((s) => s.slot))].sort(), ['cpu0', 'cpu1']);
  for (const a of slots) {
    for (const b of slots) {
      if (a !== b && a.slot === b.slot) assert.ok(a.endedAtMs <= b.startedAtMs || b.endedAtMs <= a.startedAtMs, `two verifications overlapped on ${a.slot}`);
    }
  }

  const out = path.join(dir, 'report');
  const report = await env.cli(['report', 'c1', '--out', out]);
  assert.equal(report.exitCode, 0, report.stderr);
  const json = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
  assert.equal(json.summary.problems, 10);
  assert.equal(json.summary.solved, 6);
  assert.equal(json.summary.fast[0].value, 0.6);
  const csv = readFileSync(path.join(out, 'report.csv'), 'utf8').trim().split('\n');
  assert.equal(csv.length, 11);
  const html = readFileSync(path.join(out, 'report.html'), 'utf8');
  assert.match(html, /<svg id="solve-rate"/);
  assert.doesNotMatch(html, /<script|https?:\/\/(?!localhost)/, 'nothing loaded from the network');
});

test('a search of an earlier run that is still running when the campaign starts is waited for and run again, not kept', async () => {
  // Stands for a child of an earlier campaign run that is being terminated: same id, still RUNNING.
  const problem = await loadProblem(problemFile('never_solved'), 'triton', 'race_ok');
  const searchId = campaignSearchId('c2', 'race_ok');
  const stale = await env.client.workflow.start('kernelSearch', {
    workflowId: searchId,
    taskQueue: ORCHESTRATOR_TASK_QUEUE,
    args: [{ problem, options: { ...DEFAULT_SEARCH_OPTIONS, budgetMs: 10 * 60_000, campaign: 'c2' } }],
  });
  const start = await env.cli(['campaign', '--name', 'c2', '--problems', path.join(dir, 'race'), '--budget', '60s', '--detach', '--json']);
  assert.equal(start.exitCode, 0, start.stderr);
  const handle = env.client.workflow.getHandle('campaign-c2');
  await new Promise((r) => setTimeout(r, 8000));
  const during = await handle.query(campaignProgressQuery);
  assert.notEqual(during.entries[0]!.status, 'kept', 'a running search of another run was counted as kept');
  assert.equal(during.done, 0);
  await stale.terminate('test: the earlier run is going away');
  const entries = (await handle.result()) as CampaignEntry[];
  assert.equal(entries[0]!.status, 'solved', JSON.stringify(entries[0]));
});
