// The search's strategy with the activities passed in as plain functions: one candidate (generate →
// verify → record), what a record changes in the state (best, population), and the plan of the next
// round. The workflow calls these with its activity proxies; tests and benchmarks call them with
// scripted functions, without a Temporal server. Pure apart from the functions passed in.
import { planRound } from './feedback.js';
import { admit, planFromPopulation, rebuildPopulation } from './population.js';
import { isBetter } from './ranking.js';
import type { BestKernel, CandidateRecord, Feedback, GenerateRequest, GenerateResult, PopulationMember, VerdictSummary, VerifyRequest } from './types.js';

export interface SearchActivities {
  /** `summary`: what the call is, for the Temporal UI's timeline. */
  generate(req: GenerateRequest, summary: string): Promise<GenerateResult>;
  verify(req: VerifyRequest, summary: string): Promise<VerdictSummary>;
}

export interface CandidateContext {
  searchId: string;
  /** The problem by key (activities read its source once), or whole for searches from before keys. */
  problem: Pick<GenerateRequest, 'problem' | 'problemKey'>;
  model: string;
  verifyTimeoutS: number;
  startedAtMs: number;
  /** The clock (the workflow's deterministic Date.now, or a test's). */
  now: () => number;
}

/** The state the strategy reads and writes; the workflow's carried state is a superset. */
export interface StrategyState {
  records: CandidateRecord[];
  best: BestKernel | null;
  /** Absent in states carried from before populations: rebuilt from `best` and the records on first use. */
  population?: PopulationMember[];
}

export type Strategy = 'population' | 'classic';

export const NO_CODE_MESSAGE = 'The reply held no ```python code block with a ModelNew module.';

/** One candidate: generate, verify what came back (a reply without code is a compile error, not verified). */
export async function runCandidate(acts: SearchActivities, ctx: CandidateContext, round: number, index: number, feedback: Feedback): Promise<CandidateRecord> {
  const where = `round ${round} · candidate ${index}`;
  const generated = await acts.generate({ searchId: ctx.searchId, ...ctx.problem, round, index, model: ctx.model, feedback }, `${where} · generate (${feedback.instruction})`);
  const tokens = generated.tokens.prompt + generated.tokens.completion;
  const base = { round, index, instruction: feedback.instruction, ...(feedback.parents ? { parents: feedback.parents } : {}), tokens, artifacts: generated.artifacts };
  if (generated.source === null) {
    const verdict: VerdictSummary = { status: 'compile_error', message: NO_CODE_MESSAGE, correctness: null, timing: null, cheats: [], gpu: null, artifactKey: null };
    return { ...base, source: null, verdict, atMs: ctx.now() - ctx.startedAtMs };
  }
  const verdict = await acts.verify({ searchId: ctx.searchId, ...ctx.problem, round, index, candidateSource: generated.source, timeoutS: ctx.verifyTimeoutS }, `${where} · verify (${feedback.instruction})`);
  return { ...base, source: generated.source, verdict, atMs: ctx.now() - ctx.startedAtMs };
}

/** Adds a record to the state, updating the best kernel and the population; true when the best changed. */
export function recordCandidate(state: StrategyState, rec: CandidateRecord): boolean {
  state.population = admit(state.population ?? rebuildPopulation(state.records, state.best), rec);
  state.records.push(rec);
  if (rec.source !== null && isBetter(rec.verdict, state.best?.verdict)) {
    state.best = { round: rec.round, index: rec.index, source: rec.source, verdict: rec.verdict };
    return true;
  }
  return false;
}

/** The instructions of round `round` (1-based) for `width` candidates. */
export function planNext(state: StrategyState, round: number, width: number, strategy: Strategy = 'population'): Feedback[] {
  if (strategy === 'classic') return planRound(state.records, state.best, width);
  return planFromPopulation(state.records, state.population ?? rebuildPopulation(state.records, state.best), round, width);
}

export interface RunOptions {
  rounds: number;
  width: number;
  strategy?: Strategy;
  /** Ends the run early, checked after each round. */
  stop?: (state: StrategyState) => boolean;
}

/**
 * Rounds of the strategy without a server: the candidates of a round run concurrently and are
 * recorded as their verdicts arrive, as in the workflow (no deadline, cancellation or retries here).
 */
export async function runRounds(acts: SearchActivities, ctx: CandidateContext, options: RunOptions, state: StrategyState = { records: [], best: null }): Promise<StrategyState> {
  for (let round = 1; round <= options.rounds; round++) {
    const plans = planNext(state, round, options.width, options.strategy);
    await Promise.all(plans.map(async (feedback, index) => recordCandidate(state, await runCandidate(acts, ctx, round, index, feedback))));
    if (options.stop?.(state)) break;
  }
  return state;
}
