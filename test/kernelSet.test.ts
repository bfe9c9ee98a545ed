// Matching an audit's kernels to problems: folder layouts (problem id, KernelBench level<N>/<number>_*),
// JSONL files, and what matches nothing.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { MAX_KERNEL_CHARS, matchProblem, readKernelSet } from '../cli/kernelSet.js';
import type { ProblemRef } from '../cli/suites.js';
import { auditKernelWorkflowId } from '../domain/audit.js';

const ref = (id: string, level: number | null = null, number: number | null = null): ProblemRef => ({ file: `/problems/${id}.py`, id, level, number });
const KB = [ref('level1-19_ReLU', 1, 19), ref('level1-23_Softmax', 1, 23), ref('level2-19_ConvGelu', 2, 19)];
const PLAIN = [ref('vector_add'), ref('row_sum'), ref('19_ReLU')];

let dir: string;
before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ks-kernelset-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function folder(name: string, files: Record<string, string>): string {
  const root = path.join(dir, name);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  }
  return root;
}

test('a name matches a problem id, a KernelBench level and number, or a last path part', () => {
  assert.equal(matchProblem('level1-19_ReLU', KB).problem?.id, 'level1-19_ReLU');
  assert.equal(matchProblem('level1/19_ReLU', KB).problem?.id, 'level1-19_ReLU');
  assert.equal(matchProblem('level1/19_my_fast_relu', KB).problem?.id, 'level1-19_ReLU', 'whatever follows the number');
  assert.equal(matchProblem('level2/19', KB).problem?.id, 'level2-19_ConvGelu', 'the level tells 19 of level 2 from 19 of level 1');
  assert.equal(matchProblem('submissions/vector_add', PLAIN).problem?.id, 'vector_add');
  assert.equal(matchProblem('level1/19_ReLU', PLAIN).problem?.id, '19_ReLU', 'a folder of KernelBench files without levels: by basename');
  const miss = matchProblem('level3/5_Attention', KB);
  assert.equal(miss.problem, null);
  assert.match((miss as { reason: string }).reason, /level 3 problem 5 is not in the selection/);
  assert.equal(matchProblem('vector_addd', PLAIN).problem, null);
  // the files KernelBench's own generation scripts write, one per sample
  assert.equal(matchProblem('level_1_problem_19_sample_0_kernel', KB).problem?.id, 'level1-19_ReLU');
  assert.equal(matchProblem('runs/deepseek/level_2_problem_19_sample_3_kernel', KB).problem?.id, 'level2-19_ConvGelu');
  assert.match((matchProblem('level_1_problem_7_sample_0_kernel', KB) as { reason: string }).reason, /level 1 problem 7 is not in the selection/);
});

test('a KernelBench run folder: one file per sample, each judged, matched by level and problem number', () => {
  const root = folder('kb-run', { 'level_1_problem_19_sample_0_kernel.py': 'relu0', 'level_1_problem_19_sample_1_kernel.py': 'relu1', 'level_2_problem_19_sample_0_kernel.py': 'conv' });
  const set = readKernelSet(root, KB);
  assert.deepEqual(set.kernels.map((k) => `${k.kernelId}→${k.problemId}`), ['level_1_problem_19_sample_0_kernel→level1-19_ReLU', 'level_1_problem_19_sample_1_kernel→level1-19_ReLU', 'level_2_problem_19_sample_0_kernel→level2-19_ConvGelu']);
  assert.deepEqual(set.problemsWithoutKernel, ['level1-23_Softmax']);
});

test('a JSONL line may name its problem by KernelBench level and problem_id; one with neither is refused', () => {
  const file = path.join(dir, 'kb.jsonl');
  writeFileSync(file, [JSON.stringify({ level: 1, problem_id: 23, source: 'S1', sample_id: 1 }), JSON.stringify({ level: 1, problem_id: 23, source: 'S0', sample_id: 0 }), JSON.stringify({ level: 2, problem_id: 19, source: 'C' })].join('\n'));
  const set = readKernelSet(file, KB);
  assert.deepEqual(set.kernels.map((k) => `${k.kernelId}: ${k.file}→${k.problemId}`), [
    'level1-23_Softmax.sample1: kb.jsonl:1→level1-23_Softmax',
    'level1-23_Softmax.sample0: kb.jsonl:2→level1-23_Softmax', // by sample, not by line order
    'level2-19_ConvGelu: kb.jsonl:3→level2-19_ConvGelu',
  ]);
  // a line with "problem" keeps its other fields unread, whatever their type
  writeFileSync(file, JSON.stringify({ problem: 'level1-19_ReLU', problem_id: '19', level: 'one', source: 'R' }));
  assert.deepEqual(readKernelSet(file, KB).kernels.map((k) => k.problemId), ['level1-19_ReLU']);
  writeFileSync(file, JSON.stringify({ level: 1, source: 'S' }));
  assert.throws(() => readKernelSet(file, KB), /kb\.jsonl:1: .*problem_id/);
});

test('a folder of kernels: matched, unmatched, problems without a kernel, repeats and non-modules', () => {
  const root = folder('plain', {
    'vector_add.py': 'A',
    'nested/row_sum.py': 'B',
    'copy_of_vector_add/vector_add.py': 'A', // the same source for the same problem: judged once
    'other/vector_add.py': 'C', // a second, different kernel for vector_add: judged too
    'typo_vectr_add.py': 'D',
    'README.md': 'notes',
    '__init__.py': '',
    '__pycache__/x.py': 'compiled',
  });
  const set = readKernelSet(root, PLAIN);
  // (in path order: the first of two identical kernels is the one judged)
  assert.deepEqual(set.kernels.map((k) => [k.kernelId, k.file, k.problemId]), [
    ['copy_of_vector_add/vector_add', 'copy_of_vector_add/vector_add.py', 'vector_add'],
    ['nested/row_sum', 'nested/row_sum.py', 'row_sum'],
    ['other/vector_add', 'other/vector_add.py', 'vector_add'],
  ]);
  assert.deepEqual(set.unmatched.map((u) => u.file), ['typo_vectr_add.py', 'vector_add.py']);
  assert.match(set.unmatched[0]!.reason, /matches no problem/);
  assert.match(set.unmatched[1]!.reason, /the same kernel as copy_of_vector_add\/vector_add\.py/);
  assert.deepEqual(set.problemsWithoutKernel, ['19_ReLU']);
  assert.deepEqual(set.ignored, ['README.md']);
});

test('a KernelBench-style folder: level<N>/<number>_*.py', () => {
  const root = folder('kb', { 'level1/19_ReLU.py': 'relu', 'level1/23_softmax_online.py': 'softmax', 'level2/19_ConvGelu.py': 'conv', 'level1/99_Missing.py': 'x' });
  const set = readKernelSet(root, KB);
  assert.deepEqual(set.kernels.map((k) => `${k.file}→${k.problemId}`), ['level1/19_ReLU.py→level1-19_ReLU', 'level1/23_softmax_online.py→level1-23_Softmax', 'level2/19_ConvGelu.py→level2-19_ConvGelu']);
  assert.deepEqual(set.unmatched.map((u) => u.file), ['level1/99_Missing.py']);
  assert.deepEqual(set.problemsWithoutKernel, []);
});

test('a JSONL file: each line a kernel, repeats of a problem get their own id, a bad line stops it all', () => {
  const file = path.join(dir, 'claims.jsonl');
  writeFileSync(file, [JSON.stringify({ problem: 'vector_add', source: 'A' }), '', JSON.stringify({ problem: 'vector_add', source: 'B' }), JSON.stringify({ problem: 'level1/19_ReLU', source: 'R', name: 'relu-v2' }), JSON.stringify({ problem: 'nope', source: 'N' })].join('\n'));
  const set = readKernelSet(file, PLAIN);
  assert.deepEqual(set.kernels.map((k) => [k.kernelId, k.file, k.problemId]), [
    ['vector_add', 'claims.jsonl:1', 'vector_add'],
    ['vector_add.2', 'claims.jsonl:3', 'vector_add'],
    ['relu-v2', 'claims.jsonl:4', '19_ReLU'],
  ]);
  assert.deepEqual(set.unmatched.map((u) => u.file), ['claims.jsonl:5']);
  assert.deepEqual(set.problemsWithoutKernel, ['row_sum']);

  const bad = path.join(dir, 'bad.jsonl');
  writeFileSync(bad, `${JSON.stringify({ problem: 'vector_add', source: 'A' })}\n{"problem": "row_sum", "source": \n`);
  assert.throws(() => readKernelSet(bad, PLAIN), /^Error: bad\.jsonl:2: not JSON/);
  writeFileSync(bad, `${JSON.stringify({ problem: 'vector_add' })}\n`);
  assert.throws(() => readKernelSet(bad, PLAIN), /bad\.jsonl:1: each line must be \{"problem".*source/);
  writeFileSync(bad, '\n\n');
  assert.throws(() => readKernelSet(bad, PLAIN), /holds no kernels/);
});

test('a path that is neither a folder nor a .jsonl file, a missing path, and an oversized kernel', () => {
  assert.throws(() => readKernelSet(path.join(dir, 'missing'), PLAIN), /not found/);
  const txt = path.join(dir, 'kernels.txt');
  writeFileSync(txt, 'x');
  assert.throws(() => readKernelSet(txt, PLAIN), /a folder of kernel modules or a \.jsonl file/);
  const root = folder('big', { 'vector_add.py': 'x'.repeat(MAX_KERNEL_CHARS + 1) });
  const set = readKernelSet(root, PLAIN);
  assert.equal(set.kernels.length, 0);
  assert.match(set.unmatched[0]!.reason, /larger than/);
});

test('an audit kernel keeps its workflow id while kernel and problem are unchanged, and gets a new one when either changes', () => {
  const id = auditKernelWorkflowId('a1', 'level1/19_ReLU', 'kernel', 'problem');
  assert.match(id, /^ka-a1-level1_19_ReLU-[0-9a-f]{12}$/);
  assert.equal(auditKernelWorkflowId('a1', 'level1/19_ReLU', 'kernel', 'problem'), id);
  assert.notEqual(auditKernelWorkflowId('a1', 'level1/19_ReLU', 'kernel v2', 'problem'), id);
  assert.notEqual(auditKernelWorkflowId('a1', 'level1/19_ReLU', 'kernel', 'problem v2'), id);
});
