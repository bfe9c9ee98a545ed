// The search's population: the top few correct kernels that differ in approach, and the plan of each
// round drawn from it (docs/search.md). Pure and deterministic: it runs inside the workflow.
import { withProfile } from './profileDiagnosis.js';
import { verdictLine } from './prompt.js';
import { rankingSpeedup, speedup } from './ranking.js';
import { describeSignature, kernelSignature, signatureKey } from './signature.js';
import { clip } from './text.js';
import type { BestKernel, CandidateRecord, Feedback, PopulationMember, VerdictStatus, VerdictSummary } from './types.js';

/** Kernels kept: enough to recombine, few enough that continue-as-new carries a handful of sources. */
export const POPULATION_SIZE = 4;
/** A member's verifier message is kept to this many characters (a correct kernel's says little). */
const MEMBER_MESSAGE_CHARS = 300;
const RECENT_LINES = 12;
/** A failure sent back for fixing this many times without success is not sent again. */
export const MAX_FIX_ATTEMPTS = 2;

/** The rotation of moves once the population holds a kernel; see planFromPopulation. */
export const MOVES = ['faster', 'explore', 'combine', 'fix'] as const;

/** "round.index": how records name each other (Feedback.parents, CandidateRecord.parents). */
export function candidateKey(c: { round: number; index: number }): string {
  return `${c.round}.${c.index}`;
}

/** Negative when `a` ranks before `b`: the speedup we are sure of (interval low end), the point speedup, then the earlier candidate. */
export function compareMembers(a: PopulationMember, b: PopulationMember): number {
  const d = (rankingSpeedup(b.verdict) ?? 0) - (rankingSpeedup(a.verdict) ?? 0);
  if (d !== 0) return d;
  const p = (speedup(b.verdict) ?? 0) - (speedup(a.verdict) ?? 0);
  if (p !== 0) return p;
  return a.round - b.round || a.index - b.index;
}

/**
 * The population after `rec`: a correct candidate with a source joins when its approach (signature) is
 * new, or replaces the member of its approach when it ranks before it; then the best POPULATION_SIZE
 * are kept. Anything else leaves the population as it was.
 */
export function admit(population: readonly PopulationMember[], rec: Pick<CandidateRecord, 'round' | 'index' | 'source' | 'verdict'>, size = POPULATION_SIZE): PopulationMember[] {
  if (rec.verdict.status !== 'correct' || rec.source === null) return [...population];
  const member: PopulationMember = {
    round: rec.round,
    index: rec.index,
    source: rec.source,
    signature: signatureKey(kernelSignature(rec.source)),
    verdict: { ...rec.verdict, message: clip(rec.verdict.message, MEMBER_MESSAGE_CHARS) },
  };
  const same = population.find((m) => m.signature === member.signature);
  if (same && compareMembers(member, same) >= 0) return [...population];
  return [...population.filter((m) => m !== same), member].sort(compareMembers).slice(0, size);
}

/** A population from what a state carried before populations existed: the best and the records that kept their source. */
export function rebuildPopulation(records: readonly CandidateRecord[], best: BestKernel | null): PopulationMember[] {
  let population: PopulationMember[] = [];
  if (best) population = admit(population, best);
  for (const r of records) population = admit(population, r);
  return population;
}

/** How close a failure came to correct: it ran and gave numbers, beyond it crashed, beyond it did not build. */
const FAILURE_RANK: Record<VerdictStatus, number> = {
  correct: 6,
  incorrect: 5,
  runtime_error: 4,
  timeout: 3,
  rejected: 2,
  compile_error: 1,
  infra_error: 0,
};

/** Negative when failure `a` is the more promising one to fix. */
function compareFailures(a: CandidateRecord, b: CandidateRecord, attempts: Map<string, number>): number {
  const rank = FAILURE_RANK[b.verdict.status] - FAILURE_RANK[a.verdict.status];
  if (rank !== 0) return rank;
  const tries = (attempts.get(candidateKey(a)) ?? 0) - (attempts.get(candidateKey(b)) ?? 0);
  if (tries !== 0) return tries; // one already sent back for fixing waits behind fresh ones of its kind
  if (a.verdict.status === 'incorrect') {
    const e = errorScore(a.verdict) - errorScore(b.verdict);
    if (e !== 0) return e;
  }
  return b.round - a.round || b.index - a.index; // newest first
}

/** Smaller is closer: the share of trials failed, then of elements wrong, then the relative error. */
function errorScore(v: VerdictSummary): number {
  const c = v.correctness;
  if (!c) return 3;
  const trials = c.trials > 0 ? (c.trials - c.passed) / c.trials : 1;
  const mismatch = c.mismatchFraction ?? 1;
  const rel = Math.min(1, c.maxRelError ?? 1);
  return trials + mismatch + rel * 1e-3;
}

/**
 * Failures worth a fix, most promising first: those with a source (the last records carried keep
 * theirs), none whose fix already came out correct and none sent back MAX_FIX_ATTEMPTS times; by
 * closeness to correct (incorrect before crashes before timeouts before rejections before compile
 * errors), then fewer earlier fix attempts, then smaller errors (incorrect ones), then the newest.
 */
export function promisingFailures(records: readonly CandidateRecord[]): CandidateRecord[] {
  const attempts = new Map<string, number>();
  const fixed = new Set<string>();
  for (const r of records) {
    if (r.instruction !== 'fix') continue;
    for (const p of r.parents ?? []) {
      attempts.set(p, (attempts.get(p) ?? 0) + 1);
      if (r.verdict.status === 'correct') fixed.add(p);
    }
  }
  return records
    .filter((r) => r.verdict.status !== 'correct' && r.source !== null && !fixed.has(candidateKey(r)) && (attempts.get(candidateKey(r)) ?? 0) < MAX_FIX_ATTEMPTS)
    .sort((a, b) => compareFailures(a, b, attempts));
}

/** The pairs of members to combine, in order: (0,1), (0,2), (1,2), (0,3), (1,3), (2,3), … */
export function memberPairs(n: number): [number, number][] {
  const pairs: [number, number][] = [];
  for (let b = 1; b < n; b++) for (let a = 0; a < b; a++) pairs.push([a, b]);
  return pairs;
}

function recentLines(records: readonly CandidateRecord[]): string[] {
  return records
    .slice(-RECENT_LINES)
    .reverse()
    .map((r) => `round ${r.round} candidate ${r.index}${r.instruction === 'first' ? '' : ` (${r.instruction})`}: ${verdictLine(r.verdict)}`);
}

function approachLine(m: PopulationMember): string {
  const s = speedup(m.verdict);
  const low = rankingSpeedup(m.verdict);
  const timed = s === null ? 'correct, untimed' : low !== null && low !== s ? `${s.toFixed(2)}x vs eager (at least ${low.toFixed(2)}x)` : `${s.toFixed(2)}x vs eager`;
  return `${describeSignature(kernelSignature(m.source))}: ${timed}`;
}

/**
 * The instructions of one round, from the population (best first) and the records.
 *
 * - No candidate yet: every candidate writes a first kernel.
 * - No correct kernel yet: candidate i fixes the i-th most promising failure (promisingFailures); once
 *   they run out, the rest explore.
 * - Otherwise candidate i of round r takes move MOVES[((r - 1) * width + i) mod 4], so a round of 4 has
 *   one of each and narrower rounds take turns: `faster` makes member k faster (the k-th `faster` of the
 *   round takes member k mod n), its diagnosis in the prompt; `combine` merges the next pair of members
 *   (memberPairs; with one member it is another `faster`); `fix` takes the next promising failure (an
 *   `explore` when there is none); `explore` asks for an approach unlike every member.
 */
export function planFromPopulation(records: readonly CandidateRecord[], population: readonly PopulationMember[], round: number, width: number): Feedback[] {
  if (records.length === 0) return Array.from({ length: width }, () => ({ instruction: 'first', previous: null, best: null, recent: [] }));
  const recent = recentLines(records);
  const failures = promisingFailures(records);
  const fixFeedback = (f: CandidateRecord, best: Feedback['best']): Feedback => ({
    instruction: 'fix',
    previous: { source: f.source!, verdict: f.verdict },
    best,
    recent,
    parents: [candidateKey(f)],
  });
  const top = population[0];
  if (!top) {
    return Array.from({ length: width }, (_, i): Feedback => {
      const f = failures[i];
      return f ? fixFeedback(f, null) : { instruction: 'explore', previous: null, best: null, recent };
    });
  }

  const best: Feedback['best'] = { source: top.source, speedupVsEager: top.verdict.timing?.speedupVsEager ?? null, speedupVsCompile: top.verdict.timing?.speedupVsCompile ?? null };
  const approaches = population.map(approachLine);
  const pairs = memberPairs(population.length);
  const used = { faster: 0, combine: 0, fix: 0 };
  const faster = (): Feedback => {
    const m = population[used.faster++ % population.length]!;
    return { instruction: 'faster', previous: withProfile(m), best: m === top ? null : best, recent, parents: [candidateKey(m)] };
  };
  const explore = (): Feedback => ({ instruction: 'explore', previous: null, best, recent, approaches });
  return Array.from({ length: width }, (_, i): Feedback => {
    const move = MOVES[((round - 1) * width + i) % MOVES.length]!;
    if (move === 'faster') return faster();
    if (move === 'explore') return explore();
    if (move === 'combine') {
      const pair = pairs.length > 0 ? pairs[used.combine++ % pairs.length] : undefined;
      if (!pair) return faster();
      const [a, b] = [population[pair[0]]!, population[pair[1]]!];
      return { instruction: 'combine', previous: withProfile(a), other: withProfile(b), best: null, recent, approaches, parents: [candidateKey(a), candidateKey(b)] };
    }
    const f = failures[used.fix++];
    return f ? fixFeedback(f, best) : explore();
  });
}
