// The strategy benchmark's parts over the verdicts recorded on the H200 (bench/strategy/recorded): the
// variant spaces load, the stand-in model is deterministic per seed and only proposes recorded variants,
// its answers follow the instruction, and the scores are fractions of the best variant's speed.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { fractionOfBest, loadSpaces, scoreSpace } from '../bench/strategy.js';
import { HEADER, standInActivities, variantOf, type VariantSpace } from '../bench/standInModel.js';
import { runRounds } from '../domain/strategy.js';
import type { Feedback, GenerateRequest } from '../domain/types.js';
import { REPO_ROOT } from '../infra/paths.js';

const spaces = loadSpaces(path.join(REPO_ROOT, 'bench', 'strategy', 'recorded'));
const ctx = (id: string) => ({ searchId: id, problem: {}, model: 'stand-in', verifyTimeoutS: 300, startedAtMs: 0, now: () => 0 });
const request = (feedback: Feedback): GenerateRequest => ({ searchId: 's', round: 1, index: 0, model: 'stand-in', feedback });
const feedback = (instruction: Feedback['instruction'], previous?: string): Feedback => ({ instruction, previous: previous ? { source: previous, verdict: { status: 'correct', message: '', correctness: null, timing: null, cheats: [], gpu: null, artifactKey: null } } : null, best: null, recent: [] });

test('six recorded problems, each with correct variants and a broken twin per family', () => {
  assert.equal(spaces.length, 6);
  for (const s of spaces) {
    assert.ok(s.bestMs() > 0 && Number.isFinite(s.bestMs()), s.problem);
    for (const family of s.families.keys()) assert.ok(s.brokenTwin(family), `${s.problem}/${family} has no broken twin`);
    for (const v of s.byKey.values()) assert.ok(v.source.startsWith(HEADER) && variantOf(s, v.source) === v, v.key);
  }
});

async function proposals(space: VariantSpace, seed: number, strategy: 'classic' | 'population'): Promise<string[]> {
  const acts = standInActivities(space, seed);
  const seen: string[] = [];
  await runRounds({ generate: async (r, sum) => { const g = await acts.generate(r, sum); seen.push((g.source ?? '').split('\n', 1)[0]!); return g; }, verify: acts.verify }, ctx('d'), { rounds: 4, width: 4, strategy, stop: () => false });
  return seen;
}

test('the stand-in is deterministic per seed, and every proposal is a recorded variant', async () => {
  for (const s of spaces) {
    for (const strategy of ['classic', 'population'] as const) {
      const a = await proposals(s, 7, strategy); // verify throws on a source that was not recorded
      assert.equal(a.length, 16);
      assert.deepEqual(await proposals(s, 7, strategy), a, `${s.problem} ${strategy}: same seed, same proposals`);
      assert.notDeepEqual(await proposals(s, 8, strategy), a, `${s.problem} ${strategy}: another seed, other proposals`);
    }
  }
});

test('fix mends a broken twin at the same knobs; faster moves one knob', async () => {
  const s = spaces.find((x) => x.problem === 'softsign')!;
  const broken = [...s.byKey.values()].find((v) => v.broken)!;
  let mended = 0;
  let moved = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const acts = standInActivities(s, seed);
    const fixed = variantOf(s, (await acts.generate(request(feedback('fix', broken.source)), '')).source ?? '')!;
    if (!fixed.broken) {
      assert.equal(fixed.family, broken.family);
      assert.deepEqual(fixed.params, broken.params);
      mended++;
    }
    const base = s.families.get(broken.family)![0]!;
    const faster = variantOf(s, (await standInActivities(s, seed).generate(request(feedback('faster', base.source)), '')).source ?? '')!;
    if (!faster.broken) {
      assert.equal(Object.keys(base.params).filter((k) => faster.params[k] !== base.params[k]).length, 1, faster.key);
      moved++;
    }
  }
  assert.ok(mended > 25 && moved > 25, `${mended} mended, ${moved} moved: the broken rate (15%) leaves most proposals as asked`);
});

test('scores are fractions of the best variant, 1 only for the fastest', async () => {
  const s = spaces[0]!;
  const fastest = [...s.byKey.values()].find((v) => v.verdict.status === 'correct' && v.verdict.timing?.candidateMs === s.bestMs())!;
  assert.equal(fractionOfBest(s, { records: [], best: { round: 1, index: 0, source: fastest.source, verdict: fastest.verdict } }), 1);
  assert.equal(fractionOfBest(s, { records: [], best: null }), 0);
  const scores = await scoreSpace(s, 3, 4, [8, 16]);
  assert.deepEqual(scores.map((x) => [x.strategy, x.candidates, x.fractions.length]), [['classic', 8, 3], ['classic', 16, 3], ['population', 8, 3], ['population', 16, 3]]);
  for (const x of scores) for (const f of x.fractions) assert.ok(f >= 0 && f <= 1, String(f));
});
