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

const outcomes = [outcome('level1-1_a', 1, 'solved', 2.1, 90_000), outcome('level1-2_b', 1, 'solved', 0.9, 400_000), outcome('level2-1_c', 2, 'unsolved', null, null), outcome('level2-2_d', 2, 'failed', null, null)];

test('CSV has a row per problem and escapes text', () => {
  const csv = renderCsv(buildReport('c', 900_000, outcomes)).trim().split('\n');
  assert.equal(csv.length, 5);
  assert.match(csv[1]!, /^level1-1_a,1,solved,,2\.1,,,1\.05,,90,4,1000,/);
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
    for (const id of ['#solve-rate', '#fast-p']) {
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
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
