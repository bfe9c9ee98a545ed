// `kernel-search report NAME` for an audit: each kernel's child workflow by id (the audit's latest input
// names them all), its verdict, and the full verdict JSON copied next to the report when this machine's
// artifact store holds it. Writes report.html, report.json and report.csv.
import type { Client } from '@temporalio/client';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ArtifactStore } from '../activities/artifacts.js';
import { auditKernelWorkflowId, auditWorkflowId, type AuditEntry, type AuditKernelResult } from '../domain/audit.js';
import { workflowUrl, type TemporalTarget } from '../infra/temporal.js';
import { buildAuditReport, renderAuditCsv, renderAuditHtml, renderAuditJson, type AuditReportData, type AuditRow } from '../report/audit.js';
import { auditInputOf, localArtifact } from './audits.js';

export async function gatherAudit(client: Client, target: TemporalTarget, name: string, outDir: string, store = new ArtifactStore()): Promise<AuditReportData> {
  const input = await auditInputOf(client, name);
  if (!input) throw new Error(`no audit named "${name}"`);
  const parent = client.workflow.getHandle(auditWorkflowId(name));
  // Which kernels the latest run kept from an earlier one: its result says, once it has finished.
  const parentEntries: AuditEntry[] | null = (await parent.describe()).status.name === 'COMPLETED' ? ((await parent.result()) as AuditEntry[]) : null;
  const sources = new Map(input.problems.map((p) => [p.id, p.source]));
  const rows: AuditRow[] = [];
  for (const k of input.kernels) {
    const workflowId = auditKernelWorkflowId(name, k.kernelId, k.source, sources.get(k.problemId) ?? '');
    const row: AuditRow = {
      kernelId: k.kernelId,
      file: k.file,
      problemId: k.problemId,
      workflowId,
      url: workflowUrl(target, workflowId),
      state: 'pending',
      kept: parentEntries?.find((e) => e.workflowId === workflowId)?.kept ?? false,
      verdict: null,
      error: null,
      verdictFile: null,
      source: k.source,
    };
    const handle = client.workflow.getHandle(workflowId);
    const status = await handle.describe().then(
      (d) => d.status.name,
      () => 'NOT_FOUND',
    );
    if (status === 'COMPLETED') {
      const result = (await handle.result()) as AuditKernelResult;
      row.state = 'judged';
      row.verdict = result.verdict;
      const local = result.verdict.artifactKey ? localArtifact(result.verdict.artifactKey, store) : null;
      if (local) {
        row.verdictFile = `verdicts/${k.kernelId.replace(/[^A-Za-z0-9._-]/g, '_')}.json`;
        mkdirSync(path.join(outDir, 'verdicts'), { recursive: true });
        copyFileSync(local, path.join(outDir, row.verdictFile));
      }
    } else if (status === 'RUNNING') {
      row.state = 'running';
    } else if (status !== 'NOT_FOUND') {
      row.state = 'failed';
      row.error = await handle.result().then(
        () => null,
        (err: unknown) => innermost(err),
      );
    }
    rows.push(row);
  }
  return buildAuditReport({ audit: name, kernelsPath: input.kernelsPath, url: workflowUrl(target, auditWorkflowId(name)), rows, unmatched: input.unmatched, problemsWithoutKernel: input.problemsWithoutKernel });
}

export async function writeAuditReport(client: Client, target: TemporalTarget, name: string, outDir: string): Promise<{ files: string[]; kernels: number; summaryLine: string }> {
  mkdirSync(outDir, { recursive: true });
  const data = await gatherAudit(client, target, name, outDir);
  const files = [
    [path.join(outDir, 'report.html'), renderAuditHtml(data)],
    [path.join(outDir, 'report.json'), renderAuditJson(data)],
    [path.join(outDir, 'report.csv'), renderAuditCsv(data)],
  ] as const;
  for (const [file, text] of files) writeFileSync(file, text);
  return { files: files.map(([f]) => f), kernels: data.rows.length, summaryLine: data.summaryLine };
}

function innermost(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return (e instanceof Error ? e.message : String(err)).split('\n')[0]!;
}
