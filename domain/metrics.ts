// Campaign metrics as KernelBench defines them, plus the solve-rate-versus-budget curve.
// Pure: the report command feeds it search results; tests feed it hand-made ones.

export type Baseline = 'eager' | 'compile' | 'flex';

export interface ProblemOutcome {
  problemId: string;
  level: number | null;
  searchId: string;
  /** kernelSearch's final state: solved, unsolved, or a workflow that failed / was terminated. */
  status: 'solved' | 'unsolved' | 'failed' | 'running';
  speedup: Record<Baseline, number | null>;
  /** 95% interval of the speedup over eager, where the verifier measured one. */
  speedupEagerInterval?: [number, number] | null;
  /** Why a search failed (its failure's words), for failed rows. */
  reason?: string | null;
  timeToFirstCorrectMs: number | null;
  candidates: number;
  tokens: number;
  /** GPU-seconds its verifications took (SearchResult.gpuSeconds); absent or 0 for searches before it. */
  gpuSeconds?: number;
  /** The best kernel's speed of light, where it was correct and timed on a GPU. */
  sol?: { fraction: number; limiter: 'memory' | 'compute'; bytesOnly: boolean } | null;
  bestSource: string | null;
  /** What the best kernel's Nsight Compute counters say (domain/profileDiagnosis.ts), once it was profiled. */
  bestProfile?: string[];
}

/**
 * fast_p: the share of ALL problems whose kernel is correct and more than p times faster than the
 * baseline; null (n/a) when no problem was timed against that baseline (no FlexAttention outside attention).
 */
export function fastP(outcomes: ProblemOutcome[], p: number, baseline: Baseline): number | null {
  if (outcomes.length === 0) return null;
  if (p > 0 && !outcomes.some((o) => o.speedup[baseline] !== null)) return null;
  const hits = outcomes.filter((o) => {
    if (o.status !== 'solved') return false;
    if (p === 0) return true; // fast_0 is the correct rate
    const s = o.speedup[baseline];
    return s !== null && s > p;
  }).length;
  return hits / outcomes.length;
}

/** Geometric mean of the speedups of correct kernels that were timed against this baseline. */
export function geomeanSpeedup(outcomes: ProblemOutcome[], baseline: Baseline): number | null {
  const xs = outcomes.filter((o) => o.status === 'solved').map((o) => o.speedup[baseline]).filter((s): s is number => s !== null && s > 0);
  if (xs.length === 0) return null;
  return Math.exp(xs.reduce((sum, x) => sum + Math.log(x), 0) / xs.length);
}

/** Share of problems with a correct kernel within t, for `points` values of t from 0 to the budget. */
export function solveRateCurve(outcomes: ProblemOutcome[], budgetMs: number, points = 31): { tMs: number; rate: number }[] {
  return Array.from({ length: points }, (_, i) => {
    const tMs = (budgetMs * i) / (points - 1);
    const solved = outcomes.filter((o) => o.timeToFirstCorrectMs !== null && o.timeToFirstCorrectMs <= tMs).length;
    return { tMs, rate: outcomes.length === 0 ? 0 : solved / outcomes.length };
  });
}

export interface CampaignSummary {
  problems: number;
  solved: number;
  failed: number;
  fast: { p: number; baseline: Baseline; value: number | null }[];
  geomean: Record<Baseline, number | null>;
  medianTimeToFirstCorrectMs: number | null;
  candidates: number;
  tokens: number;
  gpuSeconds: number;
  /** Median speed-of-light fraction of the best kernels that have one. */
  medianSol: number | null;
}

export const FAST_P_VALUES = [0, 1, 1.2, 2];
export const BASELINES: Baseline[] = ['eager', 'compile', 'flex'];

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const v = [...xs].sort((a, b) => a - b);
  const mid = v.length / 2;
  return v.length % 2 ? v[Math.floor(mid)]! : (v[mid - 1]! + v[mid]!) / 2;
}

/**
 * The best kernels' speed-of-light fractions in bins of `width` (the last bin holds everything from its
 * low end up, above 1.0 too), counted apart for memory- and compute-bound problems.
 */
export function solHistogram(outcomes: ProblemOutcome[], width = 0.1, bins = 11): { low: number; memory: number; compute: number }[] {
  const out = Array.from({ length: bins }, (_, i) => ({ low: i * width, memory: 0, compute: 0 }));
  for (const o of outcomes) {
    if (!o.sol) continue;
    // rounded first, so 0.3 (0.30000000000000004 from arithmetic) lands in the 30% bin
    const i = Math.min(bins - 1, Math.max(0, Math.floor(Number((o.sol.fraction / width).toFixed(9)))));
    out[i]![o.sol.limiter] += 1;
  }
  return out;
}

export function summarize(outcomes: ProblemOutcome[]): CampaignSummary {
  const times = outcomes.map((o) => o.timeToFirstCorrectMs).filter((t): t is number => t !== null).sort((a, b) => a - b);
  const mid = times.length / 2;
  return {
    problems: outcomes.length,
    solved: outcomes.filter((o) => o.status === 'solved').length,
    failed: outcomes.filter((o) => o.status === 'failed').length,
    fast: FAST_P_VALUES.flatMap((p) => (p === 0 ? [{ p, baseline: 'eager' as Baseline, value: fastP(outcomes, 0, 'eager') }] : BASELINES.map((baseline) => ({ p, baseline, value: fastP(outcomes, p, baseline) })))),
    geomean: { eager: geomeanSpeedup(outcomes, 'eager'), compile: geomeanSpeedup(outcomes, 'compile'), flex: geomeanSpeedup(outcomes, 'flex') },
    medianTimeToFirstCorrectMs: times.length === 0 ? null : times.length % 2 ? times[Math.floor(mid)]! : (times[mid - 1]! + times[mid]!) / 2,
    candidates: outcomes.reduce((s, o) => s + o.candidates, 0),
    tokens: outcomes.reduce((s, o) => s + o.tokens, 0),
    gpuSeconds: outcomes.reduce((s, o) => s + (o.gpuSeconds ?? 0), 0),
    medianSol: median(outcomes.flatMap((o) => (o.sol ? [o.sol.fraction] : []))),
  };
}
