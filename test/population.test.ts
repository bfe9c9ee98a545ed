// The diagnosis, the signature, the population and the planner (pure), and the loop's strategy driven
// by scripted activities passed in as plain functions: no Temporal server, no verifier.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diagnose, diagnosisTag } from '../domain/diagnosis.js';
import { MAX_FIX_ATTEMPTS, admit, memberPairs, planFromPopulation, promisingFailures, rebuildPopulation } from '../domain/population.js';
import { buildPrompt } from '../domain/prompt.js';
import { describeSignature, kernelSignature, signatureKey } from '../domain/signature.js';
import { recordCandidate, runRounds, type SearchActivities } from '../domain/strategy.js';
import type { CandidateRecord, Feedback, GenerateRequest, PopulationMember, Problem, SpeedOfLightSummary, TimingSummary, VerdictSummary } from '../domain/types.js';

const problem: Problem = { id: 'p', source: 'class Model:\n    pass\n', backend: 'triton' };

const memorySol: SpeedOfLightSummary = { fraction: 0.49, limiter: 'memory', achievedTbps: 2.1, copyTbps: 4.3, achievedTflops: null, peakTflops: null, peakDtype: null, bytesOnly: true };
const timing = (over: Partial<TimingSummary> = {}): TimingSummary => ({ meaningful: true, candidateMs: 0.009, eagerMs: 0.02, compileMs: 0.015, speedupVsEager: 2.2, speedupVsCompile: 1.6, ...over });
const correct = (speedup: number, interval: [number, number] | null = null, over: Partial<TimingSummary> = {}): VerdictSummary => ({
  status: 'correct',
  message: 'correct on 3 of 3 seeds',
  correctness: { trials: 3, passed: 3, maxAbsError: 0, maxRelError: 0, mismatchFraction: 0 },
  timing: timing({ speedupVsEager: speedup, speedupVsEagerInterval: interval, ...over }),
  cheats: [],
  gpu: 'H200',
  artifactKey: null,
});
const failed = (status: VerdictSummary['status'], mismatch: number | null = null): VerdictSummary => ({
  status,
  message: `${status} message`,
  correctness: mismatch === null ? null : { trials: 3, passed: 0, maxAbsError: mismatch, maxRelError: mismatch, mismatchFraction: mismatch },
  timing: null,
  cheats: [],
  gpu: null,
  artifactKey: null,
});
const rec = (round: number, index: number, verdict: VerdictSummary, source: string | null = triton('k', 1024), over: Partial<CandidateRecord> = {}): CandidateRecord => ({
  round, index, instruction: 'first', source, verdict, atMs: 0, tokens: 0, artifacts: {}, ...over,
});

/** A Triton module with one kernel `name` launched once at BLOCK_SIZE=`block`. */
function triton(name: string, block: number): string {
  return [
    'import torch, triton',
    'import triton.language as tl',
    '@triton.jit',
    `def ${name}(x_ptr, y_ptr, out_ptr, n, BLOCK_SIZE: tl.constexpr):`,
    '    pid = tl.program_id(0)',
    'class ModelNew(torch.nn.Module):',
    '    def forward(self, x, y):',
    '        out = torch.empty_like(x)',
    `        ${name}[(triton.cdiv(x.numel(), ${block}),)](x, y, out, x.numel(), BLOCK_SIZE=${block}, num_warps=4)`,
    '        return out',
  ].join('\n');
}

test('the diagnosis says memory- or compute-bound and how far from the limit, host overhead, the timing fallback and the review', () => {
  const host = correct(2.2, [2.0, 2.4], { sol: memorySol, hostMs: 0.09, method: 'stream', methodNote: 'the call synchronises the host (torch.cuda.synchronize) during capture.', review: 'faster than the reference FLOPs allow' });
  const d = diagnose(host);
  assert.equal(d[0], "Your kernel moves 2.1 TB/s of the problem's minimum bytes, 49% of this card's copy rate (4.3 TB/s); the problem is memory-bound (the reference has no matrix products, so only its bytes count).");
  assert.match(d[1]!, /wider, coalesced loads/);
  assert.match(d[2]!, /^The host takes 0\.09 ms per call, 10× the GPU time \(0\.009 ms\): .*fuse launches and do fewer ops in forward/);
  assert.match(d[3]!, /^The call could not be captured in a CUDA graph \(the call synchronises the host \(torch\.cuda\.synchronize\) during capture\), so it was timed from eager launches/);
  assert.equal(d[4], 'Review note from the verifier: faster than the reference FLOPs allow');
  assert.equal(diagnosisTag(host), 'memory-bound, 49% of copy rate; host 10× GPU; not graph-capturable');

  const compute = correct(1.3, null, { candidateMs: 2, hostMs: 0.02, method: 'cuda-graph', sol: { fraction: 0.12, limiter: 'compute', achievedTbps: 0.3, copyTbps: 4.3, achievedTflops: 95, peakTflops: 790, peakDtype: 'bf16', bytesOnly: false } });
  const c = diagnose(compute);
  assert.equal(c[0], "Your kernel reaches 95 TFLOP/s, 12% of this card's bf16 matrix peak (790 TFLOP/s); the problem is compute-bound.");
  assert.match(c[1]!, /far from the compute limit: use the tensor cores/);
  assert.equal(c.length, 2, 'host time of 1% of the GPU time and a graph-timed call say nothing');
  assert.match(diagnose(correct(1, null, { hostMs: 0.004 }))[0]!, /^The host takes 0\.004 ms per call, 44% of the GPU time/);
  assert.match(diagnose(correct(1, null, { sol: { ...memorySol, fraction: 0.92 } }))[1]!, /near the memory limit/);

  assert.deepEqual(diagnose(failed('incorrect', 0.1)), [], 'no timing, no diagnosis');
  assert.deepEqual(diagnose({ ...correct(1), timing: timing({ meaningful: false }) }), [], 'a CPU verifier times nothing meaningful');
});

test('signatures: backend, kernels defined, launch sites, tiling constants', () => {
  const two = [
    '@triton.autotune(configs=[triton.Config({"BLOCK_M": 64, "BLOCK_N": 64}, num_warps=4), triton.Config({"BLOCK_M": 128, "BLOCK_N": 64}, num_warps=8)], key=["M"])',
    '@triton.jit',
    'def matmul_kernel(a, b, c, M, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):',
    '    pass',
    '@triton.jit',
    'def bias_relu(c, bias):',
    '    pass',
    '# old: unused_kernel[grid](x)',
    'def forward(a, b):',
    '    matmul_kernel[grid](a, b, c, M)',
    '    bias_relu[(n,)](c, bias)',
  ].join('\n');
  const s = kernelSignature(two);
  assert.deepEqual(s, { backend: 'triton', kernels: ['bias_relu', 'matmul_kernel'], launchSites: 2, tiles: ['BLOCK_M=64|128', 'BLOCK_N=64', 'num_warps=4|8'] });
  assert.equal(signatureKey(s), 'triton:bias_relu,matmul_kernel/2:BLOCK_M=64|128,BLOCK_N=64,num_warps=4|8');
  assert.equal(describeSignature(s), 'triton, 2 kernels (bias_relu, matmul_kernel), 2 launch sites, BLOCK_M=64|128, BLOCK_N=64, num_warps=4|8');

  const cuda = [
    'from torch.utils.cpp_extension import load_inline',
    'src = """',
    '#define TILE_DIM 32',
    'template <typename T> __global__ void __launch_bounds__(256) transpose_kernel(const T* in, T* out) {}',
    '__global__ void scale(float* x) {}',
    'torch::Tensor run(torch::Tensor x) {',
    '  constexpr int BLOCK = 256;',
    '  transpose_kernel<float><<<grid, BLOCK>>>(x.data_ptr<float>(), y);',
    '  scale<<<n / BLOCK, BLOCK>>>(y);',
    '}"""',
  ].join('\n');
  const cs = kernelSignature(cuda);
  assert.equal(cs.backend, 'cuda');
  assert.deepEqual(cs.kernels, ['scale', 'transpose_kernel']);
  assert.equal(cs.launchSites, 2, 'a templated launch `k<float><<<` counts');
  assert.deepEqual(cs.tiles, ['BLOCK=256', 'TILE_DIM=32']);
  assert.deepEqual(kernelSignature('class ModelNew:\n    def forward(self, x):\n        return x.relu()\n'), { backend: 'torch', kernels: [], launchSites: 0, tiles: [] });
  assert.notEqual(signatureKey(kernelSignature(triton('k', 1024))), signatureKey(kernelSignature(triton('k', 512))), 'another tile size is another variant');
});

test('the population keeps the best of each approach, ranked by the interval low end, at most four', () => {
  let pop: PopulationMember[] = [];
  pop = admit(pop, rec(1, 0, correct(3.1, [1.2, 4.0]), triton('a', 1024)));
  pop = admit(pop, rec(1, 1, correct(2.5, [2.4, 2.6]), triton('b', 1024)));
  assert.deepEqual(pop.map((m) => m.source.includes('def b') ? 'b' : 'a'), ['b', 'a'], 'a steady 2.5× ranks before a noisy 3.1×');
  pop = admit(pop, rec(1, 2, failed('incorrect', 0.1), triton('c', 1024)));
  assert.equal(pop.length, 2, 'failures never join');
  pop = admit(pop, rec(2, 0, correct(1.0, [0.9, 1.1]), triton('a', 1024)));
  assert.equal(pop.find((m) => m.source.includes('def a'))!.round, 1, 'a slower variant of the same approach does not replace it');
  pop = admit(pop, rec(2, 1, correct(3.5, [3.3, 3.7]), triton('a', 1024)));
  assert.deepEqual([pop[0]!.round, pop[0]!.index, pop.length], [2, 1, 2], 'a faster one of the same approach replaces it');
  for (const [i, name] of ['d', 'e', 'f'].entries()) pop = admit(pop, rec(3, i, correct(1.5, [1.4, 1.6]), triton(name, 256)));
  assert.equal(pop.length, 4);
  assert.deepEqual(pop.slice(2).map((m) => [m.round, m.index]), [[3, 0], [3, 1]], 'ties: the earlier candidate stays');
  const long = admit([], rec(1, 0, { ...correct(2), message: 'x '.repeat(5000) }));
  assert.ok(long[0]!.verdict.message.length <= 300, 'members keep a short message');
  const rebuilt = rebuildPopulation([rec(1, 0, correct(2), triton('x', 64)), rec(1, 1, correct(3), null)], { round: 1, index: 1, source: triton('y', 64), verdict: correct(3) });
  assert.equal(rebuilt.length, 2, 'a state from before populations: the best and the records that kept their source');
});

test('the most promising failure: incorrect with small errors before crashes before compile errors, fresh before retried', () => {
  const records = [
    rec(1, 0, failed('compile_error')),
    rec(1, 1, failed('incorrect', 0.5)),
    rec(1, 2, failed('incorrect', 0.01)),
    rec(1, 3, failed('runtime_error')),
    rec(1, 4, failed('incorrect', 0.001), null),
  ];
  assert.deepEqual(promisingFailures(records).map((r) => r.index), [2, 1, 3, 0], 'no source, no fix');
  const retried = [...records, rec(2, 0, failed('incorrect', 0.2), triton('k', 1), { instruction: 'fix', parents: ['1.2'] })];
  assert.deepEqual(promisingFailures(retried).map((r) => `${r.round}.${r.index}`), ['2.0', '1.1', '1.2', '1.3', '1.0'], 'a failure already sent back waits behind fresh ones of its kind');
  const twice = [...retried, rec(3, 0, failed('compile_error'), triton('k', 2), { instruction: 'fix', parents: ['1.2'] })];
  assert.ok(!promisingFailures(twice).some((r) => r.round === 1 && r.index === 2), `sent back ${MAX_FIX_ATTEMPTS} times: not again`);
  const fixed = [...records, rec(2, 0, correct(1), triton('k', 1), { instruction: 'fix', parents: ['1.2'] })];
  assert.ok(!promisingFailures(fixed).some((r) => r.round === 1 && r.index === 2), 'one whose fix came out correct is done');
});

test('the planner: faster with the diagnosis, combine two, fix the most promising failure, explore; deterministic', () => {
  const records = [rec(1, 0, correct(2.0, [1.9, 2.1], { sol: memorySol }), triton('a', 1024)), rec(1, 1, correct(1.5, [1.4, 1.6]), triton('b', 256)), rec(1, 2, failed('compile_error')), rec(1, 3, failed('incorrect', 0.01))];
  const pop = records.reduce<PopulationMember[]>((p, r) => admit(p, r), []);
  const plans = planFromPopulation(records, pop, 2, 4);
  assert.deepEqual(plans.map((p) => p.instruction), ['faster', 'explore', 'combine', 'fix']);
  assert.deepEqual(plans.map((p) => p.parents ?? []), [['1.0'], [], ['1.0', '1.1'], ['1.3']]);
  assert.deepEqual(planFromPopulation(records, pop, 2, 4), plans, 'the same state plans the same round');
  const wide = planFromPopulation(records, pop, 2, 8);
  assert.deepEqual(wide.map((p) => `${p.instruction}:${(p.parents ?? []).join('+')}`), ['faster:1.0', 'explore:', 'combine:1.0+1.1', 'fix:1.3', 'faster:1.1', 'explore:', 'combine:1.0+1.1', 'fix:1.2']);
  assert.deepEqual([1, 2, 3, 4, 5].map((r) => planFromPopulation(records, pop, r, 1)[0]!.instruction), ['faster', 'explore', 'combine', 'fix', 'faster'], 'a width of one takes turns');
  const one = planFromPopulation(records.slice(0, 1), pop.slice(0, 1), 1, 4);
  assert.deepEqual(one.map((p) => p.instruction), ['faster', 'explore', 'faster', 'explore'], 'one member: combine is another faster; no failure: fix is an explore');
  const unsolved = planFromPopulation(records.slice(2), [], 2, 3);
  assert.deepEqual(unsolved.map((p) => `${p.instruction}:${(p.parents ?? []).join('+')}`), ['fix:1.3', 'fix:1.2', 'explore:'], 'no correct kernel: fix the closest first');
  assert.deepEqual(planFromPopulation([], [], 1, 2).map((p) => p.instruction), ['first', 'first']);

  const faster = buildPrompt(problem, 2, 0, plans[0]!);
  assert.match(faster, /Kernel to make faster:/);
  assert.match(faster, /Task: .*The diagnosis under each kernel says where its time goes\./);
  assert.doesNotMatch(buildPrompt(problem, 2, 0, { ...plans[0]!, previous: { source: 'x', verdict: correct(1) } }), /The diagnosis under/, 'no diagnosis, no mention');
  assert.match(faster, /Diagnosis:\n- Your kernel moves 2\.1 TB\/s .*49% of this card's copy rate/);
  assert.match(faster, /95% interval 1\.90–2\.10/);
  const explore = buildPrompt(problem, 2, 1, plans[1]!);
  assert.match(explore, /Approaches the search already keeps .*:\n- triton, 1 kernel \(a\), 1 launch site, BLOCK_SIZE=1024, num_warps=4: 2\.00x vs eager \(at least 1\.90x\)\n- triton, 1 kernel \(b\)/);
  const combine = buildPrompt(problem, 2, 2, plans[2]!);
  assert.match(combine, /Kernel A:\n```python\n[^`]*def a\(/);
  assert.match(combine, /Kernel B:\n```python\n[^`]*def b\(/);
  assert.match(combine, /Combine their best ideas/);
  assert.match(buildPrompt(problem, 2, 3, plans[3]!), /Previous attempt:[\s\S]*Mismatch: 3 of 3 trials failed/);
  assert.match(plans[0]!.recent.join('\n'), /round 1 candidate 0: correct \(2\.00x vs eager; memory-bound, 49% of copy rate\)/);
  assert.deepEqual(memberPairs(4), [[0, 1], [0, 2], [1, 2], [0, 3], [1, 3], [2, 3]]);
});

/**
 * Scripted activities: the "model" answers each instruction with a kernel whose name says what it was
 * asked (a combine names both parents), and the "verifier" looks the name up in a table of verdicts.
 */
function scripted(verdicts: Record<string, VerdictSummary>): { acts: SearchActivities; requests: GenerateRequest[] } {
  const requests: GenerateRequest[] = [];
  let n = 0;
  const acts: SearchActivities = {
    generate: async (req) => {
      requests.push(req);
      const f: Feedback = req.feedback;
      const name = f.instruction === 'first' ? `first${req.index}` : f.instruction === 'combine' ? 'combined' : f.instruction === 'faster' ? `faster${n++}` : f.instruction === 'fix' ? 'fixed' : `explore${n++}`;
      await Promise.resolve();
      return { source: f.instruction === 'first' && req.index === 3 ? null : triton(name, 128), model: 'scripted', tokens: { prompt: 10, completion: 5 }, artifacts: {} };
    },
    verify: async (req) => {
      await Promise.resolve();
      const name = /def (\w+)\(/.exec(req.candidateSource)![1]!;
      return verdicts[name] ?? verdicts[name.replace(/\d+$/, '')] ?? failed('compile_error');
    },
  };
  return { acts, requests };
}

test('the strategy with scripted activities: round n diagnosis in a prompt of round n+1, a population that recombines', async () => {
  const host = correct(1.8, [1.7, 1.9], { sol: memorySol, hostMs: 0.09 });
  const { acts, requests } = scripted({
    first0: host,
    first1: correct(1.2, [1.1, 1.3]),
    first2: failed('incorrect', 0.02),
    combined: correct(2.6, [2.5, 2.7]),
    fixed: correct(1.1, [1.0, 1.2]),
    explore: failed('runtime_error'),
    faster: correct(1.9, [1.85, 1.95]),
  });
  const ctx = { searchId: 's', problem: { problem }, model: '', verifyTimeoutS: 60, startedAtMs: 0, now: () => 0 };
  const state = await runRounds(acts, ctx, { rounds: 3, width: 4 });
  assert.equal(state.records.length, 12);
  assert.equal(state.records.find((r) => r.round === 1 && r.index === 3)!.verdict.status, 'compile_error', 'a reply without code is a compile error, never verified');

  const round2 = requests.filter((r) => r.round === 2).sort((a, b) => a.index - b.index);
  assert.deepEqual(round2.map((r) => r.feedback.instruction), ['faster', 'explore', 'combine', 'fix']);
  const prompt = buildPrompt(problem, 2, 0, round2[0]!.feedback);
  assert.match(prompt, /The host takes 0\.09 ms per call, 10× the GPU time/, "round 1's diagnosis is in round 2's prompt");
  assert.match(prompt, /49% of this card's copy rate/);
  assert.deepEqual(round2[3]!.feedback.parents, ['1.2'], 'the incorrect one is fixed, not the reply without code');

  assert.equal(state.best?.verdict.timing?.speedupVsEager, 2.6, 'the combination is the best');
  assert.ok(/def combined/.test(state.population![0]!.source));
  assert.deepEqual(state.records.find((r) => /def combined/.test(r.source ?? ''))!.parents, ['1.0', '1.1']);
  const sigs = new Set(state.population!.map((m) => m.signature));
  assert.equal(sigs.size, state.population!.length, 'one member per approach');
  assert.ok(state.population!.length <= 4);

  const classic = await runRounds(scripted({ first0: host, first1: correct(1.2), first2: failed('incorrect', 0.02) }).acts, ctx, { rounds: 2, width: 4, strategy: 'classic' });
  assert.deepEqual(classic.records.filter((r) => r.round === 2).map((r) => r.instruction).sort(), ['explore', 'explore', 'faster', 'fix'], 'the classic planner still plans as before');
});

test('recording keeps the best and the population together; a state from before populations is rebuilt', () => {
  const state: { records: CandidateRecord[]; best: null | { round: number; index: number; source: string; verdict: VerdictSummary }; population?: PopulationMember[] } = {
    records: [rec(1, 0, correct(2), triton('old', 64))],
    best: { round: 1, index: 0, source: triton('old', 64), verdict: correct(2) },
  };
  assert.equal(recordCandidate(state, rec(2, 0, correct(1.5), triton('new', 64))), false);
  assert.equal(state.population!.length, 2);
  assert.equal(recordCandidate(state, rec(2, 1, correct(4), triton('new', 64))), true);
  assert.equal(state.population![0]!.index, 1);
  assert.equal(state.records.length, 3);
});
