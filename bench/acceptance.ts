// The whole stack on a GPU host, as a repeatable acceptance run (issue 13, item 4; docs/benchmarks.md,
// "Acceptance on a GPU host"). What a user's GPU host has is all it assumes: Node 20, a Python with
// PyTorch, Triton and CUDA (KS_PYTHON), the Temporal CLI (TEMPORAL_CLI or the venv's), one or more GPUs.
// It starts, as separate processes the way a cluster runs them: a Temporal dev server (this repository's
// embedded one), the scripted model, the orchestrator worker and the GPU worker (CUDA verifier), then
//   (a) search: the seed's relative-position attention problem with the demo's scripted replies
//       (a compile error, a wrong scale, then a correct kernel: solved; --max-candidates 5, since on a GPU
//       a solved search goes on making its kernel faster until its budget ends), whose round-3 kernel's
//       Nsight Compute counters (or the reason there are none) must reach round 5's prompt;
//   (b) audit: the kernels of bench/acceptance/kernels (Triton and CUDA, correct and cheating), each
//       verdict against bench/acceptance/expected.json;
//   (c) crash: a campaign over the correct acceptance kernels (the scripted model replies with them), the
//       GPU worker killed with SIGKILL while it verifies and started again, the campaign then resumed;
// and prints one table: verdicts as expected, no infra_error, nothing lost, wall time, GPU busy fraction.
// Usage: node dist/bench/acceptance.js [--out DIR] [--only search,audit,crash] [--per-gpu N] [--verifier cuda|cpu]
// (--verifier cpu runs the same plumbing on a machine without a GPU; CUDA kernels then cannot be as expected).
import { execa, type ResultPromise } from 'execa';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ArtifactStore } from '../activities/artifacts.js';
import type { Profile } from '../domain/profile.js';
import { REPO_ROOT } from '../infra/paths.js';
import { resolveTemporalTarget, startEmbeddedServer } from '../infra/temporal.js';
import { freePort } from '../test/harness.js';

const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'main.js');
const ACCEPTANCE = path.join(REPO_ROOT, 'bench', 'acceptance');
const ATTENTION = path.join(REPO_ROOT, 'problems', 'attention', 'relative_position_attention.py');

interface Expected {
  status: string;
  cheat: string | null;
  backend: 'triton' | 'cuda';
  kind: string;
  what: string;
}

interface Row {
  phase: string;
  expected: string;
  got: string;
  ok: boolean;
  infraErrors: number;
  lost: number;
  wallS: number;
  busy: number | null;
}

function log(line: string): void {
  process.stderr.write(`[acceptance ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/** GPU utilisation samples from nvidia-smi, every 200 ms, for the busy fraction of each phase. */
class GpuSampler {
  readonly samples: { atMs: number; util: number }[] = [];
  private proc: ResultPromise | null = null;

  start(): void {
    this.proc = execa('nvidia-smi', ['--query-gpu=utilization.gpu', '--format=csv,noheader,nounits', '-lms', '200'], { reject: false, buffer: false });
    this.proc.stdout?.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n')) {
        const v = Number(line.trim());
        if (line.trim() !== '' && Number.isFinite(v)) this.samples.push({ atMs: Date.now(), util: v });
      }
    });
  }

  /** Mean utilisation between two instants (all GPUs' samples together), as a fraction. */
  busy(fromMs: number, toMs: number): number | null {
    const s = this.samples.filter((x) => x.atMs >= fromMs && x.atMs <= toMs);
    return s.length === 0 ? null : s.reduce((a, x) => a + x.util, 0) / s.length / 100;
  }

  stop(): void {
    this.proc?.kill('SIGTERM');
  }
}

class Stack {
  private workers = new Map<string, ResultPromise>();
  private model: ResultPromise | null = null;

  constructor(readonly env: NodeJS.ProcessEnv, readonly logDir: string, readonly perGpu: string | undefined, readonly verifier: 'cuda' | 'cpu') {}

  cli(args: string[], timeoutMs = 15 * 60_000) {
    return execa('node', [CLI, ...args], { env: this.env, extendEnv: false, reject: false, timeout: timeoutMs });
  }

  /** Resolves once `ready` shows in its output, with the child wrapped (an execa child is a thenable: resolving with it would wait for its exit). */
  private spawn(name: string, args: string[], ready: RegExp): Promise<{ child: ResultPromise }> {
    const child = execa('node', [CLI, ...args], { env: this.env, extendEnv: false, reject: false, buffer: false, cleanup: true });
    let out = '';
    const file = path.join(this.logDir, `${name}.log`);
    return new Promise((resolve, reject) => {
      const onData = (d: Buffer) => {
        out = (out + d.toString()).slice(-20_000);
        writeFileSync(file, d.toString(), { flag: 'a' });
        if (ready.test(out)) resolve({ child });
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      void child.then((r) => reject(new Error(`${name} exited (${r.exitCode}) before it was ready: ${out.slice(-1500)}`)));
      setTimeout(() => reject(new Error(`${name} was not ready after 120 s: ${out.slice(-1500)}`)), 120_000).unref();
    });
  }

  async startModel(port: number, replies: string): Promise<void> {
    this.model = (await this.spawn('scripted-model', ['scripted-model', '--port', String(port), '--replies', replies], /listening|http:\/\//i)).child;
  }

  async startWorker(role: 'orchestrator' | 'gpu'): Promise<void> {
    const slots = this.verifier === 'cuda' ? (this.perGpu ? ['--per-gpu', this.perGpu] : []) : ['--slots', this.perGpu ?? '2'];
    const args = role === 'gpu' ? ['worker', 'gpu', '--verifier', this.verifier, ...slots] : ['worker', 'orchestrator'];
    // The SDK's own "Worker state changed" line where its logger prints it; the CLI's line otherwise.
    this.workers.set(role, (await this.spawn(`worker-${role}`, args, /Worker state changed.*RUNNING|state: 'RUNNING'|(orchestrator|gpu) worker: /)).child);
  }

  /** SIGKILL, as a crash or the OOM killer would: no graceful shutdown, verifications in flight die with it. */
  async killWorker(role: 'orchestrator' | 'gpu'): Promise<void> {
    const w = this.workers.get(role);
    w?.kill('SIGKILL');
    await w?.catch(() => undefined);
    this.workers.delete(role);
  }

  async stop(): Promise<void> {
    for (const role of [...this.workers.keys()] as ('orchestrator' | 'gpu')[]) await this.killWorker(role);
    this.model?.kill('SIGTERM');
    await this.model?.catch(() => undefined);
  }
}

/** The statuses of a search's verdicts (its last ten: `status --json`'s `recent`) and how many it verified. */
async function searchVerdicts(stack: Stack, searchId: string): Promise<{ status: string; statuses: string[]; candidates: number }> {
  const res = await stack.cli(['status', searchId, '--json'], 60_000);
  const s = parseLast(res.stdout) as { searchStatus?: string; status?: { recent?: { status: string }[]; candidatesVerified?: number } | null } | null;
  if (!s) throw new Error(`status ${searchId} --json printed no JSON (exit ${res.exitCode}): ${res.stderr.slice(-300)}`);
  const statuses = (s.status?.recent ?? []).map((c) => c.status);
  return { status: s.searchStatus ?? '?', statuses, candidates: s.status?.candidatesVerified ?? statuses.length };
}

/** Rounds of the acceptance search: the scripted replies solve it at round 3 (its last reply repeats);
 * round 3's profile runs while round 4 generates and reaches round 5's prompt (workflows/kernelSearch.ts). */
const SEARCH_ROUNDS = 5;
const PROFILED_ROUND = 3;

/** Whether the last round's prompt carries the counters of an earlier round's kernel, or why there were none. */
function promptCarriesCounters(dataDir: string, searchId: string): boolean {
  const file = path.join(dataDir, 'artifacts', ArtifactStore.keyFor(searchId, SEARCH_ROUNDS, 0, 'prompt.md'));
  try {
    return /^- (Counters of |No hardware counters for this kernel: )/m.test(readFileSync(file, 'utf8'));
  } catch {
    return false;
  }
}

async function phaseSearch(stack: Stack, sampler: GpuSampler, dataDir: string): Promise<Row> {
  const t0 = Date.now();
  const res = await stack.cli(['run', '--problem', ATTENTION, '--width', '1', '--max-candidates', String(SEARCH_ROUNDS), '--budget', '10m', '--fresh', '--json']);
  const t1 = Date.now();
  let got = `exit ${res.exitCode}`;
  let ok = false;
  let infra = 0;
  try {
    const out = JSON.parse(res.stdout.trim().split('\n').at(-1) ?? '{}') as { searchId?: string; solved?: boolean; candidates?: { status: string }[]; best?: { profile?: Profile } | null };
    const statuses = (out.candidates ?? []).map((c) => c.status);
    infra = statuses.filter((s) => s === 'infra_error').length;
    // the best kernel's Nsight Compute profile: read, or unavailable with its reason (a host without ncu
    // or readable counters is still a host this run must pass on); missing only if the search lost it
    const profile = out.best?.profile;
    const profiled = profile === undefined ? 'no profile' : profile.available ? `profiled: ${profile.kernels.length} kernel(s) in ${profile.cost_s.toFixed(0)} s` : `profile unavailable: ${profile.reason ?? '?'}`;
    const asScripted = statuses.slice(0, PROFILED_ROUND).join(',') === 'compile_error,incorrect,correct' && statuses.slice(PROFILED_ROUND).every((st) => st === 'correct');
    ok = out.solved === true && asScripted && infra === 0 && profile !== undefined;
    got = `${out.solved ? 'solved' : 'unsolved'}: ${statuses.join(', ')}; ${profiled.slice(0, 160)}`;
    if (stack.verifier === 'cpu') {
      // untimed on the CPU: a search stops at its first correct kernel (stop reason solved_untimed)
      ok &&= statuses.length === PROFILED_ROUND;
    } else {
      const inPrompt = out.searchId !== undefined && promptCarriesCounters(dataDir, out.searchId);
      got += `; round ${SEARCH_ROUNDS}'s prompt ${inPrompt ? 'carries' : 'lacks'} them`;
      ok &&= statuses.length === SEARCH_ROUNDS && inPrompt;
    }
  } catch {
    got += `: ${res.stderr.slice(-300)}`;
  }
  return { phase: 'search (relative-position attention)', expected: `solved: compile_error, incorrect, then correct; a kernel profiled (or why not), round ${SEARCH_ROUNDS}'s prompt carries it`, got, ok, infraErrors: infra, lost: ok ? 0 : 1, wallS: (t1 - t0) / 1000, busy: sampler.busy(t0, t1) };
}

async function phaseAudit(stack: Stack, sampler: GpuSampler, expected: Record<string, Expected>, outDir: string): Promise<Row[]> {
  const t0 = Date.now();
  const res = await stack.cli(['audit', '--name', 'acceptance', '--problems', path.join(ACCEPTANCE, 'problems'), '--kernels', path.join(ACCEPTANCE, 'kernels'), '--json'], 30 * 60_000);
  const t1 = Date.now();
  writeFileSync(path.join(outDir, 'audit.stdout.json'), res.stdout);
  writeFileSync(path.join(outDir, 'audit.stderr.txt'), res.stderr);
  await stack.cli(['report', 'acceptance', '--out', path.join(outDir, 'audit-report')], 5 * 60_000);
  const verdicts = auditVerdicts(res.stdout, path.join(outDir, 'audit-report', 'report.json'));
  const rows: Row[] = [];
  const ids = Object.keys(expected).sort();
  let infra = 0;
  let lost = 0;
  let matched = 0;
  for (const id of ids) {
    const e = expected[id]!;
    const v = verdicts.get(id);
    if (!v) lost++;
    if (v?.status === 'infra_error') infra++;
    const ok = v !== undefined && v.status === e.status && (e.cheat === null || v.cheats.includes(e.cheat));
    if (ok) matched++;
    rows.push({ phase: `  audit ${id} (${e.backend}, ${e.kind})`, expected: `${e.status}${e.cheat ? ` ${e.cheat}` : ''}`, got: v ? `${v.status}${v.cheats.length ? ` ${v.cheats.join('+')}` : ''}${v.sol !== null ? `, ${Math.round(v.sol * 100)}% SOL` : ''}` : 'missing', ok, infraErrors: v?.status === 'infra_error' ? 1 : 0, lost: v ? 0 : 1, wallS: 0, busy: null });
  }
  rows.unshift({ phase: `audit (${ids.length} kernels)`, expected: `${ids.length} as expected`, got: `${matched} as expected (exit ${res.exitCode})`, ok: matched === ids.length, infraErrors: infra, lost, wallS: (t1 - t0) / 1000, busy: sampler.busy(t0, t1) });
  return rows;
}

interface AuditVerdict {
  status: string;
  cheats: string[];
  sol: number | null;
}

/** Per problem id, what the audit found: from its report.json, else from its --json output. */
function auditVerdicts(stdout: string, reportJson: string): Map<string, AuditVerdict> {
  const map = new Map<string, AuditVerdict>();
  const take = (rows: unknown) => {
    if (!Array.isArray(rows)) return;
    for (const r of rows as Record<string, unknown>[]) {
      const id = (r.problemId ?? r.problem) as string | undefined;
      const verdict = (r.verdict ?? r) as Record<string, unknown>;
      const status = (verdict.status ?? r.status) as string | undefined;
      if (!id || !status) continue;
      const cheats = ((verdict.cheats ?? r.cheats ?? []) as { class: string }[]).map((c) => c.class);
      const timing = verdict.timing as { sol?: { fraction: number } | null } | null | undefined;
      map.set(id, { status, cheats, sol: timing?.sol?.fraction ?? (r.solFraction as number | null | undefined) ?? null });
    }
  };
  try {
    const report = JSON.parse(readFileSync(reportJson, 'utf8')) as Record<string, unknown>;
    take(report.kernels ?? report.entries ?? report.rows);
  } catch {
    // no report: the audit's own output
  }
  if (map.size === 0) {
    try {
      const out = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
      take(out.kernels ?? out.entries ?? out.results);
    } catch {
      // neither: every kernel counts as lost
    }
  }
  return map;
}

async function phaseCrash(stack: Stack, sampler: GpuSampler, expected: Record<string, Expected>, dataDir: string): Promise<Row> {
  const correct = Object.keys(expected).filter((id) => expected[id]!.status === 'correct').sort();
  const problems = path.join(dataDir, 'crash-problems');
  mkdirSync(problems, { recursive: true });
  for (const id of correct) copyFileSync(path.join(ACCEPTANCE, 'problems', `${id}.py`), path.join(problems, `${id}.py`));
  const verdictsDir = path.join(dataDir, 'artifacts');
  const base = countFiles(verdictsDir, 'verdict.json'); // the audit's, when it ran first
  const t0 = Date.now();
  const name = 'acceptance-crash';
  const started = await stack.cli(['campaign', '--name', name, '--problems', problems, '--width', '1', '--max-candidates', '1', '--budget', '10m', '--detach', '--json'], 120_000);
  if (started.exitCode !== 0) throw new Error(`campaign did not start: ${started.stderr.slice(-500)}`);
  // Kill the GPU worker while it verifies: once the first verdict is stored, a verification is in flight.
  const first = Date.now();
  while (countFiles(verdictsDir, 'verdict.json') < base + 1 && Date.now() - first < 300_000) await sleep(500);
  await sleep(1500);
  const before = countFiles(verdictsDir, 'verdict.json') - base;
  log(`killing the GPU worker (SIGKILL) after ${before} verdicts`);
  await stack.killWorker('gpu');
  await sleep(3000);
  await stack.startWorker('gpu');
  log('GPU worker started again; waiting for the campaign');
  const attached = await stack.cli(['resume', name, '--json'], 30 * 60_000); // attaches while it runs
  const resumed = await stack.cli(['resume', name, '--json'], 10 * 60_000); // after it finished: keeps all
  const t1 = Date.now();
  const entries = (parseLast(resumed.stdout)?.entries ?? parseLast(attached.stdout)?.entries ?? []) as { problemId: string; status: string; searchId: string }[];
  let infra = 0;
  let candidates = 0;
  for (const e of entries) {
    const v = await searchVerdicts(stack, e.searchId);
    infra += v.statuses.filter((s) => s === 'infra_error').length;
    candidates += v.candidates;
  }
  const done = entries.filter((e) => e.status === 'solved' || e.status === 'kept').length;
  const lost = correct.length - done;
  const got = `${done}/${correct.length} solved or kept, ${candidates} verdicts; resume: ${entries.map((e) => e.status).filter((s) => s === 'kept').length} kept (exits ${attached.exitCode}, ${resumed.exitCode})`;
  return { phase: `crash (campaign of ${correct.length}, GPU worker SIGKILLed after ${before} verdicts)`, expected: `${correct.length} solved, then all kept`, got, ok: lost === 0 && infra === 0 && resumed.exitCode === 0, infraErrors: infra, lost, wallS: (t1 - t0) / 1000, busy: sampler.busy(t0, t1) };
}

function parseLast(stdout: string): Record<string, unknown> | null {
  try {
    return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Record<string, unknown>;
  } catch {
    return null;
  }
}

function countFiles(dir: string, name: string): number {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile() && d.name === name).length;
  } catch {
    return 0;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The scripted model's replies: the demo's, and for each correct acceptance kernel one reply with it. */
function repliesDir(dataDir: string, expected: Record<string, Expected>): string {
  const dir = path.join(dataDir, 'replies');
  cpSync(path.join(REPO_ROOT, 'scripted-replies'), dir, { recursive: true });
  for (const [id, e] of Object.entries(expected)) {
    if (e.status !== 'correct') continue;
    mkdirSync(path.join(dir, id), { recursive: true });
    const source = readFileSync(path.join(ACCEPTANCE, 'kernels', `${id}.py`), 'utf8');
    writeFileSync(path.join(dir, id, '01.md'), `The ${e.kind} kernel (${e.backend}).\n\n\`\`\`python\n${source}\n\`\`\`\n`);
  }
  return dir;
}

function table(rows: Row[]): string {
  const lines = ['| phase | expected | got | as expected | infra_error | lost | wall s | GPU busy |', '|---|---|---|---|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.phase} | ${r.expected} | ${r.got} | ${r.ok ? 'yes' : '**no**'} | ${r.infraErrors} | ${r.lost} | ${r.wallS ? r.wallS.toFixed(0) : ''} | ${r.busy === null ? '' : `${Math.round(r.busy * 100)}%`} |`);
  return lines.join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { out: { type: 'string' }, only: { type: 'string', default: 'search,audit,crash' }, 'per-gpu': { type: 'string' }, verifier: { type: 'string', default: 'cuda' } } });
  if (values.verifier !== 'cuda' && values.verifier !== 'cpu') throw new Error(`--verifier must be cuda or cpu, got "${values.verifier}"`);
  const only = new Set(values.only.split(',').map((p) => p.trim()).filter((p) => p !== ''));
  const unknown = [...only].filter((p) => !['search', 'audit', 'crash'].includes(p));
  if (unknown.length > 0 || only.size === 0) throw new Error(`--only takes phases among search, audit, crash; got "${values.only}"`);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ks-acceptance-'));
  const outDir = path.resolve(values.out ?? path.join(dataDir, 'out'));
  mkdirSync(outDir, { recursive: true });
  const expected = JSON.parse(readFileSync(path.join(ACCEPTANCE, 'expected.json'), 'utf8')) as Record<string, Expected>;
  const [port, uiPort, modelPort] = [await freePort(), await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = { ...process.env, KS_DATA_DIR: dataDir, KS_TEMPORAL_PORT: String(port), KS_TEMPORAL_UI_PORT: String(uiPort), TEMPORAL_ADDRESS: `127.0.0.1:${port}`, TEMPORAL_UI_URL: `http://localhost:${uiPort}`, OPENAI_BASE_URL: `http://127.0.0.1:${modelPort}/v1`, OPENAI_API_KEY: 'acceptance', KS_MODEL: 'scripted-deepseek-r1', NVIDIA_API_KEY: '' };
  const t0 = Date.now();
  const server = await startEmbeddedServer(resolveTemporalTarget({ ...env, TEMPORAL_ADDRESS: '' }), { dbFile: path.join(dataDir, 'temporal.db') });
  const sampler = new GpuSampler();
  sampler.start();
  const stack = new Stack(env, outDir, values['per-gpu'], values.verifier);
  const rows: Row[] = [];
  try {
    await stack.startModel(modelPort, repliesDir(dataDir, expected));
    await Promise.all([stack.startWorker('orchestrator'), stack.startWorker('gpu')]);
    log(`stack up in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    if (only.has('search')) rows.push(await phaseSearch(stack, sampler, dataDir));
    if (only.has('audit')) rows.push(...(await phaseAudit(stack, sampler, expected, outDir)));
    if (only.has('crash')) rows.push(await phaseCrash(stack, sampler, expected, dataDir));
  } catch (err) {
    rows.push({ phase: 'run', expected: 'no error', got: String(err instanceof Error ? err.message : err).slice(0, 300), ok: false, infraErrors: 0, lost: 0, wallS: 0, busy: null });
  } finally {
    await stack.stop();
    sampler.stop();
    await server.stop();
  }
  const all = table(rows);
  const summary = `all phases as expected: ${rows.every((r) => r.ok) ? 'yes' : 'NO'}; total ${((Date.now() - t0) / 1000).toFixed(0)} s; GPU busy over the run ${((b) => (b === null ? 'n/a (no nvidia-smi samples)' : `${Math.round(b * 100)}%`))(sampler.busy(t0, Date.now()))}`;
  writeFileSync(path.join(outDir, 'acceptance.md'), `${all}\n\n${summary}\n`);
  process.stdout.write(`${all}\n\n${summary}\n`);
  return rows.every((r) => r.ok) ? 0 : 1;
}

process.exit(
  await main().catch((err: unknown) => {
    process.stderr.write(`acceptance: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }),
);
