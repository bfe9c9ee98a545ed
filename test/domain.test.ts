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
  assert.equal(fastP(outcomes, 1, 'flex'), 0);
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
