// Which instruction and which past attempt each candidate of the next round gets. Pure and
// deterministic: it runs inside the workflow.
import { withProfile } from './profileDiagnosis.js';
import type { BestKernel, CandidateRecord, Feedback } from './types.js';
import { verdictLine } from './prompt.js';

const RECENT_LINES = 12;

/**
 * Candidates of one round get different instructions so parallel samples do not all repeat one
 * attempt: without a correct kernel, candidate i fixes the i-th most recent failure (or explores once
 * the failures run out); with one, candidate 0 makes the best faster, odd ones explore, even ones fix
 * recent failures or make the best faster.
 */
export function planRound(records: CandidateRecord[], best: BestKernel | null, width: number): Feedback[] {
  const failures = records.filter((r) => r.verdict.status !== 'correct' && r.source !== null).reverse();
  const solved = best !== null && best.verdict.status === 'correct';
  const bestForPrompt = solved
    ? { source: best.source, speedupVsEager: best.verdict.timing?.speedupVsEager ?? null, speedupVsCompile: best.verdict.timing?.speedupVsCompile ?? null }
    : null;
  const recent = records
    .slice(-RECENT_LINES)
    .reverse()
    .map((r) => `round ${r.round} candidate ${r.index}: ${verdictLine(r.verdict)}`);

  return Array.from({ length: width }, (_, i): Feedback => {
    if (records.length === 0) return { instruction: 'first', previous: null, best: null, recent };
    if (solved) {
      if (i % 2 === 1) return { instruction: 'explore', previous: null, best: bestForPrompt, recent };
      const failure = i > 0 ? failures[i / 2 - 1] : undefined;
      if (failure) return { instruction: 'fix', previous: { source: failure.source!, verdict: failure.verdict }, best: bestForPrompt, recent };
      return { instruction: 'faster', previous: withProfile(best), best: bestForPrompt, recent };
    }
    const failure = failures[i];
    if (failure) return { instruction: 'fix', previous: { source: failure.source!, verdict: failure.verdict }, best: null, recent };
    return { instruction: 'explore', previous: null, best: null, recent };
  });
}
