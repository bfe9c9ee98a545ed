// describeSearch: what became of a search the campaign could not start because its id was taken.
// Runs on the orchestrator (it only talks to Temporal). The campaign needs it to tell a search that
// finished in an earlier run (its result stands) from one of an earlier run's children that is still
// being terminated (it must wait, then run it again).
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { SearchResult } from '../domain/types.js';

export interface ExistingSearch {
  /** RUNNING, COMPLETED, FAILED, TERMINATED, CANCELLED, TIMED_OUT, … */
  status: string;
  solved: boolean | null;
  bestSpeedup: number | null;
}

export function createCampaignActivities() {
  async function describeSearch(searchId: string): Promise<ExistingSearch> {
    const handle = Context.current().client.workflow.getHandle(searchId);
    const status = (await handle.describe()).status.name;
    if (status !== 'COMPLETED') return { status, solved: null, bestSpeedup: null };
    const result = (await handle.result()) as SearchResult;
    const timing = result.best?.verdict.timing;
    return { status, solved: result.solved, bestSpeedup: timing?.meaningful ? timing.speedupVsEager : null };
  }
  /** Each search by id; NOT_FOUND for one that was never started. One activity for a campaign's whole list. */
  async function describeSearches(searchIds: string[]): Promise<ExistingSearch[]> {
    const out: ExistingSearch[] = [];
    for (const id of searchIds) {
      out.push(
        await describeSearch(id).catch((err: unknown) => {
          if (err instanceof WorkflowNotFoundError) return { status: 'NOT_FOUND', solved: null, bestSpeedup: null };
          throw err;
        }),
      );
      Context.current().heartbeat(out.length);
    }
    return out;
  }
  return { describeSearch, describeSearches };
}
