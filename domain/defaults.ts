import type { SearchOptions } from './types.js';

export const ORCHESTRATOR_TASK_QUEUE = 'kernel-search';
export const DEFAULT_GPU_TASK_QUEUE = 'gpu-h100';
export const DEFAULT_BUDGET_MS = 15 * 60_000;
/** The most one `extendBudget` call may add, and the longest total budget a search may have. */
export const MAX_EXTENSION_MS = 24 * 3_600_000;
export const MAX_TOTAL_BUDGET_MS = 7 * 24 * 3_600_000;
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
