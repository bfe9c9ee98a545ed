// `kernel-search report CAMPAIGN`: gathers the campaign's searches from Temporal and writes
// report.html, report.json and report.csv. An audit's report is cli/auditReport.ts (reportKind tells them apart).
import type { Client } from '@temporalio/client';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { SEARCH_ATTRIBUTES } from '../domain/defaults.js';
import { auditWorkflowId } from '../domain/audit.js';
import { campaignWorkflowId } from '../domain/ids.js';
import type { ProblemOutcome } from '../domain/metrics.js';
import { profileDiagnosis } from '../domain/profileDiagnosis.js';
import type { CampaignInput, SearchInput, SearchResult } from '../domain/types.js';
import { workflowUrl, type TemporalTarget } from '../infra/temporal.js';
import { buildReport, renderCsv, renderHtml, renderJson } from '../report/render.js';

export async function gatherOutcomes(client: Client, target: TemporalTarget, campaign: string): Promise<{ outcomes: (ProblemOutcome & { url: string })[]; budgetMs: number }> {
  const ids = new Set<string>();
  for await (const wf of client.workflow.list({ query: `${SEARCH_ATTRIBUTES.campaign.name} = '${campaign.replace(/'/g, "\\'")}' AND WorkflowType = 'kernelSearch'` })) ids.add(wf.workflowId);
  let longestMs = 0;
  const outcomes: (ProblemOutcome & { url: string })[] = [];
  for (const id of [...ids].sort()) {
    const handle = client.workflow.getHandle(id);
    const d = await handle.describe();
    const problemId = d.typedSearchAttributes.get(SEARCH_ATTRIBUTES.problem) ?? id;
    const base: ProblemOutcome & { url: string } = {
      problemId,
      level: Number(/^level(\d+)-/.exec(problemId)?.[1]) || null,
      searchId: id,
      status: d.status.name === 'RUNNING' ? 'running' : 'failed',
      speedup: { eager: null, compile: null, flex: null },
      timeToFirstCorrectMs: null,
      candidates: 0,
      tokens: 0,
      bestSource: null,
      url: workflowUrl(target, id),
    };
    if (d.status.name === 'COMPLETED') {
      const r = (await handle.result()) as SearchResult;
      const timing = r.best?.verdict.status === 'correct' && r.best.verdict.timing?.meaningful ? r.best.verdict.timing : null;
      longestMs = Math.max(longestMs, r.elapsedMs);
      Object.assign(base, {
        status: r.solved ? 'solved' : 'unsolved',
        speedup: { eager: timing?.speedupVsEager ?? null, compile: timing?.speedupVsCompile ?? null, flex: timing?.speedupVsFlex ?? null },
        speedupEagerInterval: timing?.speedupVsEagerInterval ?? null,
        timeToFirstCorrectMs: r.timeToFirstCorrectMs,
        candidates: r.candidates.length,
        tokens: r.tokens,
        gpuSeconds: r.gpuSeconds ?? 0,
        sol: timing?.sol ? { fraction: timing.sol.fraction, limiter: timing.sol.limiter, bytesOnly: timing.sol.bytesOnly } : null,
        bestSource: r.best?.source ?? null,
        bestProfile: profileDiagnosis(r.best?.profile),
      });
    } else if (d.status.name !== 'RUNNING') {
      base.reason = await handle.result().then(
        () => null,
        (err: unknown) => innermost(err),
      );
    }
    outcomes.push(base);
  }
  // The configured budget per problem (the chart's axis), not how long the longest search happened to run.
  const budgetMs = (await configuredBudgetMs(client, campaign, [...ids].sort()[0])) ?? longestMs;
  return { outcomes, budgetMs };
}

/** The first run's input of a workflow, from its history. */
async function startInput<T>(client: Client, workflowId: string): Promise<T | null> {
  try {
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    return payload ? defaultPayloadConverter.fromPayload<T>(payload) : null;
  } catch {
    return null;
  }
}

/** The campaign's budget per problem: its workflow's input, or (searches started with `run --campaign`) a search's. */
async function configuredBudgetMs(client: Client, campaign: string, someSearchId: string | undefined): Promise<number | null> {
  const fromCampaign = await startInput<CampaignInput>(client, campaignWorkflowId(campaign));
  if (fromCampaign) return fromCampaign.options.budgetMs;
  if (someSearchId === undefined) return null;
  return (await startInput<SearchInput>(client, someSearchId))?.options.budgetMs ?? null;
}

/** A failure's own words: the innermost message of its cause chain ("Workflow execution failed" says nothing). */
function innermost(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return (e instanceof Error ? e.message : String(err)).split('\n')[0]!;
}

export async function writeReport(client: Client, target: TemporalTarget, campaign: string, outDir: string): Promise<{ files: string[]; problems: number }> {
  const { outcomes, budgetMs } = await gatherOutcomes(client, target, campaign);
  if (outcomes.length === 0) throw new Error(`no searches belong to campaign "${campaign}"`);
  const data = buildReport(campaign, budgetMs, outcomes);
  mkdirSync(outDir, { recursive: true });
  const files = [
    [path.join(outDir, 'report.html'), renderHtml(data)],
    [path.join(outDir, 'report.json'), renderJson(data)],
    [path.join(outDir, 'report.csv'), renderCsv(data)],
  ] as const;
  for (const [file, text] of files) writeFileSync(file, text);
  return { files: files.map(([f]) => f), problems: outcomes.length };
}

/**
 * Whether `report NAME` means an audit or a campaign: an audit has its workflow `audit-NAME`; a campaign
 * its workflow `campaign-NAME` or searches tagged with the name (`run --campaign`). Both: `--kind` decides.
 */
export async function reportKind(client: Client, name: string, kind?: 'audit' | 'campaign'): Promise<'audit' | 'campaign'> {
  if (kind) return kind;
  const exists = (id: string) => client.workflow.getHandle(id).describe().then(() => true, () => false);
  if (!(await exists(auditWorkflowId(name)))) return 'campaign';
  let campaign = await exists(campaignWorkflowId(name));
  if (!campaign) {
    const searches = client.workflow.list({ query: `${SEARCH_ATTRIBUTES.campaign.name} = '${name.replace(/'/g, "\\'")}' AND WorkflowType = 'kernelSearch'`, pageSize: 1 })[Symbol.asyncIterator]();
    campaign = !(await searches.next()).done;
  }
  if (campaign) throw new Error(`both an audit and a campaign are named "${name}": say which with --kind audit or --kind campaign`);
  return 'audit';
}
