// Rendering a campaign report: one self-contained HTML file (inline CSS and SVG, nothing fetched),
// plus CSV and JSON of the same numbers.
import { BASELINES, solHistogram, solveRateCurve, summarize, type CampaignSummary, type ProblemOutcome } from '../domain/metrics.js';
import { formatDuration } from '../domain/duration.js';

export interface ReportData {
  campaign: string;
  generatedAt: string;
  budgetMs: number;
  summary: CampaignSummary;
  curves: { label: string; points: { tMs: number; rate: number }[] }[];
  outcomes: (ProblemOutcome & { url: string })[];
  /** The best kernels' speed-of-light fractions in 10% bins (the last one: 100% and above). */
  solHistogram: { low: number; memory: number; compute: number }[];
}

export function buildReport(campaign: string, budgetMs: number, outcomes: (ProblemOutcome & { url: string })[], now = new Date()): ReportData {
  const levels = [...new Set(outcomes.map((o) => o.level).filter((l): l is number => l !== null))].sort();
  const curves = [{ label: 'all problems', points: solveRateCurve(outcomes, budgetMs) }];
  for (const level of levels) curves.push({ label: `level ${level}`, points: solveRateCurve(outcomes.filter((o) => o.level === level), budgetMs) });
  return { campaign, generatedAt: now.toISOString(), budgetMs, summary: summarize(outcomes), curves, outcomes, solHistogram: solHistogram(outcomes) };
}

const CSV_COLUMNS = ['problem', 'level', 'status', 'reason', 'speedup_eager', 'speedup_eager_low', 'speedup_eager_high', 'speedup_compile', 'speedup_flex', 'sol_fraction', 'sol_limiter', 'sol_bytes_only', 'time_to_first_correct_s', 'candidates', 'tokens', 'gpu_seconds', 'best_profile', 'search_id', 'url'] as const;

export function renderCsv(data: ReportData): string {
  const cell = (v: unknown) => {
    const s = v === null || v === undefined ? '' : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const rows = data.outcomes.map((o) =>
    [o.problemId, o.level, o.status, o.reason ?? null, o.speedup.eager, o.speedupEagerInterval?.[0] ?? null, o.speedupEagerInterval?.[1] ?? null, o.speedup.compile, o.speedup.flex, o.sol?.fraction ?? null, o.sol?.limiter ?? null, o.sol ? o.sol.bytesOnly : null, o.timeToFirstCorrectMs === null ? null : o.timeToFirstCorrectMs / 1000, o.candidates, o.tokens, o.gpuSeconds ?? 0, (o.bestProfile ?? []).join(' '), o.searchId, o.url].map(cell).join(','),
  );
  return [CSV_COLUMNS.join(','), ...rows].join('\n') + '\n';
}

export function renderJson(data: ReportData): string {
  return JSON.stringify({ ...data, outcomes: data.outcomes.map(({ bestSource: _source, ...rest }) => rest) }, null, 2);
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const pct = (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(1)}%`);
const num = (v: number | null, digits = 2) => (v === null ? 'n/a' : v.toFixed(digits));
/** "3.10 [2.95–3.24]" with the 95% interval where one was measured. */
const withInterval = (v: number | null, iv: [number, number] | null | undefined) => (v === null ? 'n/a' : iv ? `${v.toFixed(2)} [${iv[0].toFixed(2)}–${iv[1].toFixed(2)}]` : v.toFixed(2));
const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c'];
/** Memory- and compute-bound in the speed-of-light plot and column. */
const LIMITER_COLORS = { memory: '#0d9488', compute: '#c026d3' } as const;
const solCell = (sol: ProblemOutcome['sol']) => (sol ? `${(sol.fraction * 100).toFixed(0)}% <span class="limiter ${sol.limiter}">${sol.limiter}${sol.bytesOnly ? ', bytes only' : ''}</span>` : '');
const gpuSecondsText = (s: number) => (s >= 100 ? s.toFixed(0) : s.toFixed(1));

/** Stacked bars: how many best kernels reach each tenth of the card's limit, memory- and compute-bound apart. */
function solSvg(data: ReportData): string {
  const bins = data.solHistogram;
  const [w, h, pad] = [640, 260, 40];
  const top = Math.max(1, ...bins.map((b) => b.memory + b.compute));
  const bw = (w - 2 * pad) / bins.length;
  const y = (n: number) => h - pad - (n / top) * (h - 2 * pad);
  const bars = bins.map((b, i) => {
    const x = pad + i * bw + 3;
    const label = i === bins.length - 1 ? `≥${Math.round(b.low * 100)}` : `${Math.round(b.low * 100)}`;
    const rect = (kind: 'memory' | 'compute', from: number, n: number) =>
      n === 0 ? '' : `<rect class="sol-bar ${kind}" x="${x}" y="${y(from + n)}" width="${bw - 6}" height="${y(from) - y(from + n)}" fill="${LIMITER_COLORS[kind]}"><title>${label}%: ${n} ${kind}-bound</title></rect>`;
    return `${rect('memory', 0, b.memory)}${rect('compute', b.memory, b.compute)}<text x="${x + (bw - 6) / 2}" y="${h - pad + 13}" font-size="10" text-anchor="middle">${label}%</text>`;
  });
  const legend = (['memory', 'compute'] as const).map((k, i) => `<rect x="${w - pad - 130}" y="${pad - 28 + 14 * i}" width="10" height="10" fill="${LIMITER_COLORS[k]}"/><text x="${w - pad - 115}" y="${pad - 19 + 14 * i}" font-size="11">${k}-bound</text>`);
  const ticks = [...new Set([0, Math.ceil(top / 2), top])].map((n) => `<text x="${pad - 6}" y="${y(n) + 4}" text-anchor="end" font-size="11">${n}</text>`);
  return `<svg id="sol-distribution" role="img" aria-label="speed of light of the best kernels" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}"><line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" stroke="#444"/>${ticks.join('')}${bars.join('')}${legend.join('')}<text x="${w / 2}" y="${h - 6}" text-anchor="middle" font-size="12">best kernel's share of the card's limit (% SOL)</text></svg>`;
}

function curveSvg(data: ReportData): string {
  const [w, h, pad] = [640, 300, 44];
  const x = (t: number) => pad + (t / Math.max(1, data.budgetMs)) * (w - 2 * pad);
  const y = (r: number) => h - pad - r * (h - 2 * pad);
  const axes = [
    `<line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" stroke="#444"/>`,
    `<line x1="${pad}" y1="${pad}" x2="${pad}" y2="${h - pad}" stroke="#444"/>`,
    ...[0, 0.25, 0.5, 0.75, 1].map((r) => `<text x="${pad - 6}" y="${y(r) + 4}" text-anchor="end" font-size="11">${r * 100}%</text><line x1="${pad}" x2="${w - pad}" y1="${y(r)}" y2="${y(r)}" stroke="#eee"/>`),
    ...[0, 0.25, 0.5, 0.75, 1].map((f) => `<text x="${x(f * data.budgetMs)}" y="${h - pad + 16}" text-anchor="middle" font-size="11">${formatDuration(f * data.budgetMs)}</text>`),
    `<text x="${w / 2}" y="${h - 6}" text-anchor="middle" font-size="12">time allowed per problem</text>`,
  ];
  const lines = data.curves.map((c, i) => {
    const pts = c.points.map((p) => `${x(p.tMs).toFixed(1)},${y(p.rate).toFixed(1)}`).join(' ');
    const color = COLORS[i % COLORS.length]!;
    return `<polyline class="curve" fill="none" stroke="${color}" stroke-width="2.5" points="${pts}"/><text x="${w - pad + 4 - 120}" y="${pad + 14 * i}" font-size="12" fill="${color}">${esc(c.label)}</text>`;
  });
  return `<svg id="solve-rate" role="img" aria-label="solve rate versus budget" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">${axes.join('')}${lines.join('')}</svg>`;
}

function fastSvg(data: ReportData): string {
  const bars = data.summary.fast;
  const [w, h, pad] = [640, 260, 40];
  const bw = (w - 2 * pad) / bars.length;
  const rects = bars.map((b, i) => {
    const v = b.value ?? 0;
    const bh = v * (h - 2 * pad);
    const color = COLORS[BASELINES.indexOf(b.baseline) % COLORS.length]!;
    const label = b.p === 0 ? 'fast_0' : `fast_${b.p} ${b.baseline}`;
    // Two short lines under each bar ("fast_1.2" over "compile"): one line of both overlapped its neighbours.
    const cx = pad + i * bw + bw / 2;
    const under = b.p === 0 ? ['fast_0', 'correct'] : [`fast_${b.p}`, b.baseline];
    return `<rect class="bar" x="${pad + i * bw + 4}" y="${h - pad - bh}" width="${bw - 8}" height="${Math.max(bh, 1)}" fill="${color}"><title>${label}: ${pct(b.value)}</title></rect><text class="bar-label" x="${cx}" y="${h - pad + 13}" font-size="10" text-anchor="middle"><tspan x="${cx}">${esc(under[0]!)}</tspan><tspan x="${cx}" dy="12">${esc(under[1]!)}</tspan></text><text x="${pad + i * bw + bw / 2}" y="${h - pad - bh - 4}" font-size="10" text-anchor="middle">${pct(b.value)}</text>`;
  });
  return `<svg id="fast-p" role="img" aria-label="fast_p" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}"><line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" stroke="#444"/>${rects.join('')}</svg>`;
}

export function renderHtml(data: ReportData): string {
  const s = data.summary;
  const rows = data.outcomes
    .map(
      (o) => `<tr class="${o.status}"><td>${esc(o.problemId)}</td><td>${o.level ?? ''}</td><td>${o.status}${o.status === 'failed' && o.reason ? `<div class="reason">${esc(o.reason)}</div>` : ''}</td><td>${withInterval(o.speedup.eager, o.speedupEagerInterval)}</td><td>${num(o.speedup.compile)}</td><td>${num(o.speedup.flex)}</td><td class="sol">${solCell(o.sol)}</td><td>${o.timeToFirstCorrectMs === null ? '' : formatDuration(o.timeToFirstCorrectMs)}</td><td>${o.candidates}</td><td>${o.tokens}</td><td>${gpuSecondsText(o.gpuSeconds ?? 0)}</td><td><a href="${esc(o.url)}">workflow</a>${o.bestSource ? ` · <a href="#src-${esc(o.problemId)}">kernel</a>` : ''}</td></tr>`,
    )
    .join('\n');
  const sources = data.outcomes
    .filter((o) => o.bestSource)
    .map((o) => `<details id="src-${esc(o.problemId)}"><summary>${esc(o.problemId)} — best kernel (${o.status})</summary>${o.bestProfile?.length ? `<ul class="profile">${o.bestProfile.map((l) => `<li>${esc(l)}</li>`).join('')}</ul>` : ''}<pre>${esc(o.bestSource!)}</pre></details>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kernel-search campaign ${esc(data.campaign)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;max-width:1100px;color:#111}
table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
tr.solved td:nth-child(3){color:#15803d}tr.failed td:nth-child(3){color:#b91c1c}
.limiter{font-size:11px}.limiter.memory{color:${LIMITER_COLORS.memory}}.limiter.compute{color:${LIMITER_COLORS.compute}}
.reason{font-size:12px;color:#555;text-align:left;max-width:360px}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px}.card b{font-size:20px;display:block}
pre{background:#f6f6f6;padding:8px;overflow:auto}
</style></head><body>
<h1>Campaign ${esc(data.campaign)}</h1>
<p>Generated ${esc(data.generatedAt)} · budget ${formatDuration(data.budgetMs)} per problem · fast_p counts correct kernels faster than p× over all problems (KernelBench).</p>
<div class="cards">
<div class="card">problems<b>${s.problems}</b></div>
<div class="card">correct (fast_0)<b>${pct(s.fast[0]?.value ?? null)}</b></div>
<div class="card">geomean speedup vs eager<b>${num(s.geomean.eager)}</b></div>
<div class="card">vs torch.compile<b>${num(s.geomean.compile)}</b></div>
<div class="card">median time to first correct<b>${s.medianTimeToFirstCorrectMs === null ? 'n/a' : formatDuration(s.medianTimeToFirstCorrectMs)}</b></div>
<div class="card">candidates<b>${s.candidates}</b></div>
<div class="card">tokens<b>${s.tokens}</b></div>
<div class="card">GPU-seconds<b>${gpuSecondsText(s.gpuSeconds)}</b></div>
<div class="card">median % SOL of best kernels<b>${s.medianSol === null ? 'n/a' : `${(s.medianSol * 100).toFixed(0)}%`}</b></div>
</div>
<h2>Solve rate versus time allowed per problem</h2>
${curveSvg(data)}
<h2>fast_p</h2>
${fastSvg(data)}
<table><tr><th>metric</th>${BASELINES.map((b) => `<th>vs ${b}</th>`).join('')}</tr>
${[1, 1.2, 2].map((p) => `<tr><td>fast_${p}</td>${BASELINES.map((b) => `<td>${pct(s.fast.find((f) => f.p === p && f.baseline === b)?.value ?? null)}</td>`).join('')}</tr>`).join('\n')}
</table>
<h2>Speed of light of the best kernels</h2>
<p>Each correct, GPU-timed best kernel's achieved share of the card's limit for its problem: its minimum bytes at the measured copy rate or its FLOPs at the measured matrix rate, whichever takes longer (docs/verifier.md, "Speed of light"). "bytes only": no FLOPs counted for the reference, the figure rests on its bytes.</p>
${solSvg(data)}
<h2>Problems</h2>
<table><tr><th>problem</th><th>level</th><th>status</th><th>× eager [95% interval]</th><th>× compile</th><th>× flex</th><th>% SOL</th><th>first correct</th><th>candidates</th><th>tokens</th><th>GPU-s</th><th>links</th></tr>
${rows}
</table>
<h2>Best kernels</h2>
${sources}
</body></html>
`;
}
