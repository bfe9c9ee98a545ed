// The profile result's zod schema on what the verifier's parser makes of a capture in ncu's raw-page
// layout (test/fixtures/profile_raw_page.json, from verifier/tests/fixtures/ncu/raw_page.csv), and the
// sentences domain/profileDiagnosis.ts makes of recorded counter sets.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parseProfile, unavailableProfile, type KernelCounters, type Profile } from '../domain/profile.js';
import { mainKernel, profileDiagnosis } from '../domain/profileDiagnosis.js';
import { buildPrompt } from '../domain/prompt.js';
import type { Problem, VerdictSummary } from '../domain/types.js';
import { FIXTURES } from './harness.js';

const captured = JSON.parse(readFileSync(path.join(FIXTURES, 'profile_raw_page.json'), 'utf8')) as unknown;

function profileOf(...kernels: Partial<KernelCounters>[]): Profile {
  const base: KernelCounters = { name: 'k', duration_ns: 1000, dram_throughput_pct: null, sm_throughput_pct: null, achieved_occupancy_pct: null, tensor_pipe_pct: null, top_stalls: [] };
  return { available: true, reason: null, kernels: kernels.map((k) => ({ ...base, ...k })), cost_s: 30, stages: { profile: 30 } };
}

test('the verifier parser output of the raw-page capture parses', () => {
  const p = parseProfile(captured);
  assert.equal(p.available, true);
  assert.equal(p.kernels.length, 2);
  assert.equal(mainKernel(p)?.name, 'copy_kernel');
});

test('a malformed profile becomes unavailable, saying so', () => {
  const p = parseProfile({ available: true, kernels: 'lots' });
  assert.equal(p.available, false);
  assert.match(p.reason ?? '', /did not parse/);
});

test('memory-bound at the limit, with its top stall', () => {
  const lines = profileDiagnosis(parseProfile(captured));
  assert.match(lines[0] ?? '', /copy_kernel \(the longest of 2 kernels profiled\): DRAM throughput 92% of peak: memory-bound at the limit/);
  assert.ok(lines.some((l) => /^Top stall: long scoreboard 64% — waiting on global/.test(l)), lines.join('\n'));
  assert.ok(!lines.some((l) => /occupancy|Tensor pipes/.test(l)), lines.join('\n'));
});

test('low occupancy, idle tensor pipes on busy SMs, latency-bound', () => {
  const busy = profileDiagnosis(profileOf({ name: 'mm', dram_throughput_pct: 20, sm_throughput_pct: 85, achieved_occupancy_pct: 18, tensor_pipe_pct: 0, top_stalls: [{ reason: 'math_pipe_throttle', pct: 55 }] }));
  assert.match(busy[0] ?? '', /SM throughput 85% of peak \(DRAM 20%\): compute-bound/);
  assert.ok(busy.includes('Achieved occupancy 18%: too few warps resident to hide latency (registers, shared memory per block or too few blocks limit it).'));
  assert.ok(busy.some((l) => l.startsWith('Tensor pipes idle')));
  const idle = profileDiagnosis(profileOf({ dram_throughput_pct: 12, sm_throughput_pct: 9, achieved_occupancy_pct: 60, top_stalls: [{ reason: 'wait', pct: 15 }] }));
  assert.deepEqual(idle, ['Counters of k: DRAM 12% and SM 9% of peak: neither limit is near; the kernel is latency-bound (too few bytes or instructions in flight).']);
});

test('no counters: one line with the reason; nothing without a profile', () => {
  assert.deepEqual(profileDiagnosis(unavailableProfile('CPU device: Nsight Compute reads GPU counters only')), ['No hardware counters for this kernel: CPU device: Nsight Compute reads GPU counters only.']);
  assert.deepEqual(profileDiagnosis(undefined), []);
});

test('the counters of the kernel to make faster go under its diagnosis in the prompt', () => {
  const problem: Problem = { id: 'p', source: 'class Model:\n    pass\n', backend: 'triton' };
  const timed: VerdictSummary = { status: 'correct', message: 'ok', correctness: null, cheats: [], gpu: null, artifactKey: null,
    timing: { meaningful: true, candidateMs: 1, eagerMs: 2, compileMs: null, speedupVsEager: 2, speedupVsCompile: null } };
  const withCounters = buildPrompt(problem, 2, 0, { instruction: 'faster', previous: { source: 'class ModelNew: pass', verdict: timed, profile: parseProfile(captured) }, best: null, recent: [] });
  assert.match(withCounters, /Diagnosis:\n(- .*\n)*- Counters of copy_kernel .*DRAM throughput 92% of peak/);
  const without = buildPrompt(problem, 2, 0, { instruction: 'faster', previous: { source: 'class ModelNew: pass', verdict: timed }, best: null, recent: [] });
  assert.doesNotMatch(without, /Counters of|hardware counters/);
});
