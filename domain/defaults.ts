import type { SearchOptions } from './types.js';

export const ORCHESTRATOR_TASK_QUEUE = 'kernel-search';
export const DEFAULT_GPU_TASK_QUEUE = 'gpu-h100';
export const DEFAULT_BUDGET_MS = 15 * 60_000;
/** The most one `extendBudget` call may add, and the longest total budget a search may have. */
export const MAX_EXTENSION_MS = 24 * 3_600_000;
export const MAX_TOTAL_BUDGET_MS = 7 * 24 * 3_600_000;
/**
 * Beyond a candidate's own limit (and as long again waiting for its GPU), what one verification may take:
 * starting a candidate process (up to 180 s), the reference on a new problem and the first timing of its
 * eager, torch.compile and FlexAttention baselines. The activity gives the verifier this long; the
 * workflow's startToCloseTimeout adds VERIFY_ACTIVITY_SLACK_S, so the activity's own timeout (with the
 * verifier's stderr) fires first.
 */
export const VERIFY_SERVICE_MARGIN_S = 420;
export const VERIFY_ACTIVITY_SLACK_S = 60;

/** Seconds the verifier may take for a candidate with a limit of `timeoutS`. */
export function verificationLimitS(timeoutS: number): number {
  return 2 * timeoutS + VERIFY_SERVICE_MARGIN_S;
}

/** Candidates per round: more would put thousands of activities into one workflow task. */
export const MAX_WIDTH = 64;

export const DEFAULT_SEARCH_OPTIONS: SearchOptions = {
  budgetMs: DEFAULT_BUDGET_MS,
  width: 4,
  maxCandidates: 0,
  targetSpeedup: 0,
  model: '',
  gpuTaskQueue: DEFAULT_GPU_TASK_QUEUE,
  verifyTimeoutS: 600,
  campaign: '',
};

/** Custom search attributes (usable as typed keys); infra/ registers them on the namespace before first use. */
export const SEARCH_ATTRIBUTES = {
  problem: { name: 'KsProblem', type: 'KEYWORD' },
  campaign: { name: 'KsCampaign', type: 'KEYWORD' },
  status: { name: 'KsStatus', type: 'KEYWORD' },
  bestSpeedup: { name: 'KsBestSpeedup', type: 'DOUBLE' },
  backend: { name: 'KsBackend', type: 'KEYWORD' },
} as const;
