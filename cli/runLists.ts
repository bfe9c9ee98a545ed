// `kernel-search list --kind campaign|audit`: the campaigns or audits of the cluster, newest first, each
// with how far it got: a running one from its progress query, a finished one from its result (the
// entries it returned), so a finished run needs no worker to be listed.
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import type { AuditEntry, AuditProgress } from '../domain/audit.js';
import type { CampaignEntry, CampaignProgress } from '../domain/types.js';
import { auditProgressQuery } from '../workflows/auditDefinitions.js';
import { campaignProgressQuery } from '../workflows/definitions.js';

export type RunKind = 'campaign' | 'audit';

export interface RunRow {
  name: string;
  workflowId: string;
  workflowStatus: string;
  /** Problems (campaign) or kernels (audit), and how many are done; null when it could not be read. */
  total: number | null;
  done: number | null;
  /** Solved problems (campaign) or kernels that held up (audit). */
  good: number | null;
  failed: number | null;
  startTime: string;
  closeTime: string | null;
}

/** A running workflow's query waits for a worker; one that does not answer in this long is listed without progress. */
const QUERY_DEADLINE_MS = 5_000;

const PREFIX: Record<RunKind, string> = { campaign: 'campaign-', audit: 'audit-' };

interface Counts {
  total: number;
  done: number;
  good: number;
  failed: number;
}

function campaignCounts(entries: CampaignEntry[]): Counts {
  const solved = entries.filter((e) => e.status === 'solved' || (e.status === 'kept' && e.keptSolved)).length;
  const done = entries.filter((e) => e.status !== 'pending' && e.status !== 'running').length;
  return { total: entries.length, done, good: solved, failed: entries.filter((e) => e.status === 'failed').length };
}

function auditCounts(entries: AuditEntry[]): Counts {
  const done = entries.filter((e) => e.status === 'judged' || e.status === 'failed').length;
  return { total: entries.length, done, good: entries.filter((e) => e.verdictStatus === 'correct').length, failed: entries.filter((e) => e.status === 'failed').length };
}

async function countsOf(client: Client, kind: RunKind, wf: WorkflowExecutionInfo): Promise<Counts | null> {
  const handle = client.workflow.getHandle(wf.workflowId, wf.runId);
  try {
    if (wf.status.name === 'RUNNING') {
      return await client.connection.withDeadline(Date.now() + QUERY_DEADLINE_MS, async () => {
        if (kind === 'campaign') {
          const p: CampaignProgress = await handle.query(campaignProgressQuery);
          return { total: p.total, done: p.done, good: p.solved, failed: p.failed };
        }
        const p: AuditProgress = await handle.query(auditProgressQuery);
        return { total: p.total, done: p.done, good: p.heldUp, failed: p.failed };
      });
    }
    if (wf.status.name === 'COMPLETED') {
      const entries = (await handle.result()) as unknown;
      if (!Array.isArray(entries)) return null;
      return kind === 'campaign' ? campaignCounts(entries as CampaignEntry[]) : auditCounts(entries as AuditEntry[]);
    }
  } catch {
    return null; // no worker to answer the query, or a result of another shape: listed without progress
  }
  return null;
}

export async function listRuns(client: Client, kind: RunKind, limit: number): Promise<RunRow[]> {
  const rows: RunRow[] = [];
  const seen = new Set<string>();
  for await (const wf of client.workflow.list({ query: `WorkflowType = '${kind}'` })) {
    if (seen.has(wf.workflowId)) continue; // an earlier run of a campaign or audit submitted again: its newest is listed
    seen.add(wf.workflowId);
    const c = await countsOf(client, kind, wf);
    rows.push({
      name: wf.workflowId.startsWith(PREFIX[kind]) ? wf.workflowId.slice(PREFIX[kind].length) : wf.workflowId,
      workflowId: wf.workflowId,
      workflowStatus: wf.status.name,
      total: c?.total ?? null,
      done: c?.done ?? null,
      good: c?.good ?? null,
      failed: c?.failed ?? null,
      startTime: wf.startTime.toISOString(),
      closeTime: wf.closeTime?.toISOString() ?? null,
    });
    if (rows.length >= limit) break;
  }
  return rows;
}

/** The table `list --kind` prints. */
export function runTable(kind: RunKind, rows: RunRow[]): string[][] {
  const goodWord = kind === 'campaign' ? 'SOLVED' : 'HELD UP';
  const n = (v: number | null) => (v === null ? '-' : String(v));
  return [
    ['NAME', 'EXECUTION', 'DONE', goodWord, 'FAILED', 'STARTED', 'CLOSED'],
    ...rows.map((r) => [r.name, r.workflowStatus, r.total === null ? '-' : `${r.done}/${r.total}`, n(r.good), n(r.failed), r.startTime, r.closeTime ?? '-']),
  ];
}
