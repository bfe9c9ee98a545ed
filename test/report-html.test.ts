// The campaign report in a real browser: headless Chromium (Debian's package) loads the HTML with no
// console errors, and the chart areas are not blank in a screenshot.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { PNG } from 'pngjs';
import type { ProblemOutcome } from '../domain/metrics.js';
import { buildReport, renderCsv, renderHtml } from '../report/render.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// CI installs Chromium and sets KS_REQUIRE_CHROMIUM=1, so there this test can fail but never skip.
const skip = !existsSync(CHROMIUM) && process.env.KS_REQUIRE_CHROMIUM !== '1' ? `no Chromium at ${CHROMIUM} (apt-get install chromium)` : false;

const outcome = (id: string, level: number, status: ProblemOutcome['status'], eager: number | null, t: number | null): ProblemOutcome & { url: string } => ({
  problemId: id, level, searchId: `ks-${id}`, status, speedup: { eager, compile: eager && eager / 2, flex: null }, timeToFirstCorrectMs: t,
  candidates: 4, tokens: 1000, bestSource: status === 'solved' ? 'class ModelNew: <pass>' : null, url: `http://localhost:8233/namespaces/default/workflows/ks-${id}`,
});

const outcomes = [
  { ...outcome('level1-1_a', 1, 'solved', 2.1, 90_000), gpuSeconds: 42.25, sol: { fraction: 0.49, limiter: 'memory' as const, bytesOnly: true }, bestProfile: ['Counters of k: DRAM throughput 91% of peak: memory-bound at the limit; only moving fewer bytes helps.'] },
  { ...outcome('level1-2_b', 1, 'solved', 0.9, 400_000), gpuSeconds: 130, sol: { fraction: 0.72, limiter: 'compute' as const, bytesOnly: false } },
  outcome('level2-1_c', 2, 'unsolved', null, null),
  outcome('level2-2_d', 2, 'failed', null, null),
];

test('CSV has a row per problem and escapes text; % SOL and GPU-seconds per problem', () => {
  const csv = renderCsv(buildReport('c', 900_000, outcomes)).trim().split('\n');
  assert.equal(csv.length, 5);
  assert.match(csv[0]!, /speedup_flex,sol_fraction,sol_limiter,sol_bytes_only,time_to_first_correct_s,candidates,tokens,gpu_seconds,/);
  assert.match(csv[1]!, /^level1-1_a,1,solved,,2\.1,,,1\.05,,0\.49,memory,true,90,4,1000,42\.25,Counters of k: DRAM throughput 91% of peak: memory-bound at the limit; only moving fewer bytes helps\.,ks-level1-1_a,/);
  assert.match(csv[2]!, /,0\.72,compute,false,400,4,1000,130,/);
  assert.match(csv[3]!, /^level2-1_c,2,unsolved,,,,,,,,,,,4,1000,0,/, 'no kernel, no SOL; nothing spent recorded');
});

test('the report sums GPU-seconds and tokens, bins the best kernels by % SOL and shows both', async () => {
  const { solHistogram, summarize } = await import('../domain/metrics.js');
  const s = summarize(outcomes);
  assert.equal(s.gpuSeconds, 172.25);
  assert.equal(s.tokens, 4000);
  assert.equal(s.medianSol, (0.49 + 0.72) / 2);
  const bins = solHistogram([...outcomes, { ...outcome('x', 1, 'solved', 1, 1), sol: { fraction: 1.3, limiter: 'memory', bytesOnly: true } }, { ...outcome('y', 1, 'solved', 1, 1), sol: { fraction: 0.3, limiter: 'compute', bytesOnly: false } }]);
  assert.equal(bins.length, 11);
  assert.deepEqual(bins.map((b) => b.memory), [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1], '49% in the 40% bin; 130% in the last');
  assert.deepEqual(bins.map((b) => b.compute), [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0], '30% in the 30% bin, 72% in the 70% bin');
  const html = renderHtml(buildReport('spend', 900_000, outcomes));
  assert.match(html, /<th>% SOL<\/th>/);
  assert.match(html, /<ul class="profile"><li>Counters of k: DRAM throughput 91% of peak/, "the best kernel's counters go with its source");
  assert.match(html, /<td class="sol">49% <span class="limiter memory">memory, bytes only<\/span><\/td>/);
  assert.match(html, /<td class="sol">72% <span class="limiter compute">compute<\/span><\/td>/);
  assert.match(html, /<td>1000<\/td><td>42\.3<\/td>/, 'GPU-seconds per problem');
  assert.match(html, /GPU-seconds<b>172<\/b>/);
  assert.match(html, /median % SOL of best kernels<b>61%<\/b>/);
  const svg = /<svg id="sol-distribution"[\s\S]*?<\/svg>/.exec(html)![0];
  assert.equal([...svg.matchAll(/<rect class="sol-bar memory"/g)].length, 1);
  assert.equal([...svg.matchAll(/<rect class="sol-bar compute"/g)].length, 1);
  assert.match(svg, /<title>40%: 1 memory-bound<\/title>/);
  assert.match(svg, /≥100%/);
});

test('labels: the configured budget, n/a without a FlexAttention baseline, failed rows give their reason, intervals shown, bar labels fit their bars', () => {
  const rows = [...outcomes.slice(0, 3), { ...outcomes[3]!, reason: 'the verifier on cpu cannot run this search' }, { ...outcome('level1-3_e', 1, 'solved', 3.1, 30_000), speedupEagerInterval: [2.95, 3.24] as [number, number] }];
  const html = renderHtml(buildReport('labels', 120_000, rows));
  assert.match(html, /budget 2m00s per problem/);
  assert.match(html, /<td>fast_1<\/td><td>[\d.]+%<\/td><td>[\d.]+%<\/td><td>n\/a<\/td>/, 'fast_1 vs FlexAttention is n/a');
  assert.match(html, /<td>failed<div class="reason">the verifier on cpu cannot run this search<\/div><\/td>/);
  assert.match(html, /<td>3\.10 \[2\.95–3\.24\]<\/td>/);
  // Each bar's label lines (10 px type, ~6.5 px a character at most) fit the bar's width.
  const svg = /<svg id="fast-p"[^>]*width="(\d+)"[\s\S]*?<\/svg>/.exec(html)!;
  const bars = [...svg[0].matchAll(/<rect class="bar"[^>]*width="([\d.]+)"/g)].map((m) => Number(m[1]));
  const lines = [...svg[0].matchAll(/<tspan[^>]*>([^<]*)<\/tspan>/g)].map((m) => m[1]!);
  assert.equal(lines.length, bars.length * 2);
  for (const l of lines) assert.ok(l.length * 6.5 <= bars[0]! + 8, `label "${l}" is wider than its bar (${bars[0]} px)`);
});

test('the HTML report loads without console errors and its charts draw', { skip }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ks-html-'));
  const file = path.join(dir, 'report.html');
  const html = renderHtml(buildReport('nightly', 900_000, outcomes));
  assert.match(html, /&lt;pass&gt;/, 'kernel source is escaped');
  writeFileSync(file, html);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('request', (r) => !r.url().startsWith('file://') && requests.push(r.url()));
    await page.goto(`file://${file}`);
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, [], 'the report fetches nothing');
    for (const id of ['#solve-rate', '#fast-p', '#sol-distribution']) {
      const png = PNG.sync.read(await page.locator(id).screenshot());
      let inked = 0;
      for (let i = 0; i < png.data.length; i += 4) if (png.data[i]! < 200 || png.data[i + 1]! < 200 || png.data[i + 2]! < 200) inked++;
      const share = inked / (png.width * png.height);
      assert.ok(share > 0.01, `${id} looks blank (${(share * 100).toFixed(2)}% inked)`);
    }
    // Coloured curve pixels, not only axes: the blue of the first curve appears.
    const chart = PNG.sync.read(await page.locator('#solve-rate').screenshot());
    let blue = 0;
    for (let i = 0; i < chart.data.length; i += 4) if (chart.data[i + 2]! > 180 && chart.data[i]! < 100) blue++;
    assert.ok(blue > 50, `the solve-rate curve did not draw (${blue} blue pixels)`);
    // The speed-of-light plot draws both kinds of bar in their colours (teal memory, magenta compute).
    const sol = PNG.sync.read(await page.locator('#sol-distribution').screenshot());
    const near = (i: number, [r, g, b]: number[]) => Math.abs(sol.data[i]! - r!) < 30 && Math.abs(sol.data[i + 1]! - g!) < 30 && Math.abs(sol.data[i + 2]! - b!) < 30;
    let teal = 0;
    let magenta = 0;
    for (let i = 0; i < sol.data.length; i += 4) {
      if (near(i, [0x0d, 0x94, 0x88])) teal++;
      if (near(i, [0xc0, 0x26, 0xd3])) magenta++;
    }
    assert.ok(teal > 200 && magenta > 200, `the SOL bars did not draw (${teal} memory, ${magenta} compute pixels)`);
    assert.equal(await page.locator('td.sol').count(), 4, 'a % SOL cell in every row');
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
