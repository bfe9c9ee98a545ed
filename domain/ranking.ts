// How candidates compare: the rule that picks the best kernel of a search.
import type { VerdictStatus, VerdictSummary } from './types.js';

/** How far a candidate got; a higher rank is closer to a solved problem. */
const STATUS_RANK: Record<VerdictStatus, number> = {
  correct: 6,
  incorrect: 5,
  rejected: 4,
  runtime_error: 3,
  timeout: 2,
  compile_error: 1,
  infra_error: 0,
};

/** True when `a` should replace `b` as the best kernel so far. */
export function isBetter(a: VerdictSummary, b: VerdictSummary | undefined): boolean {
  if (!b) return a.status !== 'infra_error';
  const ra = STATUS_RANK[a.status];
  const rb = STATUS_RANK[b.status];
  if (ra !== rb) return ra > rb;
  if (a.status === 'correct') {
    // By the speedup we are sure of: a noisy 3.1× whose interval reaches down to 1.2× is not better than a steady 2.5×.
    const sa = rankingSpeedup(a) ?? 0;
    const sb = rankingSpeedup(b) ?? 0;
    if (sa !== sb) return sa > sb;
    return (speedup(a) ?? 0) > (speedup(b) ?? 0);
  }
  if (a.status === 'incorrect') {
    const fa = a.correctness?.mismatchFraction ?? 1;
    const fb = b.correctness?.mismatchFraction ?? 1;
    return fa < fb;
  }
  return false;
}

/** The point speedup over eager, when the timing means something. */
export function speedup(v: VerdictSummary): number | null {
  return v.timing?.meaningful ? v.timing.speedupVsEager : null;
}

/** The speedup that ranks and stops a search: the low end of its 95% interval when the verifier gave one, else the point speedup. */
export function rankingSpeedup(v: VerdictSummary): number | null {
  if (!v.timing?.meaningful) return null;
  return v.timing.speedupVsEagerInterval?.[0] ?? v.timing.speedupVsEager;
}

/** "3.10×" or "3.10× [2.95–3.24]" when an interval is known. */
export function formatSpeedup(point: number, interval?: readonly [number, number] | null): string {
  return interval ? `${point.toFixed(2)}× [${interval[0].toFixed(2)}–${interval[1].toFixed(2)}]` : `${point.toFixed(2)}×`;
}
