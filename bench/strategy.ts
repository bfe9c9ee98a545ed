// The strategy benchmark (issue 14, item 4; docs/benchmarks.md, "Search strategies"): today's planner
// ('classic', domain/feedback.ts) against the population planner ('population', domain/population.ts),
// each driving domain/strategy.ts's runRounds with the stand-in model of ./standInModel.ts over kernels
// verified once on a GPU (bench/strategy/record.py). Score: the fastest correct variant's GPU time over
// the GPU time of the kernel the search picked as its best, after N candidates (1 = found the best).
// Usage: node dist/bench/strategy.js [--recorded bench/strategy/recorded] [--seeds 20] [--width 4] [--candidates 8,16,24,32] [--json FILE]
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../infra/paths.js';
import { runRounds, type Strategy, type StrategyState } from '../domain/strategy.js';
import { VariantSpace, standInActivities, type RecordedLine } from './standInModel.js';

export const STRATEGIES: Strategy[] = ['classic', 'population'];
/** A search counts as having found the best once it is within this fraction of it. */
export const NEAR_BEST = 0.95;

export interface StrategyScore {
  problem: string;
  strategy: Strategy;
  candidates: number;
  /** Per seed: best variant's ms / picked kernel's ms (0 when no correct kernel was found). */
  fractions: number[];
}

export function loadSpaces(dir: string): VariantSpace[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .map((f) => {
      const lines = readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as RecordedLine);
      return new VariantSpace(path.basename(f, '.jsonl'), lines);
    });
}

/** The picked kernel's score: how close its GPU time is to the fastest correct variant's. */
export function fractionOfBest(space: VariantSpace, state: StrategyState): number {
  const t = state.best?.verdict.status === 'correct' ? state.best.verdict.timing?.candidateMs : null;
  return t ? space.bestMs() / t : 0;
}

/** One search per seed and strategy; the score is read after each round whose candidate count is asked for. */
export async function scoreSpace(space: VariantSpace, seeds: number, width: number, checkpoints: number[]): Promise<StrategyScore[]> {
  const scores: StrategyScore[] = [];
  const rounds = Math.ceil(Math.max(...checkpoints) / width);
  for (const strategy of STRATEGIES) {
    const byN = new Map(checkpoints.map((n) => [n, [] as number[]]));
    for (let seed = 1; seed <= seeds; seed++) {
      const acts = standInActivities(space, seed);
      const ctx = { searchId: `bench-${space.problem}-${strategy}-${seed}`, problem: {}, model: 'stand-in', verifyTimeoutS: 300, startedAtMs: 0, now: () => 0 };
      await runRounds(acts, ctx, {
        rounds,
        width,
        strategy,
        stop: (state) => {
          byN.get(state.records.length)?.push(fractionOfBest(space, state));
          return false;
        },
      });
    }
    for (const [n, fractions] of byN) scores.push({ problem: space.problem, strategy, candidates: n, fractions });
  }
  return scores;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

export function table(spaces: VariantSpace[], scores: StrategyScore[]): string {
  const ns = [...new Set(scores.map((s) => s.candidates))].sort((a, b) => a - b);
  const cell = (xs: number[]) => `${mean(xs).toFixed(3)} (${Math.round((xs.filter((x) => x >= NEAR_BEST).length / Math.max(1, xs.length)) * 100)}%)`;
  const lines = ['| problem | variants (correct) | N | classic | population |', '|---|---|---|---|---|'];
  for (const space of spaces) {
    const all = [...space.byKey.values()];
    for (const n of ns) {
      const of = (s: Strategy) => scores.find((x) => x.problem === space.problem && x.strategy === s && x.candidates === n)?.fractions ?? [];
      lines.push(`| ${space.problem} | ${all.length} (${all.filter((v) => v.verdict.status === 'correct').length}) | ${n} | ${cell(of('classic'))} | ${cell(of('population'))} |`);
    }
  }
  for (const n of ns) {
    const of = (s: Strategy) => scores.filter((x) => x.strategy === s && x.candidates === n).flatMap((x) => x.fractions);
    lines.push(`| **all** | | ${n} | ${cell(of('classic'))} | ${cell(of('population'))} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      recorded: { type: 'string', default: path.join(REPO_ROOT, 'bench', 'strategy', 'recorded') },
      seeds: { type: 'string', default: '20' },
      width: { type: 'string', default: '4' },
      candidates: { type: 'string', default: '8,16,24,32' },
      json: { type: 'string' },
    },
  });
  const width = Number(values.width);
  const checkpoints = values.candidates.split(',').map(Number);
  if (!(width > 0) || checkpoints.some((n) => !(n > 0) || n % width !== 0)) throw new Error('--candidates must be multiples of --width');
  const spaces = loadSpaces(values.recorded);
  const scores = (await Promise.all(spaces.map((s) => scoreSpace(s, Number(values.seeds), width, checkpoints)))).flat();
  if (values.json) writeFileSync(values.json, JSON.stringify(scores, null, 1));
  process.stdout.write(`${values.seeds} seeds per problem and strategy, ${width} candidates a round; each cell: mean of (fastest variant's ms / picked kernel's ms), and (share of seeds within ${NEAR_BEST * 100}% of the fastest)\n\n`);
  process.stdout.write(`${table(spaces, scores)}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(REPO_ROOT, 'dist', 'bench', 'strategy.js')) await main();
