// Pure domain code: durations, reply parsing, prompts, feedback planning, ranking.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration, parseDuration } from '../domain/duration.js';
import { planRound } from '../domain/feedback.js';
import { buildPrompt } from '../domain/prompt.js';
import { isBetter } from '../domain/ranking.js';
import { extractKernel, parseReply } from '../domain/reply.js';
import type { CandidateRecord, Problem, VerdictSummary } from '../domain/types.js';

const problem: Problem = { id: 'p', source: 'class Model:\n    pass\n', backend: 'triton' };
const verdict = (status: VerdictSummary['status'], message = `${status} message`, speedup: number | null = null): VerdictSummary => ({
  status,
  message,
  correctness: status === 'incorrect' ? { trials: 3, passed: 0, maxAbsError: 0.5, maxRelError: 0.2, mismatchFraction: 0.9 } : null,
  timing: speedup === null ? null : { meaningful: true, candidateMs: 1, eagerMs: speedup, compileMs: null, speedupVsEager: speedup, speedupVsCompile: null },
  cheats: [],
  gpu: null,
  artifactKey: null,
});
const rec = (round: number, index: number, v: VerdictSummary, source = `# kernel ${round}.${index}\nclass ModelNew: pass\n`): CandidateRecord => ({ round, index, instruction: 'first', source, verdict: v, atMs: 0, tokens: 0, artifacts: {} });

test('durations', () => {
  assert.equal(parseDuration('15m'), 900_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('90'), 90_000);
  assert.equal(parseDuration('500ms'), 500);
  for (const bad of ['', 'soon', '5 minutes', '-5m', '0s', '0', '0.0001', '5m banana']) assert.throws(() => parseDuration(bad), /duration/, bad);
  assert.equal(formatDuration(61_000), '1m01s');
});

test('reasoning is kept apart from the answer, and the kernel extracted', () => {
  const reply = '<think>try tiling\n```python\nnot this\n```</think>Here:\n```python\nclass ModelNew:\n    pass\n```\n';
  const parsed = parseReply(reply);
  assert.match(parsed.reasoning, /try tiling/);
  assert.equal(parsed.kernel, 'class ModelNew:\n    pass\n');
  assert.equal(parseReply('no code', 'thought').kernel, null);
  assert.equal(parseReply('x', 'from field').reasoning, 'from field');
  assert.equal(extractKernel('```python\nhelper = 1\n```\n```python\nclass ModelNew: pass\n```\n```python\nprint(1)\n```'), 'class ModelNew: pass\n');
});

test('prompts carry the interface, the rules and the verifier message; attention gets the exp2 note', () => {
  const first = buildPrompt(problem, 1, 0, { instruction: 'first', previous: null, best: null, recent: [] });
  assert.match(first, /Problem id: p/);
  assert.match(first, /class ModelNew\(nn\.Module\)/);
  assert.match(first, /no calls to the PyTorch op you are replacing/);
  assert.doesNotMatch(first, /1\.44269504/);
  const attention = { ...problem, source: 'def forward(q, k, v):\n    attn = torch.softmax(q @ k.T, -1)\n' };
  assert.match(buildPrompt(attention, 1, 0, { instruction: 'first', previous: null, best: null, recent: [] }), /rel_pos \* 1\.44269504/);

  const failed = verdict('compile_error', 'line 12: tl.arange requires constexpr');
  const fix = buildPrompt(problem, 2, 0, { instruction: 'fix', previous: { source: 'class ModelNew: pass', verdict: failed }, best: null, recent: [] });
  assert.match(fix, /line 12: tl\.arange requires constexpr/);
});

test('a long prompt drops old history and the middle of logs, never the error lines', () => {
  const log = `ERROR at line 7: bad thing\n${'noise\n'.repeat(20_000)}final error: line 99 broke`;
  const recent = Array.from({ length: 500 }, (_, i) => `round ${i}: ${'x'.repeat(200)}`);
  const prompt = buildPrompt(problem, 9, 0, { instruction: 'fix', previous: { source: 'class ModelNew: pass', verdict: verdict('compile_error', log) }, best: null, recent }, 20_000);
  assert.ok(prompt.length <= 21_000, `prompt is ${prompt.length} chars`);
  assert.match(prompt, /ERROR at line 7: bad thing/);
  assert.match(prompt, /final error: line 99 broke/);
  assert.match(prompt, /characters cut/);
  assert.match(prompt, /round 0: /, 'newest history line kept');
  assert.doesNotMatch(prompt, /round 499: /, 'oldest history line dropped');
});

test('candidates of one round get different instructions', () => {
  const records = [rec(1, 0, verdict('compile_error')), rec(1, 1, verdict('incorrect')), rec(1, 2, verdict('correct', 'ok', 1.5))];
  const best = { round: 1, index: 2, source: records[2]!.source!, verdict: records[2]!.verdict };
  const plans = planRound(records, best, 4);
  assert.deepEqual(plans.map((p) => p.instruction), ['faster', 'explore', 'fix', 'explore']);
  assert.equal(plans[2]!.previous?.verdict.status, 'incorrect');
  const unsolved = planRound(records.slice(0, 2), null, 3);
  assert.deepEqual(unsolved.map((p) => p.instruction), ['fix', 'fix', 'explore']);
  assert.notEqual(unsolved[0]!.previous?.source, unsolved[1]!.previous?.source);
  assert.deepEqual(planRound([], null, 2).map((p) => p.instruction), ['first', 'first']);
});

test('ranking prefers correct, then faster, then closer', () => {
  assert.ok(isBetter(verdict('correct'), verdict('incorrect')));
  assert.ok(isBetter(verdict('correct', '', 2), verdict('correct', '', 1.5)));
  assert.ok(!isBetter(verdict('compile_error'), verdict('runtime_error')));
  assert.ok(isBetter(verdict('incorrect'), undefined));
  assert.ok(!isBetter(verdict('infra_error'), undefined));
});

test('campaign metrics match a hand computation', async () => {
  const { fastP, geomeanSpeedup, solveRateCurve, summarize } = await import('../domain/metrics.js');
  const o = (status: 'solved' | 'unsolved' | 'failed', eager: number | null, compile: number | null, t: number | null) => ({
    problemId: `p${Math.random()}`, level: 1, searchId: 's', status, speedup: { eager, compile, flex: null }, timeToFirstCorrectMs: t, candidates: 2, tokens: 10, bestSource: null,
  });
  const outcomes = [o('solved', 2.5, 1.1, 60_000), o('solved', 1.1, 0.5, 120_000), o('solved', 0.8, 0.4, 600_000), o('unsolved', null, null, null), o('failed', null, null, null)];
  assert.equal(fastP(outcomes, 0, 'eager'), 3 / 5);
  assert.equal(fastP(outcomes, 1, 'eager'), 2 / 5);
  assert.equal(fastP(outcomes, 1.2, 'eager'), 1 / 5);
  assert.equal(fastP(outcomes, 2, 'eager'), 1 / 5);
  assert.equal(fastP(outcomes, 1, 'compile'), 1 / 5);
  assert.equal(fastP(outcomes, 1, 'flex'), null, 'n/a: no problem was timed against FlexAttention');
  assert.equal(fastP(outcomes, 0, 'flex'), 3 / 5, 'fast_0 is the correct rate whatever the baseline');
  assert.ok(Math.abs(geomeanSpeedup(outcomes, 'eager')! - Math.cbrt(2.5 * 1.1 * 0.8)) < 1e-12);
  assert.equal(geomeanSpeedup(outcomes, 'flex'), null);
  const curve = solveRateCurve(outcomes, 600_000, 11); // every 60 s
  assert.deepEqual(curve.map((p) => p.rate), [0, 0.2, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.6]);
  const s = summarize(outcomes);
  assert.equal(s.solved, 3);
  assert.equal(s.failed, 1);
  assert.equal(s.medianTimeToFirstCorrectMs, 120_000);
  assert.equal(s.candidates, 10);
});

test('ranking and the target stop use the low end of the speedup interval when the verifier gives one', async () => {
  const { rankingSpeedup, formatSpeedup } = await import('../domain/ranking.js');
  const timed = (point: number, interval: [number, number] | null): VerdictSummary => ({
    ...verdict('correct', 'ok', point),
    timing: { meaningful: true, candidateMs: 1, eagerMs: point, compileMs: null, speedupVsEager: point, speedupVsCompile: null, speedupVsEagerInterval: interval },
  });
  const noisy = timed(3.1, [1.2, 4.0]);
  const steady = timed(2.5, [2.4, 2.6]);
  assert.equal(rankingSpeedup(noisy), 1.2);
  assert.equal(rankingSpeedup(timed(2, null)), 2, 'the point speedup without an interval');
  assert.ok(isBetter(steady, noisy), 'a steady 2.5× beats a noisy 3.1× whose interval reaches 1.2×');
  assert.ok(!isBetter(noisy, steady));
  assert.ok(isBetter(timed(2.6, [2.4, 2.8]), steady), 'equal low ends: the point speedup decides');
  assert.equal(formatSpeedup(3.1, [2.95, 3.24]), '3.10× [2.95–3.24]');
  assert.equal(formatSpeedup(3.1, null), '3.10×');
});

test('verdicts with and without the timing interval fields parse', async () => {
  const { summarizeVerdict, verdictSchema, isConfigurationError } = await import('../domain/verdict.js');
  const base = {
    status: 'correct', message: 'ok', cheats: [], stages: {},
    correctness: { trials: 3, passed: 3, max_abs_error: 0, max_rel_error: 0, mismatch_fraction: 0, first_bad_index: null },
    env: { device: 'cuda', gpu: 'H200', driver: null, torch: null, triton: null, cuda: null, network_isolated: true },
  };
  const oldTiming = { meaningful: true, candidate_ms: { median: 1, p20: 0.9, p80: 1.1 }, trials: 100, eager_ms: 3, compile_ms: 2, speedup_vs_eager: 3, speedup_vs_compile: 2 };
  const old = summarizeVerdict(verdictSchema.parse({ ...base, timing: oldTiming }), null);
  assert.equal(old.timing?.speedupVsEagerInterval, null);
  assert.equal(old.timing?.candidateMsInterval, null);
  const withIntervals = verdictSchema.parse({
    ...base,
    timing: { ...oldTiming, candidate_ms: { median: 1, p20: 0.9, p80: 1.1, low: 0.95, high: 1.05 }, method: 'cuda-graph', method_note: null, host_ms: 0.02, eager_ms_interval: [2.9, 3.1], compile_ms_interval: null, speedup_vs_eager_interval: [2.95, 3.24], speedup_vs_compile_interval: [1.9, 2.1], compile_mode: 'max-autotune' },
  });
  const s = summarizeVerdict(withIntervals, null);
  assert.deepEqual(s.timing?.speedupVsEagerInterval, [2.95, 3.24]);
  assert.deepEqual(s.timing?.candidateMsInterval, [0.95, 1.05]);
  assert.equal(s.timing?.method, 'cuda-graph');
  assert.equal(s.timing?.compileMode, 'max-autotune');
  assert.throws(() => verdictSchema.parse({ ...base, timing: { ...oldTiming, speedup_vs_eager_interval: [1] } }), 'an interval has two ends');
  assert.ok(isConfigurationError({ status: 'infra_error', message: "backend 'cuda' (load_inline) needs device 'cuda'; CPU mode runs only Triton kernels" }));
  assert.ok(!isConfigurationError({ status: 'infra_error', message: 'the candidate\'s process did not start within 180 s' }), 'a passing trouble is retried');
});

test('verdict lines show the error itself, cut with an ellipsis', async () => {
  const { errorLine, clip } = await import('../domain/text.js');
  const compile = [
    'candidate.py:48: in forward',
    '    acc += tl.dot(a, b)',
    'Traceback (most recent call last):',
    '  File "/x/triton/language/core.py", line 35, in wrapper',
    'AssertionError: input and other must have equal reduction dimensions',
  ].join('\n');
  assert.equal(errorLine(compile), 'AssertionError: input and other must have equal reduction dimensions');
  assert.equal(errorLine('triton.compiler.errors.CompilationError: at 3:4: bad\nmore'), 'triton.compiler.errors.CompilationError: at 3:4: bad');
  assert.equal(errorLine('\nincorrect on 2 of 3 seeds\nseed 0: …'), 'incorrect on 2 of 3 seeds');
  const long = 'incorrect on 3 of 3 seeds. seed 0: output mismatch at many places and more words here';
  const cut = clip(long, 40);
  assert.ok(cut.length <= 40 && cut.endsWith('…'), cut);
  assert.ok(long.startsWith(cut.slice(0, -1)), 'cut at a word boundary, nothing invented');
  assert.doesNotMatch(cut, /\s…$/);
  assert.equal(clip('short', 40), 'short');
});

test('the status shown corrects KsStatus by the execution status; list --status queries both', async () => {
  const { displayedStatus, statusClause, isSearchStatus, finalStatus } = await import('../domain/searchStatus.js');
  assert.equal(displayedStatus('TERMINATED', 'running'), 'terminated');
  assert.equal(displayedStatus('TIMED_OUT', 'running'), 'timed_out');
  assert.equal(displayedStatus('FAILED', 'running'), 'failed');
  assert.equal(displayedStatus('COMPLETED', 'solved'), 'solved');
  assert.equal(displayedStatus('RUNNING', undefined), 'running');
  assert.equal(statusClause('running', 'KsStatus'), "KsStatus = 'running' AND ExecutionStatus = 'Running'");
  assert.equal(statusClause('terminated', 'KsStatus'), "ExecutionStatus = 'Terminated'");
  assert.ok(isSearchStatus('failed'));
  assert.ok(!isSearchStatus('bogus'));
  assert.equal(finalStatus(false, 'stopped'), 'stopped');
  assert.equal(finalStatus(true, 'stopped'), 'solved');
  assert.equal(finalStatus(false, 'deadline'), 'unsolved');
});

test('a failed start of the dev server is one line: its own error, a port taken or a locked database', async () => {
  const { startFailure } = await import('../infra/temporal.js');
  assert.match(startFailure("Temporal CLI 1.9.1\nError: can't set UI port 18556: listen tcp 127.0.0.1:18556: bind: address already in use\n"), /^can't set UI port 18556: .*address already in use \(another program holds the port: set KS_TEMPORAL_PORT/);
  const goPanic = 'unable to start server: sql: database is locked\ngoroutine 1 [running]:\nmain.main()\n\t/home/runner/go/src/main.go:12 +0x1d\nexit status 2';
  assert.match(startFailure(goPanic), /database is locked \(another Temporal server uses this data folder/);
  assert.equal(startFailure('starting\nsomething odd happened\ngoroutine 7 [running]:\nfoo.bar(0x1)\n\t/x/y.go:3 +0x2'), 'something odd happened');
});

test('the speed of light reaches the faster, combine and fix prompts; short forms for the CLI and the UI', async () => {
  const { planFromPopulation, admit } = await import('../domain/population.js');
  const { solOf, solText, spendText } = await import('../domain/speedOfLight.js');
  const withSol = (speedup: number, sol: NonNullable<NonNullable<VerdictSummary['timing']>['sol']>): VerdictSummary => ({
    ...verdict('correct', 'correct on 3 of 3 seeds', speedup),
    timing: { meaningful: true, candidateMs: 1, eagerMs: speedup, compileMs: null, speedupVsEager: speedup, speedupVsCompile: null, sol },
  });
  const memory = withSol(2, { fraction: 0.49, limiter: 'memory', achievedTbps: 2.1, copyTbps: 4.3, achievedTflops: null, peakTflops: null, peakDtype: null, bytesOnly: true });
  const compute = withSol(1.5, { fraction: 0.12, limiter: 'compute', achievedTbps: 0.3, copyTbps: 4.3, achievedTflops: 95, peakTflops: 790, peakDtype: 'bfloat16', bytesOnly: false });
  const kernel = (name: string) => `import triton\n@triton.jit\ndef ${name}(x_ptr, BLOCK_SIZE: tl.constexpr):\n    pass\nclass ModelNew:\n    pass\n`;
  const records = [rec(1, 0, memory, kernel('a')), rec(1, 1, compute, kernel('b')), rec(1, 2, verdict('compile_error', 'line 3: bad')), rec(1, 3, verdict('incorrect'))];
  const pop = records.reduce<ReturnType<typeof admit>>((p, r) => admit(p, r), []);
  const plans = planFromPopulation(records, pop, 2, 4);
  const byInstruction = Object.fromEntries(plans.map((p, i) => [p.instruction, buildPrompt(problem, 2, i, p)]));
  assert.match(byInstruction.faster!, /Your kernel moves 2\.1 TB\/s of the problem's minimum bytes, 49% of this card's copy rate \(4\.3 TB\/s\); the problem is memory-bound/);
  // combine: each kernel's diagnosis under it
  assert.match(byInstruction.combine!, /Kernel A:[\s\S]*49% of this card's copy rate[\s\S]*Kernel B:[\s\S]*Your kernel reaches 95 TFLOP\/s, 12% of this card's bfloat16 matrix peak \(790 TFLOP\/s\); the problem is compute-bound/);
  // fix: the failure has no timing; the correct kernels' figures come with the history lines
  assert.match(byInstruction.fix!, /Previous attempt:/);
  assert.match(byInstruction.fix!, /round 1 candidate 0: correct \(2\.00x vs eager; memory-bound, 49% of copy rate\)/);
  assert.match(byInstruction.fix!, /round 1 candidate 1: correct \(1\.50x vs eager; compute-bound, 12% of peak\)/);

  assert.equal(solText(solOf(memory)), '49% SOL (memory-bound, bytes only)');
  assert.equal(solText(solOf(compute)), '12% SOL (compute-bound)');
  assert.equal(solText(solOf({ ...memory, status: 'incorrect' })), '', 'only a correct kernel has a speed of light');
  assert.equal(solText(solOf({ ...memory, timing: { ...memory.timing!, meaningful: false } })), '', 'nor one the CPU verifier timed');
  assert.equal(spendText(12.345, 45678), '12.3 GPU-s, 45,678 tokens');
  assert.equal(spendText(1234.5, 0), '1235 GPU-s, 0 tokens');
});
