// The audit report and the verdict as a person reads it: per kernel its file, its verdict in words, the
// cheats with their evidence, correctness figures, speedups with their 95% intervals and the % of speed
// of light; a summary line "N of M claimed kernels held up". One self-contained HTML file (nothing
// fetched), plus JSON and CSV of the same rows. Pure: cli/auditReport.ts gathers the data.
import { heldUp, verdictInWords, type AuditEntryStatus, type SkippedKernel } from '../domain/audit.js';
import { formatSpeedup } from '../domain/ranking.js';
import { clip, errorLine } from '../domain/text.js';
import { diagnoseHardware } from '../domain/diagnosis.js';
import type { HardwareSummary, KernelHardwareSummary, VerdictSummary } from '../domain/types.js';

export interface AuditRow {
  kernelId: string;
  file: string;
  problemId: string;
  workflowId: string;
  url: string;
  /** judged (a verdict), failed (the verifier could not judge it), or still pending / running. */
  state: AuditEntryStatus;
  /** Judged in an earlier run of the audit and kept. */
  kept: boolean;
  verdict: VerdictSummary | null;
  /** Why it was not judged, for failed rows. */
  error: string | null;
  /** The full verdict JSON copied next to the report (relative path), when this machine's artifact store has it. */
  verdictFile: string | null;
  source: string | null;
}

export interface AuditSummary {
  /** Kernels matched to a problem and sent to the verifier. */
  claimed: number;
  judged: number;
  heldUp: number;
  /** Judged, not held up, by verdict status. */
  byStatus: Record<string, number>;
  /** Kernels caught cheating, by cheat class (a kernel may be in several). */
  cheats: Record<string, number>;
  /** Not judged: the verifier failed on them, or they are still pending. */
  notJudged: number;
  /** Held up and faster than eager PyTorch for sure (the low end of the 95% interval above 1). */
  fasterThanEager: number;
  /** Held-up kernels with a meaningful timing (a GPU verifier). */
  timed: number;
  geomeanSpeedupVsEager: number | null;
  unmatched: number;
  problemsWithoutKernel: number;
}

export interface AuditReportData {
  audit: string;
  kernelsPath: string;
  generatedAt: string;
  summaryLine: string;
  summary: AuditSummary;
  rows: AuditRow[];
  unmatched: SkippedKernel[];
  problemsWithoutKernel: string[];
  /** The audit's own workflow, in the Temporal UI. */
  url: string;
}

export function summarizeAudit(rows: AuditRow[], unmatched: SkippedKernel[], problemsWithoutKernel: string[]): AuditSummary {
  const judged = rows.filter((r) => r.state === 'judged' && r.verdict);
  const held = judged.filter((r) => heldUp(r.verdict));
  const byStatus: Record<string, number> = {};
  const cheats: Record<string, number> = {};
  for (const r of judged) {
    if (heldUp(r.verdict)) continue;
    byStatus[r.verdict!.status] = (byStatus[r.verdict!.status] ?? 0) + 1;
    for (const cls of new Set(r.verdict!.cheats.map((c) => c.class))) cheats[cls] = (cheats[cls] ?? 0) + 1;
  }
  const timed = held.filter((r) => r.verdict!.timing?.meaningful && r.verdict!.timing.speedupVsEager !== null);
  const speedups = timed.map((r) => r.verdict!.timing!.speedupVsEager!).filter((s) => s > 0);
  return {
    claimed: rows.length,
    judged: judged.length,
    heldUp: held.length,
    byStatus,
    cheats,
    notJudged: rows.length - judged.length,
    fasterThanEager: timed.filter((r) => (r.verdict!.timing!.speedupVsEagerInterval?.[0] ?? r.verdict!.timing!.speedupVsEager!) > 1).length,
    timed: timed.length,
    geomeanSpeedupVsEager: speedups.length === 0 ? null : Math.exp(speedups.reduce((a, s) => a + Math.log(s), 0) / speedups.length),
    unmatched: unmatched.length,
    problemsWithoutKernel: problemsWithoutKernel.length,
  };
}

/** "3 of 5 claimed kernels held up; 1 rejected for cheating (torch-fallback); …" */
export function auditSummaryLine(s: AuditSummary): string {
  const parts = [`${s.heldUp} of ${s.claimed} claimed kernel${s.claimed === 1 ? '' : 's'} held up`];
  const cheating = s.byStatus.rejected ?? 0;
  if (cheating > 0) parts.push(`${cheating} rejected for cheating (${Object.entries(s.cheats).map(([c, n]) => `${c} ${n}`).join(', ')})`);
  const wrong = Object.entries(s.byStatus).filter(([k]) => k !== 'rejected');
  if (wrong.length > 0) parts.push(wrong.map(([k, n]) => `${n} ${k.replace('_', ' ')}`).join(', '));
  if (s.notJudged > 0) parts.push(`${s.notJudged} not judged`);
  if (s.timed > 0) parts.push(`${s.fasterThanEager} of the ${s.timed} timed faster than eager PyTorch`);
  if (s.unmatched > 0) parts.push(`${s.unmatched} file(s) matched no problem and were not verified`);
  if (s.problemsWithoutKernel > 0) parts.push(`${s.problemsWithoutKernel} problem(s) had no kernel`);
  return parts.join('; ');
}

/** The line of the kernel a verifier message points at (`candidate.py:22: SyntaxError …`), with its text. */
export function sourceLocation(message: string, source: string | null): { line: number; text: string | null } | null {
  const m = /candidate\.py"?,?(?::| line )(\d+)/.exec(message);
  if (!m) return null;
  const line = Number(m[1]);
  const text = source?.split('\n')[line - 1];
  return { line, text: text === undefined ? null : text.trimEnd() };
}

const ms = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : v >= 1 ? `${v.toFixed(3)} ms` : `${(v * 1000).toFixed(1)} µs`);
const msInterval = (v: number | null | undefined, iv: readonly [number, number] | null | undefined) =>
  v === null || v === undefined ? 'n/a' : iv ? `${ms(v)} [${ms(iv[0])}–${ms(iv[1])}]` : ms(v);
const sci = (v: number | null) => (v === null ? 'n/a' : v === 0 ? '0' : v.toExponential(2));

/** % of speed of light in words: "71% of the copy rate (memory-bound)". */
export function solText(v: VerdictSummary): string | null {
  const sol = v.timing?.meaningful ? v.timing.sol : null;
  if (!sol) return null;
  const what = sol.limiter === 'memory' ? `the card's copy rate, ${sol.achievedTbps.toFixed(2)} of ${sol.copyTbps.toFixed(2)} TB/s` : `the card's ${sol.peakDtype ? `${sol.peakDtype} ` : ''}peak${sol.achievedTflops !== null && sol.peakTflops !== null ? `, ${sol.achievedTflops.toFixed(1)} of ${sol.peakTflops.toFixed(0)} TFLOP/s` : ''}`;
  return `${Math.round(sol.fraction * 100)}% of ${what} (${sol.limiter}-bound${sol.bytesOnly ? ', bytes only' : ''})`;
}

/** The speedups of a meaningful timing: "1.63× [1.60–1.66] vs eager, 1.20× vs torch.compile". */
export function speedupText(v: VerdictSummary): string | null {
  const t = v.timing;
  if (!t?.meaningful || t.speedupVsEager === null) return null;
  const parts = [`${formatSpeedup(t.speedupVsEager, t.speedupVsEagerInterval)} vs eager`];
  if (t.speedupVsCompile !== null) parts.push(`${formatSpeedup(t.speedupVsCompile, t.speedupVsCompileInterval)} vs torch.compile${t.compileMode ? ` (${t.compileMode})` : ''}`);
  if (t.speedupVsFlex !== null && t.speedupVsFlex !== undefined) parts.push(`${formatSpeedup(t.speedupVsFlex)} vs FlexAttention`);
  return parts.join(', ');
}

/** The launched kernels (most launched first, at most three) and the diagnosis sentences of timing.hardware. */
export function hardwareLines(h: HardwareSummary): string[] {
  const kernel = (k: KernelHardwareSummary) => {
    const facts = [
      k.callsPerCall !== null ? `${+k.callsPerCall.toFixed(2)}× per call` : null,
      k.blocks !== null && k.threadsPerBlock !== null ? `${k.blocks} blocks of ${k.threadsPerBlock} threads` : null,
      k.registers !== null ? `${k.registers} registers` : null,
      k.spillBytes ? `${k.spillBytes} B spilled` : null,
      k.sharedBytes ? `${k.sharedBytes} B shared` : null,
      k.occupancy !== null ? `occupancy ~${Math.round(k.occupancy * 100)}%${k.occupancyLimiter ? ` (${k.occupancyLimiter.replace('_', ' ')})` : ''}` : null,
    ].filter((x) => x !== null);
    return `${clip(k.name, 80)}${facts.length ? ` (${facts.join(', ')})` : ''}`;
  };
  const out: string[] = [];
  if (h.kernels.length > 0) {
    const more = h.kernels.length > 3 ? `; ${h.kernels.length - 3} more` : '';
    const launches = h.launchesPerCall !== null ? `${+h.launchesPerCall.toFixed(2)} launches per call${h.referenceLaunchesPerCall !== null ? ` (reference ${+h.referenceLaunchesPerCall.toFixed(2)})` : ''}: ` : '';
    out.push(`kernels: ${launches}${h.kernels.slice(0, 3).map(kernel).join('; ')}${more}`);
  }
  for (const line of diagnoseHardware(h)) out.push(`hardware: ${line}`);
  for (const note of h.notes) out.push(`note: ${note}`);
  return out;
}

/** The verdict as a person reads it, one line a fact: what `kernel-search verify` prints. */
export function verdictLines(v: VerdictSummary, opts: { file: string; problemId: string; source: string | null }): string[] {
  // "HOLDS UP: correct, no cheat found": the head in capitals, cheat class names as the verifier spells them
  const [head, ...rest] = verdictInWords(v).split(': ');
  const out = [`${opts.file} on ${opts.problemId}: ${head!.toUpperCase()}${rest.length > 0 ? `: ${rest.join(': ')}` : ''} (${v.status})`];
  if (v.status !== 'correct') out.push(`why: ${errorLine(v.message, 400)}`);
  for (const c of v.cheats) out.push(`cheat ${c.class}: ${c.evidence}`);
  const where = v.status === 'correct' ? null : sourceLocation(v.message, opts.source);
  if (where) out.push(`where: ${opts.file}:${where.line}${where.text !== null ? `: ${where.text.trim()}` : ''}`);
  const c = v.correctness;
  if (c) out.push(`correctness: ${c.passed} of ${c.trials} trials passed; max abs error ${sci(c.maxAbsError)}, max rel error ${sci(c.maxRelError)}${c.mismatchFraction ? `, ${(c.mismatchFraction * 100).toFixed(2)}% of elements off` : ''}`);
  const t = v.timing;
  if (t) {
    if (!t.meaningful) out.push(`timing: not meaningful on this verifier (${t.methodNote ?? t.method ?? 'no GPU'}); run it on a GPU worker for speedups`);
    else {
      out.push(`timing: ${msInterval(t.candidateMs, t.candidateMsInterval)} per call${t.method ? ` (${t.method})` : ''}; eager ${msInterval(t.eagerMs, t.eagerMsInterval)}${t.compileMs !== null ? `, torch.compile ${msInterval(t.compileMs, t.compileMsInterval)}` : ''}${t.hostMs ? `; host ${ms(t.hostMs)} per call` : ''}`);
      const sp = speedupText(v);
      if (sp) out.push(`speedup: ${sp}`);
      const sol = solText(v);
      if (sol) out.push(`speed of light: ${sol}`);
      if (t.hardware) out.push(...hardwareLines(t.hardware));
      if (t.review) out.push(`review: ${t.review}`);
    }
  }
  if (v.gpu) out.push(`gpu: ${v.gpu}`);
  return out;
}

export function buildAuditReport(input: { audit: string; kernelsPath: string; url: string; rows: AuditRow[]; unmatched: SkippedKernel[]; problemsWithoutKernel: string[] }, now = new Date()): AuditReportData {
  const summary = summarizeAudit(input.rows, input.unmatched, input.problemsWithoutKernel);
  return { ...input, generatedAt: now.toISOString(), summary, summaryLine: auditSummaryLine(summary) };
}

/** A row's verdict in words, or why it has none. */
export function rowWords(r: AuditRow): string {
  if (r.state === 'judged' && r.verdict) return verdictInWords(r.verdict);
  if (r.state === 'failed') return `not judged: ${r.error ?? 'the verification failed'}`;
  return `not judged yet (${r.state})`;
}

const CSV_COLUMNS = ['kernel', 'file', 'problem', 'held_up', 'verdict', 'status', 'cheats', 'cheat_evidence', 'message', 'trials_passed', 'trials', 'max_abs_error', 'speedup_eager', 'speedup_eager_low', 'speedup_eager_high', 'speedup_compile', 'sol_fraction', 'sol_limiter', 'timing_meaningful', 'gpu', 'kept', 'verdict_file', 'workflow_id', 'url'] as const;

export function renderAuditCsv(data: AuditReportData): string {
  const cell = (v: unknown) => {
    const s = v === null || v === undefined ? '' : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const rows = data.rows.map((r) => {
    const v = r.verdict;
    const t = v?.timing?.meaningful ? v.timing : null;
    return [
      r.kernelId, r.file, r.problemId, heldUp(v), rowWords(r), v?.status ?? r.state, v?.cheats.map((c) => c.class).join(' ') ?? '', v?.cheats.map((c) => `${c.class}: ${c.evidence}`).join(' | ') ?? '',
      v ? errorLine(v.message, 300) : r.error, v?.correctness?.passed ?? null, v?.correctness?.trials ?? null, v?.correctness?.maxAbsError ?? null,
      t?.speedupVsEager ?? null, t?.speedupVsEagerInterval?.[0] ?? null, t?.speedupVsEagerInterval?.[1] ?? null, t?.speedupVsCompile ?? null, t?.sol?.fraction ?? null, t?.sol?.limiter ?? null,
      v?.timing?.meaningful ?? null, v?.gpu ?? null, r.kept, r.verdictFile, r.workflowId, r.url,
    ].map(cell).join(',');
  });
  return [CSV_COLUMNS.join(','), ...rows].join('\n') + '\n';
}

export function renderAuditJson(data: AuditReportData): string {
  return JSON.stringify({ ...data, rows: data.rows.map(({ source: _source, ...rest }) => ({ ...rest, heldUp: heldUp(rest.verdict), verdictInWords: rowWords({ ...rest, source: null }) })) }, null, 2);
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const anchor = (r: AuditRow) => `k-${r.kernelId.replace(/[^A-Za-z0-9_-]/g, '_')}`;

export function renderAuditHtml(data: AuditReportData): string {
  const rows = data.rows
    .map((r) => {
      const v = r.verdict;
      const cls = heldUp(v) ? 'held' : r.state === 'judged' ? 'fell' : 'none';
      const cheats = v && v.cheats.length > 0 ? `<ul class="cheats">${v.cheats.map((c) => `<li><b>${esc(c.class)}</b>: ${esc(c.evidence)}</li>`).join('')}</ul>` : '';
      const why = v && v.status !== 'correct' && v.cheats.length === 0 ? `<div class="why">${esc(errorLine(v.message, 300))}</div>` : r.state === 'failed' && r.error ? `<div class="why">${esc(r.error)}</div>` : '';
      const c = v?.correctness;
      const links = [`<a href="${esc(r.url)}">workflow</a>`, r.verdictFile ? `<a href="${esc(r.verdictFile)}">verdict JSON</a>` : '', r.source ? `<a href="#${anchor(r)}">source</a>` : ''].filter(Boolean).join(' · ');
      return `<tr class="${cls}"><td>${esc(r.file)}</td><td>${esc(r.problemId)}</td><td>${esc(rowWords(r))}${r.kept ? ' <span class="kept">(kept from an earlier run)</span>' : ''}${cheats}${why}</td><td>${c ? `${c.passed}/${c.trials}` : ''}</td><td>${v ? (speedupText(v) ?? (v.timing && !v.timing.meaningful ? 'not timed on a GPU' : '')) : ''}</td><td>${v ? (solText(v) ?? '') : ''}</td><td>${links}</td></tr>`;
    })
    .join('\n');
  const sources = data.rows
    .filter((r) => r.source)
    .map((r) => {
      const hw = r.verdict?.timing?.meaningful && r.verdict.timing.hardware ? hardwareLines(r.verdict.timing.hardware) : [];
      const facts = hw.length > 0 ? `<ul class="hardware">${hw.map((l) => `<li>${esc(l)}</li>`).join('')}</ul>` : '';
      return `<details id="${anchor(r)}"><summary>${esc(r.file)} — ${esc(rowWords(r))}</summary>${facts}<pre>${esc(r.source!)}</pre></details>`;
    })
    .join('\n');
  const unmatched = data.unmatched.length === 0 ? '<p>None: every kernel file matched a problem.</p>' : `<table><tr><th>file</th><th>why it was not verified</th></tr>${data.unmatched.map((u) => `<tr><td>${esc(u.file)}</td><td>${esc(u.reason)}</td></tr>`).join('')}</table>`;
  const missing = data.problemsWithoutKernel.length === 0 ? '<p>None: every problem of the selection had a kernel.</p>' : `<p>${data.problemsWithoutKernel.map(esc).join(', ')}</p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kernel-search audit ${esc(data.audit)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;max-width:1200px;color:#111}
table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
tr.held td:nth-child(3){color:#15803d}tr.fell td:nth-child(3){color:#b91c1c}tr.none td:nth-child(3){color:#92400e}
.cheats,.why{font-size:12px;color:#333;margin:4px 0 0;max-width:460px}.kept{color:#666;font-size:12px}
.summary{font-size:18px;font-weight:600}
pre{background:#f6f6f6;padding:8px;overflow:auto}
</style></head><body>
<h1>Audit ${esc(data.audit)}</h1>
<p class="summary" id="summary-line">${esc(data.summaryLine)}</p>
<p>Kernels from <code>${esc(data.kernelsPath)}</code>, judged by the kernel-search verifier (correctness on several seeds, cheat checks, timing against PyTorch eager and torch.compile). Generated ${esc(data.generatedAt)} · <a href="${esc(data.url)}">audit workflow</a>.
A kernel <b>holds up</b> when it is correct and no cheat was found. Speedups carry their 95% interval; "% of speed of light" is the achieved fraction of the card's limit for the problem.</p>
<h2>Kernels</h2>
<table><tr><th>file</th><th>problem</th><th>verdict</th><th>trials</th><th>speedup [95% interval]</th><th>speed of light</th><th>links</th></tr>
${rows}
</table>
<h2>Kernel files not verified</h2>
${unmatched}
<h2>Problems with no kernel</h2>
${missing}
<h2>Sources</h2>
${sources}
</body></html>
`;
}
