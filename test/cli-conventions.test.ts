// Issue 16, items 7–11: what a repeated `run` says and --fresh, the CLI's conventions (help, version,
// negative values, a folder given to --problem, a refused connection, Ctrl-C), folders with attention
// variant specs, the scripted model's missing replies, the resume progress bar, activity summaries and
// problem keys in the history, kept children of a resumed campaign. Real server, scripted model, CPU verifier.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { defaultPayloadConverter } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { execa } from 'execa';
import { progressLine, progressOf } from '../cli/campaigns.js';
import type { CampaignEntry } from '../domain/types.js';
import { REPO_ROOT, WORKFLOWS_PATH } from '../infra/paths.js';
import { resolveTemporalTarget, workflowUrl } from '../infra/temporal.js';
import { CLI, TestEnv, eventually, freePort, problemFile } from './harness.js';

let env: TestEnv;
before(async () => {
  env = await TestEnv.start();
  await env.startWorkers();
});
after(async () => env?.stop());

const oneLine = (stderr: string) => {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line, got: ${stderr}`);
  return lines[0]!;
};

test('links to a cluster named by TEMPORAL_ADDRESS go to its own host unless TEMPORAL_UI_URL says otherwise', () => {
  const url = (env: NodeJS.ProcessEnv) => workflowUrl(resolveTemporalTarget(env), 'ks-x');
  assert.equal(url({ TEMPORAL_ADDRESS: '10.0.0.5:7233' }), 'http://10.0.0.5:8233/namespaces/default/workflows/ks-x', 'a self-hosted dev server, not Temporal Cloud');
  assert.equal(url({ TEMPORAL_ADDRESS: '[::1]:7233' }), 'http://[::1]:8233/namespaces/default/workflows/ks-x');
  assert.equal(url({ TEMPORAL_ADDRESS: 'ns.a1b2c.tmprl.cloud:7233', TEMPORAL_NAMESPACE: 'ns.a1b2c' }), 'https://cloud.temporal.io/namespaces/ns.a1b2c/workflows/ks-x');
  assert.equal(url({ TEMPORAL_ADDRESS: 'temporal:7233', TEMPORAL_UI_URL: 'https://ui.example' }), 'https://ui.example/namespaces/default/workflows/ks-x');
});

test('--help, <command> --help, help <command> and --version', async () => {
  const top = await env.cli(['--help']);
  assert.equal(top.exitCode, 0);
  assert.match(top.stdout, /kernel-search <command> --help/);
  const run = await env.cli(['run', '--help']);
  assert.equal(run.exitCode, 0, run.stderr);
  assert.match(run.stdout, /^Usage:\n {2}kernel-search run /);
  assert.match(run.stdout, /--fresh/);
  assert.doesNotMatch(run.stdout, /kernel-search campaign/, 'only run\'s usage');
  const campaign = await env.cli(['help', 'campaign']);
  assert.equal(campaign.exitCode, 0);
  assert.match(campaign.stdout, /kernel-search campaign --name NAME/);
  const version = await env.cli(['--version']);
  assert.equal(version.exitCode, 0);
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(version.stdout.trim(), `kernel-search ${pkg.version}`);
});

test('README documents every option of run\'s usage and every command', async () => {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const usage = (await env.cli(['--help'])).stdout;
  for (const flag of new Set(usage.match(/--[a-z][a-z-]+/g))) assert.ok(readme.includes(flag), `README lacks ${flag}`);
  for (const [, command] of usage.matchAll(/^ {2}kernel-search ([a-z][a-z-]*)/gm)) assert.ok(readme.includes(`\`${command}`), `README lacks the command ${command}`);
  assert.match(readme, /exit code|Exit 0/i);
});

test('values that start with a minus, a folder given to --problem, a refused connection: one clear line', async () => {
  const width = await env.cli(['run', '--problem', problemFile('vector_add'), '--width', '-1']);
  assert.equal(width.exitCode, 2);
  assert.match(oneLine(width.stderr), /--width must be an integer ≥ 1, got "-1"/);
  const extend = await env.cli(['extend', 'some-id', '-5m']);
  assert.equal(extend.exitCode, 2);
  assert.match(oneLine(extend.stderr), /extend takes a positive duration to add \(e\.g\. 10m\), got "-5m"/);
  const folder = await env.cli(['run', '--problem', path.join(REPO_ROOT, 'problems', 'attention')]);
  assert.equal(folder.exitCode, 2);
  assert.match(oneLine(folder.stderr), /is a folder: --problem takes one file; use --problems .*problems\/attention/);
  const port = await freePort();
  const refused = await env.cli(['run', '--problem', problemFile('vector_add')], { OPENAI_BASE_URL: `http://localhost:${port}/v1` });
  assert.equal(refused.exitCode, 2);
  const line = oneLine(refused.stderr);
  assert.match(line, new RegExp(`cannot reach model endpoint http://localhost:${port}/v1: connection refused`));
  assert.doesNotMatch(line, /TypeError/);
});

test('a folder skips the attention variant specs of its subfolders and says so; naming that folder runs them', async () => {
  const res = await env.cli(['problems', '--problems', path.join(REPO_ROOT, 'problems', 'attention')]);
  assert.equal(res.exitCode, 0, res.stderr);
  assert.match(res.stderr, /skipped 7 attention variant spec\(s\), not problems of this folder: alibi, .*softcap \(to run them: --problems .*variants\)/);
  const lines = res.stdout.trim().split('\n');
  assert.equal(lines[0], 'ID\tLEVEL\tINPUTS\tFILE', 'a header row');
  assert.deepEqual(lines.slice(1).map((l) => l.split('\t')[0]), ['relative_position_attention']);
  const variants = await env.cli(['problems', '--problems', path.join(REPO_ROOT, 'problems', 'attention', 'variants'), '--json']);
  assert.equal(variants.exitCode, 0, variants.stderr);
  assert.equal((JSON.parse(variants.stdout) as unknown[]).length, 7);
});

test('the scripted model\'s missing replies are warned of before a search starts', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ks-noreplies-'));
  try {
    const file = path.join(dir, 'no_replies_here.py');
    copyFileSync(problemFile('vector_add'), file);
    const res = await env.cli(['run', '--problem', file, '--gpu-queue', 'nobody', '--detach', '--json']);
    assert.equal(res.exitCode, 0, res.stderr);
    assert.match(res.stderr, /warning: the scripted model has no replies for 1 of 1 problem\(s\): no_replies_here; their searches fail in round 1/);
    const { searchId } = JSON.parse(res.stdout) as { searchId: string };
    await env.client.workflow.getHandle(searchId).terminate('test done');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Ctrl-C on run says the search goes on and how to watch it; run again attaches to the running search', async () => {
  const args = ['run', '--problem', problemFile('never_solved'), '--width', '1', '--gpu-queue', 'nobody'];
  const first = await env.cli([...args, '--detach', '--json']);
  assert.equal(first.exitCode, 0, first.stderr);
  const { searchId, outcome } = JSON.parse(first.stdout) as { searchId: string; outcome: string };
  assert.equal(outcome, 'started');
  const child = execa('node', [CLI, ...args], { env: env.env, extendEnv: false, reject: false });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  await eventually(async () => /Temporal UI:/.test(err), 30_000, 'run to attach');
  assert.match(err, new RegExp(`attached to running search ${searchId} \\(started \\d{4}-`));
  child.kill('SIGINT');
  const res = await child;
  assert.equal(res.exitCode, 130);
  assert.match(err, new RegExp(`interrupted: search ${searchId} goes on\\. Watch it with \`node \\S+ status ${searchId}\``));
  assert.match(err, /stop it with `node \S+ stop /);
  const handle = env.client.workflow.getHandle(searchId);
  assert.equal((await handle.describe()).status.name, 'RUNNING');
  await handle.terminate('test done');
});

/** The activity tasks of a search's history: their summaries and the size of their inputs. */
async function activitiesOf(searchId: string) {
  const history = await env.client.workflow.getHandle(searchId).fetchHistory();
  return (history.events ?? [])
    .filter((e) => e.activityTaskScheduledEventAttributes)
    .map((e) => ({
      type: e.activityTaskScheduledEventAttributes!.activityType!.name!,
      summary: e.userMetadata?.summary ? defaultPayloadConverter.fromPayload<string>(e.userMetadata.summary) : null,
      input: Buffer.from(e.activityTaskScheduledEventAttributes!.input!.payloads![0]!.data!).toString('utf8'),
    }));
}

test('a repeated run shows the finished result and says so; --fresh starts a new search; activities carry summaries and a problem key', async () => {
  const args = ['run', '--problem', problemFile('vector_add'), '--width', '1', '--budget', '4m'];
  const first = await env.cli(args);
  assert.equal(first.exitCode, 0, first.stderr);
  assert.doesNotMatch(first.stderr, /scripted model has no replies/);
  const id = /started search (\S+)/.exec(first.stderr)?.[1];
  assert.ok(id, first.stderr);

  const requests = env.model.requests.length;
  const again = await env.cli(args);
  assert.equal(again.exitCode, 0, again.stderr);
  assert.match(again.stderr, new RegExp(`search ${id} already finished \\(\\d{4}-[^)]+\\): showing its result; --fresh starts a new search`));
  assert.doesNotMatch(again.stderr, /attached/);
  assert.match(again.stdout, /SOLVED vector_add/);
  assert.equal(env.model.requests.length, requests, 'nothing generated again');

  const fresh = await env.cli([...args, '--fresh', '--detach', '--json']);
  assert.equal(fresh.exitCode, 0, fresh.stderr);
  const started = JSON.parse(fresh.stdout) as { searchId: string; outcome: string };
  assert.equal(started.outcome, 'started');
  assert.notEqual(started.searchId, id);
  assert.ok(started.searchId.startsWith(`${id}-`), started.searchId);
  await env.client.workflow.getHandle(started.searchId).terminate('test done');

  // The UI's timeline: each activity says what it is; inputs carry a key, not the problem source.
  const source = readFileSync(problemFile('vector_add'), 'utf8');
  const acts = await activitiesOf(id);
  assert.ok(acts.length >= 4, JSON.stringify(acts));
  assert.deepEqual(acts.slice(0, 2).map((a) => [a.type, a.summary]), [
    ['generateKernel', 'round 1 · candidate 0 · generate (first)'],
    ['verifyKernel', 'round 1 · candidate 0 · verify (first)'],
  ]);
  for (const a of acts) {
    assert.ok(!a.input.includes(JSON.stringify(source).slice(1, -1)), `${a.type} input carries the problem source`);
    assert.match(a.input, /"problemKey":\{"id":"vector_add"/);
  }
  // The details list the verdicts.
  const meta = await env.client.workflow.getHandle(id).query<{ currentDetails: string }>('__temporal_workflow_metadata');
  assert.match(meta.currentDetails, /- round \d+ · candidate 0 \(fix\): \*\*correct\*\*/);
  assert.match(meta.currentDetails, /- round 1 · candidate 0 \(first\): \*\*compile_error\*\* — \S*(Error|Exception)/);
  // and what the search spent: GPU-seconds from the verifications (a compile error on the CPU verifier takes some), tokens from the model
  const spent = /spent: (\d+\.\d) GPU-s, ([\d,]+) tokens/.exec(meta.currentDetails);
  assert.ok(spent && Number(spent[1]) > 0 && Number(spent[2]!.replace(/,/g, '')) > 0, meta.currentDetails);

  // The new path replays.
  const history = await env.client.workflow.getHandle(id).fetchHistory();
  await Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH, replayName: id }, history);
});

test('resume: kept searches are counted from the start and are not failed starts; the final line prints without a TTY', async () => {
  const first = await env.cli(['campaign', '--name', 'conv', '--problem', problemFile('vector_add'), '--width', '1', '--budget', '4m', '--concurrency', '1']);
  assert.equal(first.exitCode, 0, first.stderr);
  assert.match(first.stderr, /\[#+\] 1\/1 done · 1 solved · 0 running · 0 failed · finished/);
  const resumed = await env.cli(['resume', 'conv']);
  assert.equal(resumed.exitCode, 0, resumed.stderr);
  const bars = resumed.stderr.split('\n').filter((l) => l.startsWith('['));
  assert.ok(bars.length > 0, resumed.stderr);
  assert.match(bars.at(-1)!, /1\/1 done \(1 kept\) · 1 solved · 0 running · 0 failed · finished/);
  assert.match(resumed.stdout, /kept {5}vector_add/);
  const runs: string[] = [];
  for await (const wf of env.client.workflow.list({ query: `WorkflowId = 'campaign-conv'` })) runs.push(wf.runId);
  assert.equal(runs.length, 2);
  const latest = await env.client.workflow.getHandle('campaign-conv').fetchHistory();
  const types = (latest.events ?? []).map((e) => Object.keys(e).find((k) => k.endsWith('EventAttributes')));
  assert.ok(!types.includes('startChildWorkflowExecutionFailedEventAttributes'), 'a kept child shows as a failed start');
  assert.ok(!types.includes('startChildWorkflowExecutionInitiatedEventAttributes'), 'a kept child is not started at all');

  const entries: CampaignEntry[] = [
    { problemId: 'a', searchId: 'x-a', status: 'kept', keptSolved: true, bestSpeedup: null },
    { problemId: 'b', searchId: 'x-b', status: 'pending', bestSpeedup: null },
  ];
  const p = progressOf({ name: 'x', problems: [], options: { budgetMs: 60_000 } as never, concurrency: 1 }, entries);
  assert.match(progressLine(p), /1\/2 done \(1 kept\) · 1 solved · 0 running · 0 failed · at most 1m00s left/);
});
