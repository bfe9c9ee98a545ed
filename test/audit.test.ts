// `verify` and `audit` end to end against the real stack (Temporal dev server, worker processes, the CPU
// verifier on Triton's interpreter): a folder of someone else's kernels (a correct one, two cheats, a
// syntax error, one that matches no problem), a problem with no kernel, a JSONL file with a bad line,
// re-submission without duplicates, a terminated audit resumed, and the report.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import type { AuditEntry } from '../domain/audit.js';
import { REPO_ROOT } from '../infra/paths.js';
import { auditProgressQuery } from '../workflows/auditDefinitions.js';
import { CLI, TestEnv, eventually, freePort, problemFile } from './harness.js';

const VFIX = path.join(REPO_ROOT, 'verifier', 'tests', 'fixtures');
const vproblem = (name: string) => path.join(VFIX, 'problems', `${name}.py`);
const vcandidate = (name: string) => path.join(VFIX, 'candidates', `${name}.py`);

let env: TestEnv;
let dir: string;
let problems: string;
let kernels: string;
/** vector_add's kernel with a syntax error on line 13: a compile_error verdict, not a crash. */
const SYNTAX_ERROR_KERNEL = [
  'import torch',
  'import torch.nn as nn',
  'import triton',
  'import triton.language as tl',
  '',
  '',
  'class ModelNew(nn.Module):',
  '    def __init__(self):',
  '        super().__init__()',
  '',
  '    def forward(self, a, b):',
  '        out = torch.empty_like(a)',
  '        return out +',
  '',
].join('\n');

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ks-audit-'));
  problems = path.join(dir, 'problems');
  kernels = path.join(dir, 'kernels');
  mkdirSync(problems);
  mkdirSync(path.join(kernels, 'nested'), { recursive: true });
  for (const p of ['elementwise_add', 'tiny_scale', 'row_sum']) copyFileSync(vproblem(p), path.join(problems, `${p}.py`));
  copyFileSync(problemFile('vector_add'), path.join(problems, 'vector_add.py'));
  copyFileSync(vcandidate('add_correct'), path.join(kernels, 'elementwise_add.py'));
  copyFileSync(vcandidate('cheat_fallback_no_kernel'), path.join(kernels, 'nested', 'elementwise_add.py'));
  copyFileSync(vcandidate('cheat_degenerate'), path.join(kernels, 'tiny_scale.py'));
  writeFileSync(path.join(kernels, 'vector_add.py'), SYNTAX_ERROR_KERNEL);
  copyFileSync(vcandidate('add_correct'), path.join(kernels, 'not_a_problem.py'));
  writeFileSync(path.join(kernels, 'README.md'), 'our leaderboard kernels\n');
  env = await TestEnv.start();
  await Promise.all([env.startWorker('orchestrator'), env.startWorker('gpu', ['--slots', '2'])]);
});
after(async () => {
  await env?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** When each verification of an audit kernel started, by its workflow id (the GPU worker's slot.json). */
function verificationStarts(prefix: string): Map<string, number> {
  const root = path.join(env.dataDir, 'artifacts');
  const out = new Map<string, number>();
  for (const f of readdirSync(root, { recursive: true }) as string[]) {
    if (!f.endsWith('slot.json') || !f.startsWith(prefix)) continue;
    out.set(f.split(path.sep)[0]!, (JSON.parse(readFileSync(path.join(root, f), 'utf8')) as { startedAtMs: number }).startedAtMs);
  }
  return out;
}

test('an audit of a kernel folder judges every matched kernel, lists what matched nothing, starts no duplicates, and reports', async () => {
  const first = await env.cli(['audit', '--name', 'a1', '--problems', problems, '--kernels', kernels, '--json']);
  assert.equal(first.exitCode, 0, first.stderr);
  assert.match(first.stderr, /not verified: not_a_problem\.py: matches no problem/);
  assert.match(first.stderr, /1 problem\(s\) with no kernel: row_sum/);
  assert.match(first.stderr, /ignored 1 file\(s\) that are not \.py modules: README\.md/);
  assert.match(first.stderr, /4 kernel\(s\) on 3 problem\(s\), 2 at a time/, 'concurrency defaults to the connected GPU slots');
  const out = JSON.parse(first.stdout) as { entries: AuditEntry[]; unmatched: { file: string }[]; problemsWithoutKernel: string[] };
  const byFile = Object.fromEntries(out.entries.map((e) => [e.file, e]));
  assert.deepEqual(Object.keys(byFile).sort(), ['elementwise_add.py', 'nested/elementwise_add.py', 'tiny_scale.py', 'vector_add.py']);
  assert.equal(byFile['elementwise_add.py']!.verdictStatus, 'correct');
  assert.equal(byFile['nested/elementwise_add.py']!.verdictStatus, 'rejected');
  assert.equal(byFile['tiny_scale.py']!.verdictStatus, 'rejected');
  assert.equal(byFile['vector_add.py']!.verdictStatus, 'compile_error', 'a malformed kernel is a verdict, not a crash');
  assert.ok(out.entries.every((e) => e.status === 'judged' && !e.kept));
  assert.deepEqual(out.unmatched.map((u) => u.file), ['not_a_problem.py']);
  assert.deepEqual(out.problemsWithoutKernel, ['row_sum']);
  const starts = verificationStarts('ka-a1-');
  assert.equal(starts.size, 4);

  // The same audit again: every kernel kept, no verification runs.
  const again = await env.cli(['audit', '--name', 'a1', '--problems', problems, '--kernels', kernels, '--json']);
  assert.equal(again.exitCode, 0, again.stderr);
  const entries2 = (JSON.parse(again.stdout) as { entries: AuditEntry[] }).entries;
  assert.ok(entries2.every((e) => e.kept && e.status === 'judged'), JSON.stringify(entries2));
  assert.deepEqual(verificationStarts('ka-a1-'), starts, 'no kernel was verified twice');

  // An edited kernel is judged again; the others keep their verdicts.
  writeFileSync(path.join(kernels, 'vector_add.py'), readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'scripted-replies', 'vector_add', '03.md'), 'utf8').split('```python\n')[1]!.split('```')[0]!);
  const edited = await env.cli(['audit', '--name', 'a1', '--problems', problems, '--kernels', kernels, '--json']);
  assert.equal(edited.exitCode, 0, edited.stderr);
  const entries3 = (JSON.parse(edited.stdout) as { entries: AuditEntry[] }).entries;
  const va = entries3.find((e) => e.file === 'vector_add.py')!;
  assert.equal(va.kept, false);
  assert.equal(va.verdictStatus, 'correct');
  assert.equal(entries3.filter((e) => e.kept).length, 3);
  const audits = await env.cli(['list', '--kind', 'audit']);
  assert.equal(audits.exitCode, 0, audits.stderr);
  const [head, row] = audits.stdout.trim().split('\n').map((l) => l.split(/\s{2,}/));
  assert.deepEqual(head, ['NAME', 'EXECUTION', 'DONE', 'HELD UP', 'FAILED', 'STARTED', 'CLOSED']);
  assert.deepEqual(row?.slice(0, 5), ['a1', 'COMPLETED', '4/4', '2', '0'], audits.stdout);

  const reportDir = path.join(dir, 'report-a1');
  const report = await env.cli(['report', 'a1', '--out', reportDir]);
  assert.equal(report.exitCode, 0, report.stderr);
  assert.match(report.stderr, /report of audit a1 \(4 kernels\): 2 of 4 claimed kernels held up; 2 rejected for cheating \(torch-fallback 1, degenerate 1\)/);
  const json = JSON.parse(readFileSync(path.join(reportDir, 'report.json'), 'utf8'));
  assert.equal(json.summary.claimed, 4);
  assert.equal(json.summary.heldUp, 2);
  assert.match(json.summaryLine, /^2 of 4 claimed kernels held up/);
  assert.match(json.summaryLine, /1 file\(s\) matched no problem and were not verified; 1 problem\(s\) had no kernel/);
  assert.deepEqual(json.unmatched.map((u: { file: string }) => u.file), ['not_a_problem.py']);
  assert.deepEqual(json.problemsWithoutKernel, ['row_sum']);
  const fallback = json.rows.find((r: { file: string }) => r.file === 'nested/elementwise_add.py');
  assert.equal(fallback.heldUp, false);
  assert.match(fallback.verdictInWords, /cheats \(torch-fallback\)/);
  assert.match(fallback.verdict.cheats[0].evidence, /no Triton or CUDA-extension kernel/);
  for (const r of json.rows as { verdictFile: string; verdict: { status: string } }[]) {
    assert.ok(r.verdictFile, 'each verdict JSON is copied next to the report');
    assert.equal(JSON.parse(readFileSync(path.join(reportDir, r.verdictFile), 'utf8')).status, r.verdict.status);
  }
  const csv = readFileSync(path.join(reportDir, 'report.csv'), 'utf8').trim().split('\n');
  assert.equal(csv.length, 5);
  const html = readFileSync(path.join(reportDir, 'report.html'), 'utf8');
  assert.match(html, /2 of 4 claimed kernels held up/);
  assert.match(html, /not_a_problem\.py/);
  assert.match(html, /<b>degenerate<\/b>/);
  assert.doesNotMatch(html, /<script|https?:\/\/(?!localhost|127\.0\.0\.1)/, 'nothing loaded from the network');
});

test('a JSONL file with a bad line is refused with one line and starts nothing; no kernel matching is refused too', async () => {
  const file = path.join(dir, 'bad.jsonl');
  writeFileSync(file, `${JSON.stringify({ problem: 'elementwise_add', source: readFileSync(vcandidate('add_correct'), 'utf8') })}\n{"problem": "tiny_scale", "source": 42}\n`);
  const bad = await env.cli(['audit', '--name', 'bad', '--problems', problems, '--kernels', file]);
  assert.equal(bad.exitCode, 2, bad.stderr);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.match(bad.stderr, /^kernel-search: bad\.jsonl:2: each line must be \{"problem"/);
  await assert.rejects(env.client.workflow.getHandle('audit-bad').describe(), /not found/i);

  const none = path.join(dir, 'none');
  mkdirSync(none);
  writeFileSync(path.join(none, 'something_else.py'), 'x = 1\n');
  const empty = await env.cli(['audit', '--name', 'none', '--problems', problems, '--kernels', none]);
  assert.equal(empty.exitCode, 2);
  assert.match(empty.stderr, /no kernel in .* matches a problem of the selection/);
  const missing = await env.cli(['audit', '--name', 'none', '--problems', problems]);
  assert.equal(missing.exitCode, 2);
  assert.match(missing.stderr, /--kernels DIR\|FILE\.jsonl is required/);
});

test('a terminated audit resumes: kernels judged before keep their verdicts, the rest are judged', async () => {
  const file = path.join(dir, 'claims.jsonl');
  const line = (problem: string, candidate: string) => JSON.stringify({ problem, source: readFileSync(vcandidate(candidate), 'utf8') });
  writeFileSync(file, [line('elementwise_add', 'add_correct'), line('elementwise_add', 'add_incorrect'), line('tiny_scale', 'scale_correct'), line('elementwise_add', 'add_runtime_error')].join('\n'));
  const start = await env.cli(['audit', '--name', 'a2', '--problems', problems, '--kernels', file, '--concurrency', '1', '--detach']);
  assert.equal(start.exitCode, 0, start.stderr);
  const handle = env.client.workflow.getHandle('audit-a2');
  await eventually(async () => (await handle.query(auditProgressQuery)).done >= 1, 120_000, 'a first judged kernel');
  await handle.terminate('test: the operator stopped the audit');
  const resumedAtMs = Date.now();
  const resumed = await env.cli(['resume', 'a2', '--json']);
  assert.equal(resumed.exitCode, 0, resumed.stderr);
  const entries = (JSON.parse(resumed.stdout) as { entries: AuditEntry[] }).entries;
  assert.equal(entries.length, 4);
  assert.ok(entries.every((e) => e.status === 'judged'), JSON.stringify(entries));
  assert.deepEqual(entries.map((e) => e.file), ['claims.jsonl:1', 'claims.jsonl:2', 'claims.jsonl:3', 'claims.jsonl:4']);
  assert.deepEqual(entries.map((e) => e.verdictStatus), ['correct', 'incorrect', 'correct', 'runtime_error']);
  const kept = entries.filter((e) => e.kept);
  assert.ok(kept.length >= 1 && kept.length < 4, `kept ${kept.length}`);
  const starts = verificationStarts('ka-a2-');
  for (const e of entries) assert.equal((starts.get(e.workflowId) ?? 0) < resumedAtMs, e.kept, `${e.file}: verified again only when not kept`);
});

test('verify judges one kernel through the workers and prints the verdict as a person reads it', async () => {
  const ok = await env.cli(['verify', '--problem', vproblem('elementwise_add'), '--kernel', vcandidate('add_correct')]);
  assert.equal(ok.exitCode, 0, ok.stderr);
  assert.match(ok.stdout, /add_correct\.py on elementwise_add: HOLDS UP: correct, no cheat found \(correct\)/);
  assert.match(ok.stdout, /correctness: 3 of 3 trials passed; max abs error 0/);
  assert.match(ok.stdout, /timing: not meaningful on this verifier/);
  assert.match(ok.stdout, /full verdict: .*verdict\.json/);

  const syntax = path.join(dir, 'broken_kernel.py');
  writeFileSync(syntax, SYNTAX_ERROR_KERNEL);
  const broken = await env.cli(['verify', '--problem', problemFile('vector_add'), '--kernel', syntax]);
  assert.equal(broken.exitCode, 3, broken.stderr);
  assert.match(broken.stdout, /DOES NOT HOLD UP: does not compile or import \(compile_error\)/);
  assert.match(broken.stdout, /why: .*SyntaxError/);
  assert.match(broken.stdout, /where: .*broken_kernel\.py:13: return out \+/);

  const cheat = await env.cli(['verify', '--problem', vproblem('elementwise_add'), '--kernel', vcandidate('cheat_fallback_no_kernel'), '--json']);
  assert.equal(cheat.exitCode, 3, cheat.stderr);
  const v = JSON.parse(cheat.stdout);
  assert.equal(v.heldUp, false);
  assert.equal(v.verdict.status, 'rejected');
  assert.equal(v.verdict.cheats[0].class, 'torch-fallback');
  assert.ok(existsSync(v.verdictPath));

  const noKernel = await env.cli(['verify', '--problem', vproblem('elementwise_add'), '--kernel', path.join(dir, 'missing.py')]);
  assert.equal(noKernel.exitCode, 2);
  assert.equal(noKernel.stderr.trim(), `kernel-search: kernel file not found: ${path.join(dir, 'missing.py')}`);
  const badProblem = await env.cli(['verify', '--problem', problemFile('bad_syntax'), '--kernel', vcandidate('add_correct')]);
  assert.equal(badProblem.exitCode, 2);
  assert.equal(badProblem.stderr.trim().split('\n').length, 1, badProblem.stderr);
});

test('verify with nothing running starts the embedded stack for the one check and stops it', async () => {
  const data = mkdtempSync(path.join(os.tmpdir(), 'ks-verify-'));
  try {
    const own = { ...env.env, KS_DATA_DIR: data, KS_TEMPORAL_PORT: String(await freePort()), KS_TEMPORAL_UI_PORT: String(await freePort()) };
    const r = await execa('node', [CLI, 'verify', '--problem', vproblem('tiny_scale'), '--kernel', vcandidate('scale_correct'), '--verifier', 'cpu'], { env: own, extendEnv: false, reject: false, timeout: 240_000 });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stderr, /Temporal dev server on/);
    assert.match(r.stdout, /HOLDS UP/);
    assert.ok(existsSync(path.join(data, 'temporal.db')), 'the check is recorded in the embedded server of that data folder');
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});
