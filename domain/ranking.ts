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
  if (a.status === 'correct') return (speedup(a) ?? 0) > (speedup(b) ?? 0);
  if (a.status === 'incorrect') {
    const fa = a.correctness?.mismatchFraction ?? 1;
    const fb = b.correctness?.mismatchFraction ?? 1;
    return fa < fb;
  }
  return false;
}

export function speedup(v: VerdictSummary): number | null {
  return v.timing?.meaningful ? v.timing.speedupVsEager : null;
}
