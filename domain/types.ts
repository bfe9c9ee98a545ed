// Types shared by the workflow, the activities and the CLI. Pure: no Node, no I/O, so the workflow
// bundle can import this file.
import type { ProblemKey } from './problemKey.js';
import type { Profile } from './profile.js';

export type Backend = 'triton' | 'cuda';
export const BACKENDS: readonly Backend[] = ['triton', 'cuda'];

export type VerdictStatus =
  | 'correct'
  | 'incorrect'
  | 'compile_error'
  | 'runtime_error'
  | 'timeout'
  | 'rejected'
  | 'infra_error';

export interface Problem {
  /** File basename without `.py`; also names the scripted replies folder. */
  id: string;
  /** The KernelBench-format Python source (a few KB), carried so any GPU host can verify. */
  source: string;
  backend: Backend;
  /** Per-problem tolerances (module constants ATOL / RTOL); the verifier's per-dtype defaults otherwise. */
  atol?: number;
  rtol?: number;
}

export interface SearchOptions {
  /** Time budget in ms; the deadline is fixed when the search starts. */
  budgetMs: number;
  /** Candidates generated and verified in parallel per round. */
  width: number;
  /** Stop after this many candidates (0 = no limit). */
  maxCandidates: number;
  /** End early once the best correct kernel reaches this speedup over eager (0 = never). */
  targetSpeedup: number;
  /** Model name; empty = the generation worker's default. */
  model: string;
  /** Task queue of the GPU workers. */
  gpuTaskQueue: string;
  /** Hard limit for one verification subprocess, seconds. */
  verifyTimeoutS: number;
  campaign: string;
}

export interface SearchInput {
  problem: Problem;
  options: SearchOptions;
}

export interface CorrectnessSummary {
  trials: number;
  passed: number;
  maxAbsError: number | null;
  maxRelError: number | null;
  mismatchFraction: number | null;
}

/** A 95% interval [low, high] of a timed quantity (the verifier's bootstrap of the median). */
export type Interval = [low: number, high: number];

export interface SpeedOfLightSummary {
  fraction: number;
  limiter: 'memory' | 'compute';
  achievedTbps: number;
  copyTbps: number;
  achievedTflops: number | null;
  peakTflops: number | null;
  peakDtype: string | null;
  /** No FLOPs counted for the reference: the figure is a bound from its bytes alone. */
  bytesOnly: boolean;
}

/** One kernel of a timed candidate, as the prompt sees it (the verdict's timing.hardware.kernels). */
export interface KernelHardwareSummary {
  name: string;
  callsPerCall: number | null;
  registers: number | null;
  sharedBytes: number | null;
  spillBytes: number | null;
  /** Estimated active warps over the SM's maximum, 0..1. */
  occupancy: number | null;
  occupancyLimiter: 'registers' | 'shared_memory' | 'warps' | 'blocks' | null;
  threadsPerBlock: number | null;
  /** Programs (blocks) in the grid. */
  blocks: number | null;
}

/** Hardware feedback: advice from (mostly) the candidate's own process, never a verdict's status. */
export interface HardwareSummary {
  source: 'candidate process' | 'parent' | 'mixed';
  kernels: KernelHardwareSummary[];
  launchesPerCall: number | null;
  referenceLaunchesPerCall: number | null;
  notes: string[];
}

export interface TimingSummary {
  meaningful: boolean;
  candidateMs: number | null;
  /** 95% interval of the candidate's median time; absent from older verifiers. */
  candidateMsInterval?: Interval | null;
  /** How the candidate was timed: "cuda-graph", "stream" or "cpu"; absent from older verifiers. */
  method?: string | null;
  methodNote?: string | null;
  /** Host time per call of the candidate. */
  hostMs?: number | null;
  eagerMsInterval?: Interval | null;
  compileMsInterval?: Interval | null;
  speedupVsEagerInterval?: Interval | null;
  speedupVsCompileInterval?: Interval | null;
  compileMode?: string | null;
  /** Why a person should look at this kernel (faster than the reference's FLOPs allow at the card's peak). */
  review?: string | null;
  /** Achieved fraction of the card's limit for the problem; absent from older verifiers. */
  sol?: SpeedOfLightSummary | null;
  /** Kernels, occupancy and launches; absent from older verifiers. */
  hardware?: HardwareSummary | null;
  eagerMs: number | null;
  compileMs: number | null;
  speedupVsEager: number | null;
  speedupVsCompile: number | null;
  /** Against compiled FlexAttention, for attention problems. */
  speedupVsFlex?: number | null;
}

/** What the workflow keeps of one verdict: small, so history stays small. */
export interface VerdictSummary {
  status: VerdictStatus;
  message: string;
  correctness: CorrectnessSummary | null;
  timing: TimingSummary | null;
  cheats: { class: string; evidence: string }[];
  gpu: string | null;
  /** Key of the full verdict JSON in the artifact store. */
  artifactKey: string | null;
  /**
   * GPU-seconds of this verification: the wall time it held its verifier slot (activities/verifyKernel.ts),
   * divided by the slots that share its GPU. Absent when nothing was verified (a reply without code) and
   * from workers before it; on the CPU verifier, seconds of a CPU lane.
   */
  gpuSeconds?: number;
}

export interface CandidateRecord {
  round: number;
  index: number;
  /** What this candidate was asked to do (fix, faster, explore, combine). */
  instruction: Instruction;
  /** The candidates its prompt followed up on, as "round.index" (a fix's failure, the kernels it combined). */
  parents?: string[];
  /** Candidate source; dropped from records carried over continue-as-new except for the best. */
  source: string | null;
  verdict: VerdictSummary;
  /** Milliseconds since the search started, when the verdict came in. */
  atMs: number;
  tokens: number;
  artifacts: Record<string, string>;
  /** Nsight Compute counters, when this candidate was one of the search's profiled few (domain/profile.ts). */
  profile?: Profile;
  /** True when `profile` is an identical earlier kernel's (patch 'ncu-profile-reuse-identical'): no profile of its own. */
  profileReused?: boolean;
}

export type Instruction = 'first' | 'fix' | 'faster' | 'explore' | 'combine';

/** The slice of past work that the next prompt is built from. */
export interface Feedback {
  instruction: Instruction;
  /** The attempt this prompt follows up on, if any. */
  previous: { source: string; verdict: VerdictSummary; profile?: Profile } | null;
  best: { source: string; speedupVsEager: number | null; speedupVsCompile: number | null } | null;
  /** One line each for other recent attempts, newest first. */
  recent: string[];
  /** For 'combine': the second correct kernel whose ideas are to be merged with `previous`. */
  other?: { source: string; verdict: VerdictSummary; profile?: Profile } | null;
  /** The approaches the population already holds (domain/signature.ts), for 'explore' to avoid. */
  approaches?: string[];
  /** The candidates this prompt follows up on, as "round.index"; copied into the candidate's record. */
  parents?: string[];
}

/** One kernel of the search's population (domain/population.ts): a correct kernel of its own approach. */
export interface PopulationMember {
  round: number;
  index: number;
  source: string;
  /** Its signature key (domain/signature.ts). */
  signature: string;
  verdict: VerdictSummary;
  /** Its Nsight Compute counters, once profiled (workflows/kernelSearch.ts, patch 'ncu-profile'). */
  profile?: Profile;
}

export interface GenerateRequest {
  searchId: string;
  /** Searches started before problem keys (patch 'problem-by-key') send the whole problem. */
  problem?: Problem;
  /** The problem by key: the activity takes its source from the search's start event. */
  problemKey?: ProblemKey;
  round: number;
  index: number;
  model: string;
  feedback: Feedback;
}

export interface GenerateResult {
  /** The extracted kernel module, or null when the reply held no code block. */
  source: string | null;
  model: string;
  tokens: { prompt: number; completion: number };
  artifacts: Record<string, string>;
}

export interface VerifyRequest {
  searchId: string;
  /** As in GenerateRequest: the whole problem (older searches) or its key. */
  problem?: Problem;
  problemKey?: ProblemKey;
  round: number;
  index: number;
  candidateSource: string;
  timeoutS: number;
}

export type StopReason = 'deadline' | 'stopped' | 'target_reached' | 'max_candidates' | 'solved_untimed';

export interface SearchStatus {
  searchId: string;
  problemId: string;
  /** 'failed': the search ended with an error (`failure` says which); 'cancelled': it was cancelled. */
  phase: 'running' | 'finished' | 'failed' | 'cancelled';
  failure?: string | null;
  round: number;
  candidatesStarted: number;
  candidatesVerified: number;
  startedAtMs: number;
  deadlineMs: number;
  timeLeftMs: number;
  best: BestKernel | null;
  stopReason: StopReason | null;
  recent: { round: number; index: number; status: VerdictStatus; message: string }[];
  /** Spent so far: model tokens and GPU-seconds of verification (absent from workflows before them). */
  tokens?: number;
  gpuSeconds?: number;
}

export interface BestKernel {
  round: number;
  index: number;
  source: string;
  verdict: VerdictSummary;
  profile?: Profile;
}

export interface SearchResult {
  searchId: string;
  problemId: string;
  solved: boolean;
  stopReason: StopReason;
  /** Best correct kernel, or the closest attempt when none was correct. */
  best: BestKernel | null;
  rounds: number;
  candidates: { round: number; index: number; status: VerdictStatus; message: string; speedupVsEager: number | null; atMs: number }[];
  timeToFirstCorrectMs: number | null;
  elapsedMs: number;
  tokens: number;
  /** GPU-seconds of all its verifications (VerdictSummary.gpuSeconds); absent from results before it. */
  gpuSeconds?: number;
}

export interface CampaignInput {
  /** Campaign name; the campaign's workflow id and its children's ids derive from it. */
  name: string;
  problems: Problem[];
  options: SearchOptions;
  /** Searches running at once (default: one per connected GPU slot). */
  concurrency: number;
}

export type CampaignEntryStatus = 'pending' | 'running' | 'solved' | 'unsolved' | 'failed' | 'kept';

export interface CampaignEntry {
  problemId: string;
  searchId: string;
  status: CampaignEntryStatus;
  /** Why a child failed (its failure message), when it did. */
  error?: string;
  bestSpeedup: number | null;
  /** For a search kept from an earlier run: whether it had solved its problem. */
  keptSolved?: boolean;
}

export interface CampaignProgress {
  name: string;
  total: number;
  done: number;
  solved: number;
  running: number;
  failed: number;
  concurrency: number;
  startedAtMs: number;
  budgetMs: number;
  entries: CampaignEntry[];
}
