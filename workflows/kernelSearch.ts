// The kernelSearch workflow: round after round of generate → verify → feedback until the deadline,
// a target speedup, a candidate limit or a stop signal. Deterministic: only @temporalio/workflow and
// pure domain code are imported.
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  ContinueAsNew,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ActivityOptions } from '@temporalio/common';
import type { Activities } from '../activities/index.js';
import { problemKeyOf } from '../domain/problemKey.js';
import type { Profile } from '../domain/profile.js';
import { PROFILE_PER_SEARCH, unavailableProfile } from '../domain/profileDiagnosis.js';
import { errorLine, truncateMiddle } from '../domain/text.js';
import { MAX_EXTENSION_MS, MAX_TOTAL_BUDGET_MS, SEARCH_ATTRIBUTES, VERIFY_ACTIVITY_SLACK_S, verificationLimitS } from '../domain/defaults.js';
import { formatDuration } from '../domain/duration.js';
import { formatSpeedup, rankingSpeedup, speedup } from '../domain/ranking.js';
import { solOf, solText, spendText } from '../domain/speedOfLight.js';
import { STOP_REASON_TEXT, finalStatus, type SearchStatusValue } from '../domain/searchStatus.js';
import { planNext, recordCandidate, runCandidate as runCandidateWith } from '../domain/strategy.js';
import type {
  BestKernel,
  GenerateRequest,
  VerifyRequest,
  CandidateRecord,
  Feedback,
  PopulationMember,
  SearchInput,
  SearchResult,
  SearchStatus,
  StopReason,
  VerdictSummary,
} from '../domain/types.js';
import { extendBudgetUpdate, statusQuery, stopSignal } from './definitions.js';

/** Generation talks to an LLM endpoint: long calls, heartbeats while the model thinks, patient retries. */
const GENERATE_OPTIONS = {
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  cancellationType: ActivityCancellationType.TRY_CANCEL,
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10, nonRetryableErrorTypes: ['EndpointRejected'] },
} satisfies ActivityOptions;
const { generateKernel } = proxyActivities<Activities>(GENERATE_OPTIONS);

/**
 * Patch 'problem-by-key': activity inputs carry a problem key instead of the whole source (which the
 * start event holds once), and each activity has a summary for the UI's timeline. Searches whose
 * history predates it keep sending the whole problem, without summaries.
 */
export const PROBLEM_BY_KEY_PATCH = 'problem-by-key';

const statusKey = SEARCH_ATTRIBUTES.status;
const bestSpeedupKey = SEARCH_ATTRIBUTES.bestSpeedup;

/** State that survives continue-as-new. */
export interface CarriedState {
  startedAtMs: number;
  deadlineMs: number;
  round: number;
  candidatesStarted: number;
  records: CandidateRecord[];
  best: BestKernel | null;
  tokens: number;
  /** The top correct kernels of distinct approaches (domain/population.ts); absent in states from before it. */
  population?: PopulationMember[];
  /** GPU-seconds of the verifications so far (VerdictSummary.gpuSeconds); absent in states from before it. */
  gpuSeconds?: number;
}

const KEEP_SOURCES_OF_LAST = 16;
/** Verdicts listed in the current details. */
const DETAIL_VERDICTS = 5;
/** Rounds planned from the population (domain/population.ts) instead of planRound; histories from before plan the old way. */
const POPULATION_PATCH = 'population-planning';
/** Nsight Compute counters for the best and the population's new members (at most PROFILE_PER_SEARCH). */
const PROFILE_PATCH = 'ncu-profile';
/** The bound of PROFILE_PER_SEARCH counts the profiles of earlier runs too (before it, each continue-as-new reset it). */
const PROFILE_BOUND_PATCH = 'ncu-profile-bound-across-runs';

/**
 * Patch 'ncu-profile-wait-bounded': waiting for profiles never runs past the search's deadline or a stop,
 * and at the end the unfinished ones are cancelled and recorded as unavailable, saying why. Before it, a
 * search that had ended waited up to the profile activity's 7 minutes past its budget (about 3 minutes
 * per profile on the H200 then, when profiles waited out the start-up limit; docs/benchmarks.md).
 */
const PROFILE_WAIT_PATCH = 'ncu-profile-wait-bounded';
/**
 * Patch 'ncu-profile-reuse-identical': a kernel whose source is one already profiled in this search (a model
 * resubmitting its kernel) gets that profile, when it is ready, instead of a new one: it costs no GPU
 * slot and no place of PROFILE_PER_SEARCH, and its counters reach the prompts as soon as the first's do.
 */
const PROFILE_REUSE_PATCH = 'ncu-profile-reuse-identical';

/** When a wait for profiles gives up: the search's deadline, or a stop. */
interface ProfileWaitBound {
  deadlineMs: number;
  stopped: () => boolean;
}

/**
 * Profiles started off the critical path: each runs while the next round generates; `settled` waits for
 * those started before a round. A failed profile becomes an unavailable one (the search never fails for
 * it). With the bounded-wait patch they run in a scope of their own, so the end of the search can cancel
 * them; without it, a cancelled round or search cancels them with its scope.
 */
class Profiler {
  /** Profiles of this search so far: an earlier run's are in its records (all settled before it continued as new). */
  private started: number;
  private pending: { round: number; done: Promise<void> }[] = [];
  /** With the reuse patch: this run's profiles by kernel source, resolving to the profile (null if none came). */
  private readonly bySource: Map<string, Promise<Profile | null>> | null;
  private readonly profileKernel: Activities['profileKernel'];
  /** The scope the profiles run in (bounded waits only), and why it was cancelled. */
  private readonly scope: CancellationScope | null;
  private endedWhy: string | null = null;

  constructor(
    private readonly searchId: string,
    private readonly problemArg: () => Pick<VerifyRequest, 'problem' | 'problemKey'>,
    private readonly timeoutS: number,
    verifyOptions: ActivityOptions,
    alreadyProfiled: number,
    private readonly bounded: boolean,
    reuse: boolean,
  ) {
    this.started = alreadyProfiled;
    this.bySource = reuse ? new Map() : null;
    this.profileKernel = proxyActivities<Activities>({ ...verifyOptions, startToCloseTimeout: '7 minutes', retry: { maximumAttempts: 1 } }).profileKernel;
    this.scope = bounded ? new CancellationScope() : null;
  }

  start(state: CarriedState, rec: CandidateRecord, changed: () => void): void {
    if (rec.source === null || rec.verdict.status !== 'correct') return;
    const source = rec.source;
    const attach = (profile: Profile, reused = false) => {
      rec.profile = profile;
      if (reused) rec.profileReused = true;
      if (state.best && state.best.round === rec.round && state.best.index === rec.index) state.best.profile = profile;
      for (const m of state.population ?? []) if (m.round === rec.round && m.index === rec.index) m.profile = profile;
      changed();
    };
    if (this.bySource) {
      // profiled before a continue-as-new (only counters are reused: a profile that failed is tried again)
      const earlier = state.records.find((r) => r !== rec && r.source === source && r.profile?.available)?.profile;
      if (earlier) return attach(earlier, true);
      const twin = this.bySource.get(source);
      if (twin) {
        this.pending.push({ round: rec.round, done: twin.then((p) => (p ? attach(p, true) : undefined)) });
        return;
      }
    }
    if (this.started >= PROFILE_PER_SEARCH) return;
    this.started += 1;
    const req: VerifyRequest = { searchId: this.searchId, ...this.problemArg(), round: rec.round, index: rec.index, candidateSource: source, timeoutS: this.timeoutS };
    const startedAtMs = Date.now();
    const call = this.scope ? this.scope.run(() => this.profileKernel(req)) : this.profileKernel(req);
    const profiled = call.then(
      (p): Profile => {
        attach(p);
        return p;
      },
      (err: unknown): Profile | null => {
        const p = !isCancellation(err) ? unavailableProfile(`the profile activity failed: ${failureMessage(err)}`.slice(0, 500)) : this.endedWhy !== null ? unavailableProfile(this.endedWhy, (Date.now() - startedAtMs) / 1000) : null;
        if (p) attach(p);
        return p;
      },
    );
    this.bySource?.set(source, profiled);
    this.pending.push({ round: rec.round, done: profiled.then(() => undefined) });
  }

  /**
   * Waits for the profiles started in rounds before `round`. With the patch, not past `bound`'s deadline
   * or a stop: false when it gave up (those profiles run on, still pending).
   */
  async settled(round: number, bound: ProfileWaitBound | null): Promise<boolean> {
    const due = this.pending.filter((p) => p.round < round);
    if (this.bounded && bound !== null && due.length > 0) {
      let all = false;
      const together = Promise.all(due.map((p) => p.done)).then(() => {
        all = true;
      });
      const leftMs = bound.deadlineMs - Date.now();
      if (leftMs > 0 && !bound.stopped()) await condition(() => all || bound.stopped(), leftMs);
      if (!all) return false;
      await together;
    }
    this.pending = this.pending.filter((p) => p.round >= round);
    await Promise.all(due.map((p) => p.done));
    return true;
  }

  /** At the end of the search: waits as `settled` does, then cancels what is left, recording why. */
  async finish(bound: ProfileWaitBound): Promise<void> {
    if (await this.settled(Infinity, bound)) return;
    this.endedWhy = bound.stopped() ? 'the search was stopped before its profile finished' : 'the search\'s budget ran out before its profile finished';
    this.scope?.cancel();
    await this.settled(Infinity, null); // a cancelled profile's call ends at once (TRY_CANCEL)
  }
}
/** Verifier messages in the status query and the result: head and tail, where the error itself is. */
const RECENT_MESSAGE_CHARS = 1200;
/** Wait after a round in which every candidate failed for infrastructure reasons, doubling up to the cap. */
const FAILED_ROUND_BACKOFF_MS = 5_000;
const FAILED_ROUND_BACKOFF_CAP_MS = 5 * 60_000;

export async function kernelSearch(input: SearchInput, carried?: CarriedState): Promise<SearchResult> {
  const { problem, options } = input;
  const searchId = workflowInfo().workflowId;
  // Verification goes to the GPU task queue; a verdict is data, so only infrastructure failures retry.
  const verifyOptions = {
    taskQueue: options.gpuTaskQueue,
    // what the activity gives the verifier (domain/defaults.ts), and a little more so its own timeout fires first
    startToCloseTimeout: `${verificationLimitS(options.verifyTimeoutS) + VERIFY_ACTIVITY_SLACK_S} seconds`,
    // A GPU worker that dies mid-verification is noticed after this long and the candidate retried elsewhere.
    heartbeatTimeout: '15 seconds',
    cancellationType: ActivityCancellationType.TRY_CANCEL,
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
  } satisfies ActivityOptions;
  const { verifyKernel } = proxyActivities<Activities>(verifyOptions);
  const byKey = patched(PROBLEM_BY_KEY_PATCH);
  const problemKey = byKey ? problemKeyOf(problem) : undefined;
  /** The problem as activity inputs carry it: by key (new searches), or whole (histories from before the patch). */
  const problemArg = () => (problemKey ? { problemKey } : { problem });
  const profiler = patched(PROFILE_PATCH) ? new Profiler(searchId, problemArg, options.verifyTimeoutS, verifyOptions, patched(PROFILE_BOUND_PATCH) ? (carried?.records.filter((r) => r.profile !== undefined && !r.profileReused).length ?? 0) : 0, patched(PROFILE_WAIT_PATCH), patched(PROFILE_REUSE_PATCH)) : null;
  /** With the patch, a proxy whose calls carry a summary for the UI's timeline. */
  const generateWith = (summary: string) => (byKey ? proxyActivities<Activities>({ ...GENERATE_OPTIONS, summary }).generateKernel : generateKernel);
  const verifyWith = (summary: string) => (byKey ? proxyActivities<Activities>({ ...verifyOptions, summary }).verifyKernel : verifyKernel);

  const state: CarriedState = carried ?? {
    startedAtMs: Date.now(),
    deadlineMs: Date.now() + options.budgetMs,
    round: 0,
    candidatesStarted: 0,
    records: [],
    best: null,
    tokens: 0,
    gpuSeconds: 0,
  };
  let stopRequested: string | null = null;
  const profileWaitBound = (): ProfileWaitBound => ({ deadlineMs: state.deadlineMs, stopped: () => stopRequested !== null });
  let stopReason: StopReason | null = null;
  /** Set when the search ends with an error or is cancelled: what the status query and the details say. */
  let ended: { phase: 'failed' | 'cancelled'; reason: string } | null = null;
  let failedRoundsInARow = 0;
  const isRunning = () => stopReason === null && ended === null;

  setHandler(statusQuery, (): SearchStatus => ({
    searchId,
    problemId: problem.id,
    phase: ended ? ended.phase : stopReason ? 'finished' : 'running',
    failure: ended?.reason ?? null,
    round: state.round,
    candidatesStarted: state.candidatesStarted,
    candidatesVerified: state.records.length,
    startedAtMs: state.startedAtMs,
    deadlineMs: state.deadlineMs,
    timeLeftMs: isRunning() ? Math.max(0, state.deadlineMs - Date.now()) : 0,
    best: state.best,
    stopReason,
    recent: state.records.slice(-10).map((r) => ({ round: r.round, index: r.index, status: r.verdict.status, message: truncateMiddle(r.verdict.message, RECENT_MESSAGE_CHARS) })),
    tokens: state.tokens,
    gpuSeconds: state.gpuSeconds ?? 0,
  }));
  setHandler(stopSignal, (reason?: string) => {
    stopRequested = reason || 'stop requested';
  });
  setHandler(
    extendBudgetUpdate,
    (extraMs: number) => {
      state.deadlineMs += extraMs;
      log.info('budget extended', { extraMs, deadlineMs: state.deadlineMs });
      updateDetails();
      return { deadlineMs: state.deadlineMs };
    },
    {
      validator: (extraMs: number) => {
        if (typeof extraMs !== 'number' || !Number.isFinite(extraMs) || extraMs <= 0) throw new Error('extension must be a positive number of milliseconds');
        if (extraMs > MAX_EXTENSION_MS) throw new Error(`extension must be at most ${formatDuration(MAX_EXTENSION_MS)}`);
        if (state.deadlineMs + extraMs - state.startedAtMs > MAX_TOTAL_BUDGET_MS) throw new Error(`total budget may not exceed ${formatDuration(MAX_TOTAL_BUDGET_MS)}`);
        if (stopReason) throw new Error('the search has already finished');
      },
    },
  );

  function updateDetails(): void {
    const best = state.best;
    const s = best ? speedup(best.verdict) : null;
    const sol = best ? solText(solOf(best.verdict)) : '';
    const bestText = !best ? 'none yet' : best.verdict.status !== 'correct' ? `closest: ${best.verdict.status}` : s !== null ? `${formatSpeedup(s, best.verdict.timing?.speedupVsEagerInterval)} vs eager${sol ? `, ${sol}` : ''}` : 'correct (untimed)';
    const headline = ended ? `${ended.phase}: ${ended.reason}` : stopReason ? `finished: ${STOP_REASON_TEXT[stopReason]}` : 'running';
    setCurrentDetails(
      [
        `**${problem.id}** (${problem.backend}) — ${headline}`,
        `round ${state.round}, ${state.records.length} candidates verified, best: ${bestText}`,
        `spent: ${spendText(state.gpuSeconds ?? 0, state.tokens)}`,
        // An ended search has no deadline left to show.
        ...(isRunning() ? [`deadline in ${formatDuration(state.deadlineMs - Date.now())}`] : []),
        // The latest verdicts, newest first: what each activity of the timeline came to.
        ...(state.records.length > 0 ? [state.records.slice(-DETAIL_VERDICTS).reverse().map((r) => `- round ${r.round} · candidate ${r.index} (${r.instruction}): **${r.verdict.status}**${verdictTail(r.verdict)}`).join('\n')] : []),
      ].join('\n\n'),
    );
  }

  function record(rec: CandidateRecord): void {
    state.tokens += rec.tokens;
    state.gpuSeconds = (state.gpuSeconds ?? 0) + (rec.verdict.gpuSeconds ?? 0);
    // appends the record; updates the best kernel and the population
    const isBest = recordCandidate(state, rec);
    if (isBest) {
      const s = speedup(rec.verdict);
      if (s !== null) upsertSearchAttributes([{ key: bestSpeedupKey, value: s }]);
    }
    if (isBest || state.population?.some((m) => m.round === rec.round && m.index === rec.index)) profiler?.start(state, rec, updateDetails);
    updateDetails();
  }

  async function runCandidate(round: number, index: number, feedback: Feedback): Promise<void> {
    const ctx = { searchId, problem: problemArg(), model: options.model, verifyTimeoutS: options.verifyTimeoutS, startedAtMs: state.startedAtMs, now: () => Date.now() };
    const acts = { generate: (req: GenerateRequest, summary: string) => generateWith(summary)(req), verify: (req: VerifyRequest, summary: string) => verifyWith(summary)(req) };
    const rec = await runCandidateWith(acts, ctx, round, index, feedback);
    record(rec);
    if (rec.source !== null) log.info('candidate verified', { round, index, status: rec.verdict.status });
  }

  /** Runs one round inside its own cancellation scope; the deadline or a stop cancels what is in flight. */
  async function runRound(): Promise<void> {
    state.round += 1;
    const round = state.round;
    await profiler?.settled(round - 1, profileWaitBound()); // profiles started two rounds ago (never the last round's: they overlap this one's generation)
    const remaining = options.maxCandidates > 0 ? options.maxCandidates - state.candidatesStarted : options.width;
    const plans = planNext(state, round, Math.min(options.width, remaining), patched(POPULATION_PATCH) ? 'population' : 'classic');
    state.candidatesStarted += plans.length;
    updateDetails();

    const scope = new CancellationScope();
    let settled = false;
    const done = scope.run(() => Promise.allSettled(plans.map((feedback, index) => runCandidate(round, index, feedback)))).finally(() => {
      settled = true;
    });
    while (!settled) {
      const left = state.deadlineMs - Date.now();
      if (left <= 0 || stopRequested !== null) {
        scope.cancel();
        break;
      }
      const deadlineSeen = state.deadlineMs;
      await condition(() => settled || stopRequested !== null || state.deadlineMs !== deadlineSeen, left);
    }
    const failures = (await done).flatMap((r) => (r.status === 'rejected' && !isCancellation(r.reason) ? [r.reason as unknown] : []));
    for (const f of failures) log.warn('candidate failed', { round, error: String(f) });
    // A verifier that cannot run this search at all (a CUDA problem on a CPU verifier) says so once; every
    // later candidate would get the same answer, so the search fails now with its words.
    const misconfigured = failures.find((f) => failureType(f) === 'VerifierConfiguration');
    if (misconfigured instanceof ActivityFailure) throw ApplicationFailure.nonRetryable(misconfigured.cause?.message ?? 'the verifier cannot run this search', 'VerifierConfiguration');
    if (plans.length === 0 || failures.length < plans.length) {
      failedRoundsInARow = 0;
      return;
    }
    // Every candidate failed after Temporal's retries. A refused request (bad key, unknown model) will not
    // get better: fail the search with the endpoint's words. Anything else: back off, then try again.
    const refused = failures.find((f) => failureType(f) === 'EndpointRejected');
    if (refused instanceof ActivityFailure) throw ApplicationFailure.nonRetryable(`every candidate of round ${round} was refused: ${refused.cause?.message}`, 'EndpointRejected');
    failedRoundsInARow += 1;
    const backoff = Math.min(FAILED_ROUND_BACKOFF_CAP_MS, FAILED_ROUND_BACKOFF_MS * 2 ** (failedRoundsInARow - 1));
    await condition(() => stopRequested !== null, Math.max(1, Math.min(backoff, state.deadlineMs - Date.now())));
  }

  function nextStopReason(): StopReason | null {
    if (stopRequested !== null) return 'stopped';
    if (Date.now() >= state.deadlineMs) return 'deadline';
    const best = state.best?.verdict;
    if (best?.status === 'correct') {
      // A CPU verifier cannot measure speed, so once a kernel is correct there is nothing left to improve.
      if (!best.timing?.meaningful) return 'solved_untimed';
      // The low end of the speedup's interval, where the verifier gives one: a noisy measurement does not end the search.
      if (options.targetSpeedup > 0 && (rankingSpeedup(best) ?? 0) >= options.targetSpeedup) return 'target_reached';
    }
    if (options.maxCandidates > 0 && state.candidatesStarted >= options.maxCandidates) return 'max_candidates';
    return null;
  }

  /**
   * Sets the status attribute and the details of an ending search. In a non-cancellable scope: a
   * cancelled search must still record that it ended, or `list --status running` would show it.
   */
  function finalise(status: SearchStatusValue): Promise<void> {
    return CancellationScope.nonCancellable(async () => {
      upsertSearchAttributes([{ key: statusKey, value: status }]);
      updateDetails();
      await Promise.resolve();
    });
  }

  updateDetails();
  upsertSearchAttributes([{ key: statusKey, value: 'running' }]);
  try {
    for (;;) {
      stopReason = nextStopReason();
      if (stopReason) break;
      if (workflowInfo().continueAsNewSuggested) {
        // profiles still running at the deadline or a stop: the next turn ends the search instead
        if (profiler && !(await profiler.settled(Infinity, profileWaitBound()))) continue;
        await condition(allHandlersFinished);
        await continueAsNew<typeof kernelSearch>(input, compact(state));
      }
      await runRound();
    }
  } catch (err) {
    if (isContinueAsNew(err)) throw err; // not an end: the next run carries on
    ended = isCancellation(err) ? { phase: 'cancelled', reason: 'the search was cancelled' } : { phase: 'failed', reason: failureMessage(err) };
    await finalise(ended.phase);
    throw err;
  }

  await profiler?.finish(profileWaitBound());
  const solved = state.best?.verdict.status === 'correct';
  await finalise(finalStatus(solved, stopReason));
  await condition(allHandlersFinished);
  const firstCorrect = state.records.find((r) => r.verdict.status === 'correct');
  return {
    searchId,
    problemId: problem.id,
    solved,
    stopReason,
    best: state.best,
    rounds: state.round,
    candidates: state.records.map((r) => ({ round: r.round, index: r.index, status: r.verdict.status, message: truncateMiddle(r.verdict.message, RECENT_MESSAGE_CHARS), speedupVsEager: speedup(r.verdict), atMs: r.atMs })),
    timeToFirstCorrectMs: firstCorrect ? firstCorrect.atMs : null,
    elapsedMs: Date.now() - state.startedAtMs,
    tokens: state.tokens,
    gpuSeconds: state.gpuSeconds ?? 0,
  };
}

/** The type of an activity's application failure ('EndpointRejected', 'VerifierConfiguration', …). */
function isContinueAsNew(err: unknown): boolean {
  return err instanceof ContinueAsNew;
}

function failureType(f: unknown): string | undefined {
  return f instanceof ActivityFailure && f.cause instanceof ApplicationFailure ? (f.cause.type ?? undefined) : undefined;
}

/** The innermost message of a failure chain: the words of whatever went wrong. */
function failureMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(err);
}

/**
 * Keeps what continue-as-new carries small: old candidates lose their source, artifact keys and all but
 * the start of their verifier message (the history of earlier runs still has them); the best kernel is
 * kept whole in `best`.
 */
function compact(state: CarriedState): CarriedState {
  const keepFrom = state.records.length - KEEP_SOURCES_OF_LAST;
  return {
    ...state,
    records: state.records.map((r, i) => (i >= keepFrom ? r : { ...r, source: null, artifacts: {}, verdict: { ...r.verdict, message: r.verdict.message.slice(0, 300) } })),
  };
}

/** After a verdict's status in the details: its speedup when correct and timed, else its error line. */
function verdictTail(v: VerdictSummary): string {
  if (v.status === 'correct') {
    const s = speedup(v);
    const sol = solText(solOf(v));
    return s !== null ? ` ${formatSpeedup(s, v.timing?.speedupVsEagerInterval)} vs eager${sol ? `, ${sol}` : ''}` : '';
  }
  const line = errorLine(v.message, 160);
  return line ? ` — ${line}` : '';
}
