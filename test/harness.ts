// Test harness: a real Temporal dev server on free ports with its own SQLite file, the scripted model
// as a real HTTP server, and workers as real child processes (so tests can SIGKILL them).
import { Client, Connection } from '@temporalio/client';
import { execa, type ResultPromise } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../infra/paths.js';
import { resolveTemporalTarget, startEmbeddedServer, type EmbeddedServer, type TemporalTarget } from '../infra/temporal.js';
import { ScriptedModel, type ScriptedModelOptions } from '../scripted-model/server.js';

export const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures');
export const FIXTURE_PROBLEMS = path.join(FIXTURES, 'problems');
export const FIXTURE_REPLIES = path.join(FIXTURES, 'scripted-replies');
export const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'main.js');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export class TestEnv {
  readonly workers: ResultPromise[] = [];
  server: EmbeddedServer | null = null;
  client!: Client;
  private connection!: Connection;

  private constructor(
    readonly dataDir: string,
    readonly env: NodeJS.ProcessEnv,
    readonly target: TemporalTarget,
    readonly model: ScriptedModel,
    private readonly dynamicConfig: Record<string, string | number>,
  ) {}

  static async start(opts: { scripted?: Partial<ScriptedModelOptions>; dynamicConfig?: Record<string, string | number> } = {}): Promise<TestEnv> {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ks-test-'));
    const model = await new ScriptedModel({ repliesDirs: [FIXTURE_REPLIES], ...opts.scripted }).start();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      KS_TEMPORAL_PORT: String(await freePort()),
      KS_TEMPORAL_UI_PORT: String(await freePort()),
      KS_DATA_DIR: dataDir,
      OPENAI_BASE_URL: model.url,
      OPENAI_API_KEY: opts.scripted?.apiKey ?? 'test-key',
      KS_MODEL: 'scripted-deepseek-r1',
      TEMPORAL_ADDRESS: '',
      NVIDIA_API_KEY: '',
    };
    // Test files run in parallel, each picking its ports before its server binds them: another file's
    // server can take one in between. A server that does not start gets fresh ports, twice.
    for (let attempt = 1; ; attempt++) {
      const testEnv = new TestEnv(dataDir, env, resolveTemporalTarget(env), model, opts.dynamicConfig ?? {});
      try {
        await testEnv.startServer();
        return testEnv;
      } catch (err) {
        if (attempt === 3) {
          await testEnv.stop(); // the model's HTTP server would keep the test file from ever exiting
          throw err;
        }
        env.KS_TEMPORAL_PORT = String(await freePort());
        env.KS_TEMPORAL_UI_PORT = String(await freePort());
      }
    }
  }

  get dbFile(): string {
    return path.join(this.dataDir, 'temporal.db');
  }

  async startServer(): Promise<void> {
    this.server = await startEmbeddedServer(this.target, { dbFile: this.dbFile, dynamicConfig: this.dynamicConfig });
    this.connection = await Connection.connect({ address: this.target.address });
    this.client = new Client({ connection: this.connection, namespace: this.target.namespace });
  }

  /** Kills the Temporal server outright (no graceful shutdown), as a crash would. */
  async killServer(): Promise<void> {
    await this.connection.close().catch(() => undefined);
    const proc = this.server?.process;
    if (proc) {
      proc.kill('SIGKILL');
      await proc.catch(() => undefined);
    }
    this.server = null;
  }

  /** Starts a worker process (kept in `workers`) and resolves once it polls. */
  async startWorker(role: 'orchestrator' | 'gpu', extra: string[] = []): Promise<void> {
    const args = role === 'gpu' ? ['worker', 'gpu', '--verifier', 'cpu', ...extra] : ['worker', 'orchestrator', ...extra];
    const child = execa('node', [CLI, ...args], { env: this.env, extendEnv: false, reject: false, stdout: 'pipe', stderr: 'pipe', cleanup: true });
    this.workers.push(child);
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const onData = (d: Buffer) => {
        out += d.toString();
        if (/Worker state changed.*RUNNING|state: 'RUNNING'/.test(out)) resolve();
      };
      child.stderr?.on('data', onData);
      child.stdout?.on('data', onData);
      void child.then((r) => reject(new Error(`worker ${role} exited (${r.exitCode}): ${out.slice(-2000)}`)));
      setTimeout(() => reject(new Error(`worker ${role} did not start: ${out.slice(-2000)}`)), 60_000).unref();
    });
    // (Not returned: an execa child is a thenable, and returning it would wait for the process to exit.)
  }

  async startWorkers(): Promise<void> {
    await Promise.all([this.startWorker('orchestrator'), this.startWorker('gpu')]);
  }

  /** Runs the CLI with this environment; never throws on a non-zero exit. */
  cli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 240_000) {
    return execa('node', [CLI, ...args], { env: { ...this.env, ...env }, extendEnv: false, reject: false, timeout: timeoutMs });
  }

  async stop(): Promise<void> {
    for (const w of this.workers) w.kill('SIGKILL');
    await Promise.allSettled(this.workers);
    await this.connection?.close().catch(() => undefined);
    await this.server?.stop();
    await this.model.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export function problemFile(name: string): string {
  return path.join(FIXTURE_PROBLEMS, `${name}.py`);
}

export async function eventually<T>(fn: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
