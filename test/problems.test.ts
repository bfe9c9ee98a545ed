// Problem selections: KernelBench-style suites from a checkout the user points at (here a small tree
// the test builds in the same layout), attention variant specs, and the seed example through the loop.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parseSuite } from '../cli/suites.js';
import { REPO_ROOT } from '../infra/paths.js';
import { FIXTURE_REPLIES, TestEnv, problemFile } from './harness.js';

let env: TestEnv;
let dir: string;
let kb: string;

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ks-problems-'));
  kb = path.join(dir, 'KernelBench');
  const level1 = path.join(kb, 'KernelBench', 'level1');
  mkdirSync(level1, { recursive: true });
  copyFileSync(problemFile('vector_add'), path.join(level1, '1_VectorAdd.py'));
  copyFileSync(problemFile('never_solved'), path.join(level1, '19_ReLU.py'));
  copyFileSync(problemFile('slow_verify'), path.join(level1, '23_ScaleShift.py'));
  const replies = path.join(dir, 'replies', 'level1-19_ReLU');
  mkdirSync(replies, { recursive: true });
  copyFileSync(path.join(FIXTURE_REPLIES, 'never_solved', '01.md'), path.join(replies, '01.md')); // always wrong: stays unsolved
  env = await TestEnv.start({ scripted: { repliesDirs: [path.join(dir, 'replies'), path.join(REPO_ROOT, 'scripted-replies')] } });
  await env.startWorkers();
});
after(async () => {
  await env?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('suite selections parse', () => {
  assert.deepEqual(parseSuite('kernelbench:level1'), { level: 1, numbers: null });
  assert.deepEqual([...parseSuite('level2:1-3,35')!.numbers!], [1, 2, 3, 35]);
  assert.deepEqual([...parseSuite('kernelbench:level1:19')!.numbers!], [19]);
  for (const bad of ['level', 'kernelbench:lvl1', 'level1:5-2', 'level1:x']) assert.throws(() => parseSuite(bad), /suite|range|parse/, bad);
});

test('problems lists a suite, in order, with level-prefixed ids', async () => {
  const res = await env.cli(['problems', '--kernelbench', kb, '--suite', 'kernelbench:level1', '--json']);
  assert.equal(res.exitCode, 0, res.stderr);
  const rows = JSON.parse(res.stdout);
  assert.deepEqual(rows.map((r: { id: string }) => r.id), ['level1-1_VectorAdd', 'level1-19_ReLU', 'level1-23_ScaleShift']);
  assert.equal(rows[0].inputs, '4096 float32, 4096 float32', 'input shapes and dtypes, built on the meta device');
  const some = await env.cli(['problems', '--kernelbench', kb, '--suite', 'level1:1,23', '--json']);
  assert.equal(JSON.parse(some.stdout).length, 2);
  const missing = await env.cli(['problems', '--kernelbench', kb, '--suite', 'level1:7']);
  assert.equal(missing.exitCode, 2);
  assert.match(missing.stderr, /level1 has no problem 7/);
  const nowhere = await env.cli(['problems', '--kernelbench', path.join(dir, 'nope'), '--suite', 'level1']);
  assert.match(nowhere.stderr, /no KernelBench levels under/);
});

test('run takes a KernelBench problem by suite selection', async () => {
  const res = await env.cli(['run', '--kernelbench', kb, '--suite', 'kernelbench:level1:19', '--width', '1', '--budget', '12s', '--json']);
  assert.equal(res.exitCode, 3, res.stderr); // finished, unsolved: the scripted reply computes the wrong op
  const result = JSON.parse(res.stdout);
  assert.equal(result.problemId, 'level1-19_ReLU');
  assert.equal(result.candidates[0].status, 'incorrect');
  const many = await env.cli(['run', '--kernelbench', kb, '--suite', 'kernelbench:level1']);
  assert.equal(many.exitCode, 2);
  assert.match(many.stderr, /run takes one problem; this selection has 3/);
});

test('a problem may set its own tolerances', async () => {
  const loose = path.join(dir, 'loose.py');
  writeFileSync(loose, readFileSync(problemFile('vector_add'), 'utf8').replace('N = 4096', 'N = 4096\nATOL = 1e-2\nRTOL = 2e-2'));
  const res = await env.cli(['problems', '--problem', loose, '--json']);
  assert.equal(res.exitCode, 0, res.stderr);
  assert.deepEqual([JSON.parse(res.stdout)[0].atol, JSON.parse(res.stdout)[0].rtol], [0.01, 0.02]);
  writeFileSync(loose, readFileSync(problemFile('vector_add'), 'utf8').replace('N = 4096', 'N = 4096\nATOL = -1'));
  const bad = await env.cli(['problems', '--problem', loose]);
  assert.equal(bad.exitCode, 2);
  assert.match(bad.stderr, /ATOL must be a positive number/);
});

test('a malformed problem is refused before any model call', async () => {
  const before = env.model.requests.length;
  const arity = await env.cli(['run', '--problem', problemFile('bad_forward_arity')]);
  assert.equal(arity.exitCode, 2);
  assert.match(arity.stderr, /forward takes 2 input\(s\) but get_inputs\(\) returns 3/);
  const spec = path.join(dir, 'bad_spec.py');
  writeFileSync(spec, 'B, H, S, D = 1, 2, 16, 8\nDTYPE = "float32"\n\ndef score_mod(score, b, h):\n    return score\n');
  const badSpec = await env.cli(['run', '--problem', spec]);
  assert.equal(badSpec.exitCode, 2);
  assert.match(badSpec.stderr, /score_mod/);
  assert.equal(env.model.requests.length, before);
});

test('the seed example: relative positional attention from its spec, solved through the loop', async () => {
  const res = await env.cli(['run', '--problem', path.join(REPO_ROOT, 'problems', 'attention', 'variants', 'relative_position.py'), '--width', '1', '--budget', '4m', '--json']);
  assert.equal(res.exitCode, 0, res.stderr);
  const result = JSON.parse(res.stdout);
  assert.deepEqual(result.candidates.map((c: { status: string }) => c.status), ['compile_error', 'incorrect', 'correct']);
  const prompt = env.model.requests.find((r) => r.problemId === 'relative_position')!.prompt;
  assert.match(prompt, /def score_mod\(score, b, h, q_idx, kv_idx\)/, 'the rendered reference is in the prompt');
  assert.match(prompt, /rel_pos \* 1\.44269504/, 'the exp2 note is in the attention prompt');
});
