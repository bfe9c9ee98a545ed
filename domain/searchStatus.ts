// What a search's status reads as, for `list`, `status` and the campaign: the KsStatus search attribute
// the workflow sets, corrected by the execution status where the workflow could not set it (a terminated
// or timed-out run never gets to run its own code). Pure: the workflow bundle imports it.
import type { StopReason } from './types.js';

/** Values of the KsStatus search attribute, and what `list --status` accepts. */
export const SEARCH_STATUSES = ['running', 'solved', 'unsolved', 'stopped', 'failed', 'cancelled', 'terminated', 'timed_out'] as const;
export type SearchStatusValue = (typeof SEARCH_STATUSES)[number];

/** KsStatus values only the execution status knows of: the workflow cannot set them itself. */
const FROM_EXECUTION: Record<string, SearchStatusValue> = { TERMINATED: 'terminated', TIMED_OUT: 'timed_out', FAILED: 'failed', CANCELLED: 'cancelled' };

/** The status to show, from the execution status (RUNNING, COMPLETED, FAILED, …) and KsStatus. */
export function displayedStatus(executionStatus: string, ksStatus: string | undefined): string {
  return FROM_EXECUTION[executionStatus] ?? ksStatus ?? executionStatus.toLowerCase();
}

/**
 * The visibility query clause for `list --status X`. KsStatus alone is not enough: a terminated search
 * keeps the `running` it had, so each value is also pinned to (or taken from) the execution status.
 */
export function statusClause(status: SearchStatusValue, attribute: string): string {
  switch (status) {
    case 'running':
      return `${attribute} = 'running' AND ExecutionStatus = 'Running'`;
    case 'terminated':
      return `ExecutionStatus = 'Terminated'`;
    case 'timed_out':
      return `ExecutionStatus = 'TimedOut'`;
    case 'failed':
      return `(${attribute} = 'failed' OR ExecutionStatus = 'Failed')`;
    case 'cancelled':
      return `(${attribute} = 'cancelled' OR ExecutionStatus = 'Canceled')`;
    default:
      return `${attribute} = '${status}' AND ExecutionStatus = 'Completed'`;
  }
}

export function isSearchStatus(text: string): text is SearchStatusValue {
  return (SEARCH_STATUSES as readonly string[]).includes(text);
}

/** The stop reason in words, for people. */
export const STOP_REASON_TEXT: Record<StopReason, string> = {
  deadline: 'the budget ran out',
  stopped: 'stopped on request',
  target_reached: 'the target speedup was reached',
  max_candidates: 'the candidate limit was reached',
  solved_untimed: 'a correct kernel was found (this verifier cannot time it, so there is nothing left to improve)',
};

/** KsStatus of a search that ended normally. */
export function finalStatus(solved: boolean, stopReason: StopReason): SearchStatusValue {
  if (solved) return 'solved';
  return stopReason === 'stopped' ? 'stopped' : 'unsolved';
}
