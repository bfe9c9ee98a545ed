// A newcomer's first hour (issue 16): what the CLI says about ended, failed and misconfigured searches,
// against a real server, the scripted model and the CPU verifier.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { SEARCH_ATTRIBUTES } from '../domain/defaults.js';
import { statusQuery } from '../workflows/definitions.js';
import { TestEnv, eventually, problemFile } from './harness.js';

let env: TestEnv;
before(async () => {
  env = await TestEnv.start();
  await env.startWorkers();
});
after(async () => env?.stop());

/** The CLI's environment names no endpoint: the workers' (the scripted model's) is the one used. */
const NO_ENDPOINT_HERE = { OPENAI_BASE_URL: '', OPENAI_API_KEY: '', NVIDIA_API_KEY: '' };
const listIds = async (...args: string[]) => {
  const res = await env.cli(['list', '--json', ...args]);
  assert.equal(res.exitCode, 0, res.stderr);
  return (JSON.parse(res.stdout) as { searchId: string; status: string }[]).map((r) => r.searchId);
};

test('run works with no endpoint in its own shell, shows the error line of each verdict and the stop reason in words', async () => {
  const res = await env.cli(['run', '--problem', problemFile('vector_add'), '--width', '1', '--budget', '4m', '--campaign', 'fh'], NO_ENDPOINT_HERE);
  assert.equal(res.exitCode, 0, res.stderr);
  assert.match(res.stderr, /no model endpoint configured in this shell/);
  assert.doesNotMatch(res.stderr, /no API key/);
  // Round 1's reply fails to compile: the line shown is the exception, not the traceback's first line.
  const verdict = res.stderr.split('\n').find((l) => l.startsWith('round 1 candidate 0:'));
  assert.ok(verdict, res.stderr);
  assert.match(verdict, /COMPILE_ERROR — \S*(Error|Exception)\b/, verdict);
  assert.doesNotMatch(verdict, /^.*— Traceback|File "/, verdict);
  assert.match(res.stdout, /SOLVED vector_add — a correct kernel was found/);
  assert.doesNotMatch(res.stdout, /solved_untimed/);

  const id = /search (\S+)/.exec(res.stderr)![1]!;
  const status = await env.cli(['status', id]);
  assert.equal(status.exitCode, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`${id}: solved \\(COMPLETED\\)`));
  assert.match(status.stdout, /ended: a correct kernel was found/);
  assert.doesNotMatch(status.stdout, /\d+s left/, 'a finished search has no time left');

  const stop = await env.cli(['stop', id]);
  assert.equal(stop.exitCode, 0, stop.stderr);
  assert.match(stop.stdout, /has already ended \(solved\)/);
});

test('a CUDA problem on the CPU verifier fails at once with the verifier\'s reason; status and list say so', async () => {
  const started = Date.now();
  const res = await env.cli(['run', '--problem', problemFile('vector_add'), '--backend', 'cuda', '--width', '1', '--budget', '4m', '--campaign', 'fh', '--json']);
  assert.equal(res.exitCode, 1, res.stderr);
  assert.match(res.stderr, /backend 'cuda' \(load_inline\) needs device 'cuda'/);
  assert.ok(Date.now() - started < 60_000, `took ${Date.now() - started} ms: retried instead of failing`);

  const id = (await listIds('--problem', 'vector_add', '--status', 'failed'))[0];
  assert.ok(id, 'list --status failed lists it');
  assert.ok(!(await listIds('--status', 'running')).includes(id), 'not listed as running');
  const d = await env.client.workflow.getHandle(id).describe();
  assert.equal(d.typedSearchAttributes.get(SEARCH_ATTRIBUTES.status), 'failed', 'KsStatus set by the workflow itself');

  const status = await env.cli(['status', id]);
  assert.equal(status.exitCode, 0, status.stderr);
  assert.match(status.stdout, /: failed \(FAILED\)/);
  assert.match(status.stdout, /failed: .*needs device 'cuda'/);
  assert.doesNotMatch(status.stdout, /\d+s left/);
});

test('list --status checks its value', async () => {
  const res = await env.cli(['list', '--status', 'bogus']);
  assert.equal(res.exitCode, 2);
  assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
  assert.match(res.stderr, /--status must be one of running, solved, unsolved, stopped, failed, cancelled, terminated, timed_out/);
});

test('a queue nobody polls is warned of; terminated and cancelled searches never list as running', async () => {
  const res = await env.cli(['run', '--problem', problemFile('never_solved'), '--gpu-queue', 'nobody', '--detach', '--json']);
  assert.equal(res.exitCode, 0, res.stderr);
  assert.match(res.stderr, /warning: no GPU worker polls task queue "nobody"/);
  const { searchId } = JSON.parse(res.stdout) as { searchId: string };
  assert.ok((await listIds('--status', 'running')).includes(searchId));
  await env.client.workflow.getHandle(searchId).terminate('test: an operator ended it');
  assert.ok(!(await listIds('--status', 'running')).includes(searchId), 'a terminated search keeps KsStatus=running but must not list as running');
  assert.ok((await listIds('--status', 'terminated')).includes(searchId));
  const status = await env.cli(['status', searchId]);
  assert.match(status.stdout, /: terminated \(TERMINATED\)/);
  assert.match(status.stdout, /failed: test: an operator ended it/);
  assert.doesNotMatch(status.stdout, /\d+s left/);

  const cancel = await env.cli(['run', '--problem', problemFile('never_solved'), '--width', '1', '--campaign', 'cancel', '--detach', '--json']);
  assert.equal(cancel.exitCode, 0, cancel.stderr);
  const handle = env.client.workflow.getHandle((JSON.parse(cancel.stdout) as { searchId: string }).searchId);
  await eventually(async () => (await handle.query(statusQuery)).round >= 1, 30_000, 'a first round');
  await handle.cancel();
  await assert.rejects(handle.result());
  const d = await handle.describe();
  assert.equal(d.status.name, 'CANCELLED');
  assert.equal(d.typedSearchAttributes.get(SEARCH_ATTRIBUTES.status), 'cancelled', 'the workflow records its own cancellation');
  assert.ok((await listIds('--status', 'cancelled')).includes(handle.workflowId));
});

test('the report uses the configured budget and gives failed rows their reason', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ks-fh-report-'));
  try {
    const res = await env.cli(['report', 'fh', '--out', dir]);
    assert.equal(res.exitCode, 0, res.stderr);
    const json = JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8')) as { budgetMs: number; outcomes: { status: string; reason?: string }[] };
    assert.equal(json.budgetMs, 4 * 60_000, 'the first search\'s configured budget, not its run time');
    const failed = json.outcomes.find((o) => o.status === 'failed');
    assert.match(failed?.reason ?? '', /needs device 'cuda'/);
    const html = readFileSync(path.join(dir, 'report.html'), 'utf8');
    assert.match(html, /budget 4m00s per problem/);
    assert.match(html, /class="reason">[^<]*needs device/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
