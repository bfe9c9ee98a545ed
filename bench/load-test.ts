// Load test (a benchmark, not a test): a campaign of N small problems through the whole stack on
// this machine: real Temporal dev server, scripted model over HTTP, CPU verifier. Reports wall time
// and the orchestration overhead per round (a search's elapsed time minus the time its verification
// spent in the verifier subprocess).
// Usage: node dist/bench/load-test.js [problems=200] [slots=2]
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CampaignEntry, SearchResult } from '../domain/types.js';
import { FIXTURE_REPLIES, TestEnv, problemFile } from '../test/harness.js';

const count = Number(process.argv[2] ?? 200);
const slots = Number(process.argv[3] ?? 2);
const dir = mkdtempSync(path.join(os.tmpdir(), 'ks-load-'));
const problems = path.join(dir, 'problems');
const replies = path.join(dir, 'replies');
mkdirSync(problems);
for (let i = 0; i < count; i++) {
  const id = `load_${String(i).padStart(4, '0')}`;
  copyFileSync(problemFile('vector_add'), path.join(problems, `${id}.py`));
  mkdirSync(path.join(replies, id), { recursive: true });
  copyFileSync(path.join(FIXTURE_REPLIES, 'vector_add', '03.md'), path.join(replies, id, '01.md'));
}

const env = await TestEnv.start({ scripted: { repliesDirs: [replies] } });
try {
  await Promise.all([env.startWorker('orchestrator'), env.startWorker('gpu', ['--slots', String(slots)])]);
  const started = Date.now();
  const res = await env.cli(['campaign', '--name', 'load', '--problems', problems, '--budget', '10m', '--width', '1', '--concurrency', String(slots), '--json'], {}, 4 * 3_600_000);
  const wallMs = Date.now() - started;
  if (res.exitCode !== 0) throw new Error(res.stderr);
  const entries = JSON.parse(res.stdout).entries as CampaignEntry[];

  const slotFiles = (readdirSync(path.join(env.dataDir, 'artifacts'), { recursive: true }) as string[]).filter((f) => f.endsWith('slot.json'));
  const verifyMs = new Map<string, number>();
  for (const f of slotFiles) {
    const s = JSON.parse(readFileSync(path.join(env.dataDir, 'artifacts', f), 'utf8')) as { startedAtMs: number; endedAtMs: number };
    verifyMs.set(f.split(path.sep)[0]!, s.endedAtMs - s.startedAtMs);
  }
  const overheads: number[] = [];
  for (const e of entries) {
    const r = (await env.client.workflow.getHandle(e.searchId).result()) as SearchResult;
    const v = verifyMs.get(e.searchId);
    if (v !== undefined) overheads.push((r.elapsedMs - v) / r.rounds);
  }
  overheads.sort((a, b) => a - b);
  const q = (p: number) => overheads[Math.min(overheads.length - 1, Math.floor(p * overheads.length))]!;
  const solved = entries.filter((e) => e.status === 'solved').length;
  const meanVerify = [...verifyMs.values()].reduce((a, b) => a + b, 0) / verifyMs.size;
  console.log(`| problems | solved | CPU slots | wall time | verifier time per candidate (mean) | orchestration overhead per round: median / p90 / max |`);
  console.log(`|---|---|---|---|---|---|`);
  console.log(`| ${count} | ${solved} | ${slots} | ${(wallMs / 1000).toFixed(0)} s | ${(meanVerify / 1000).toFixed(2)} s | ${q(0.5).toFixed(0)} / ${q(0.9).toFixed(0)} / ${overheads.at(-1)!.toFixed(0)} ms |`);
} finally {
  await env.stop();
  rmSync(dir, { recursive: true, force: true });
}
