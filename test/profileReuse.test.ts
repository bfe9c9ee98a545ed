// A kernel resubmitted unchanged is not profiled again (patch 'ncu-profile-reuse-identical'): it gets the
// first one's counters once they are ready, and they reach the prompts whichever of the two is the best.
// Real server, orchestrator worker, scripted model and CPU verifier; the GPU worker runs in this process,
// standing in for the GPU where the CPU cannot: its verdicts get a meaningful time (so a solved search goes
// on, as on a GPU) and its profileKernel answers for Nsight Compute. On the H200 the acceptance run
// (bench/acceptance.ts) checks the same with the real ncu.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ArtifactStore } from '../activities/artifacts.js';
import type { Profile } from '../domain/profile.js';
import type { VerdictSummary, VerifyRequest } from '../domain/types.js';
import { TestEnv, problemFile } from './harness.js';
import { InProcessGpuWorker } from './inProcessGpuWorker.js';

let env: TestEnv;
let gpu: InProcessGpuWorker;
const profiled: VerifyRequest[] = [];

/** Round 4 (the same kernel as round 3) times fastest: it becomes the best while round 3's profile runs. */
const MS_BY_ROUND: Record<number, number> = { 3: 1.0, 4: 0.9, 5: 0.95 };

function timed(v: VerdictSummary, round: number): VerdictSummary {
  if (v.status !== 'correct') return v;
  const ms = MS_BY_ROUND[round] ?? 1.0;
  return { ...v, timing: { meaningful: true, candidateMs: ms, eagerMs: 2.0, compileMs: 1.5, speedupVsEager: 2.0 / ms, speedupVsCompile: 1.5 / ms } };
}

async function fakeProfile(req: VerifyRequest): Promise<Profile> {
  profiled.push(req);
  await sleep(300);
  const kernel = { name: `copy_r${req.round}`, duration_ns: 1000, dram_throughput_pct: 91, sm_throughput_pct: 12, achieved_occupancy_pct: 85, tensor_pipe_pct: 0, top_stalls: [] };
  return { available: true, reason: null, kernels: [kernel], cost_s: 0.3, stages: { profile: 0.3 } };
}

before(async () => {
  env = await TestEnv.start();
  gpu = await InProcessGpuWorker.start(env, (real) => ({ verifyKernel: async (req: VerifyRequest) => timed(await real.verifyKernel(req), req.round), profileKernel: fakeProfile }));
  await env.startWorker('orchestrator');
});

after(async () => {
  await gpu?.stop();
  await env?.stop();
});

test('a kernel resubmitted unchanged reuses its profile: one Nsight Compute run, its counters in the next prompts', async () => {
  // the scripted replies: a compile error, a wrong kernel, then the correct one, repeated from round 3 on
  const res = await env.cli(['run', '--problem', problemFile('vector_add'), '--width', '1', '--max-candidates', '5', '--budget', '10m', '--json']);
  assert.equal(res.exitCode, 0, res.stderr);
  const result = JSON.parse(res.stdout) as { searchId: string; best: { round: number; profile?: Profile }; candidates: { status: string }[] };
  assert.deepEqual(result.candidates.map((c) => c.status), ['compile_error', 'incorrect', 'correct', 'correct', 'correct']);
  const mine = profiled.filter((p) => p.searchId === result.searchId);
  assert.deepEqual(mine.map((p) => p.round), [3], 'the same kernel is profiled once');
  assert.equal(result.best.round, 4, 'the resubmission timed fastest');
  assert.equal(result.best.profile?.kernels[0]?.name, 'copy_r3', 'the best carries the first run\'s counters');
  const prompt = readFileSync(path.join(env.dataDir, 'artifacts', ArtifactStore.keyFor(result.searchId, 5, 0, 'prompt.md')), 'utf8');
  assert.match(prompt, /^- Counters of copy_r3: DRAM throughput 91% of peak/m, 'round 5 is shown the best kernel with its counters');
});
