// One warm verifier per slot: a long-lived `python -m verifier serve` (verifier/service.py) that keeps
// torch imported, the next candidate's process started and the problem's reference prepared, so a
// candidate costs its own import, checks and timing, not two Python start-ups and the reference again.
// Requests and verdicts are JSON lines on its stdin/stdout. Each candidate still runs in a fresh process
// of its own inside the service. A service that dies, hangs or is cancelled is killed with everything it
// started and a new one starts on the next request.
import { ApplicationFailure } from '@temporalio/activity';
import { execa, type ResultPromise } from 'execa';
import readline from 'node:readline';
import { REPO_ROOT } from '../infra/paths.js';

export type VerifierDevice = 'cpu' | 'cuda';

interface Pending {
  id: string;
  /** The service process this request was written to: only its exit may fail the request. */
  child: ResultPromise;
  resolve: (verdict: unknown) => void;
  reject: (err: unknown) => void;
}

const STDERR_TAIL_CHARS = 4000;

export class VerifierService {
  private child: ResultPromise | null = null;
  private pending: Pending | null = null;
  private stderrTail = '';
  private seq = 0;

  constructor(
    private readonly python: string,
    private readonly device: VerifierDevice,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** Sends one request and waits for its verdict, or with kind 'profile' its Nsight Compute profile (raw
   * JSON, validated by the caller). One at a time. */
  verify(request: Record<string, unknown>, signal: AbortSignal, timeoutMs: number, kind: 'verify' | 'profile' = 'verify'): Promise<unknown> {
    if (this.pending) return Promise.reject(new Error('verifier service is busy (one request at a time per slot)'));
    if (signal.aborted) return Promise.reject(signal.reason);
    const child = this.child ?? this.start();
    const id = `${process.pid}-${++this.seq}`;
    return new Promise<unknown>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.pending = null;
      };
      const onAbort = () => {
        done();
        this.kill(); // the candidate being judged goes with the service
        reject(signal.reason ?? new Error('cancelled'));
      };
      const timer = setTimeout(() => {
        done();
        const tail = this.stderrTail.slice(-2000);
        this.kill();
        reject(ApplicationFailure.retryable(`verifier did not answer within ${Math.round(timeoutMs / 1000)} s; stderr: ${tail}`, 'VerifierTimeout'));
      }, timeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      this.pending = {
        id,
        child,
        resolve: (v) => {
          done();
          resolve(v);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      };
      child.stdin?.write(JSON.stringify(kind === 'verify' ? { id, request } : { id, kind, request }) + '\n');
    });
  }

  /** The service's process id while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Kills the service's process group; its candidate processes die with it (PDEATHSIG). */
  kill(): void {
    const child = this.child;
    this.child = null;
    if (child?.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  private start(): ResultPromise {
    this.stderrTail = '';
    const child = execa(this.python, ['-m', 'verifier', 'serve', '--device', this.device], {
      cwd: REPO_ROOT,
      env: this.env,
      extendEnv: false,
      reject: false,
      buffer: false,
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      // Own process group, so cancellation can kill the service and everything it started.
      detached: true,
    });
    this.child = child;
    // A write to a service that has just died fails here; its exit (below) fails the request instead.
    child.stdin!.on('error', () => undefined);
    readline.createInterface({ input: child.stdout! }).on('line', (line) => this.onLine(line));
    child.stderr!.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-STDERR_TAIL_CHARS);
    });
    void child.then((result) => {
      if (this.child === child) this.child = null;
      const how = result.signal ?? `exit ${result.exitCode}`;
      if (this.pending?.child === child) this.pending.reject(ApplicationFailure.retryable(`verifier service ended (${how}) before answering; stderr: ${this.stderrTail.slice(-2000)}`, 'VerifierCrashed'));
    });
    return child;
  }

  private onLine(line: string): void {
    let msg: { id?: unknown; verdict?: unknown; profile?: unknown };
    try {
      msg = JSON.parse(line) as { id?: unknown; verdict?: unknown; profile?: unknown };
    } catch {
      return; // not protocol; the service writes only JSON lines to stdout
    }
    if (this.pending && msg.id === this.pending.id) this.pending.resolve(msg.verdict ?? msg.profile);
  }
}

/** The warm verifiers of one worker, one per slot, all killed when the worker's process exits. */
export class VerifierServices {
  private readonly services = new Map<string, VerifierService>();

  constructor(
    private readonly python: string,
    private readonly device: VerifierDevice,
  ) {
    process.once('exit', () => this.killAll());
  }

  forSlot(slot: string): VerifierService {
    let service = this.services.get(slot);
    if (!service) {
      const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1' };
      env.CUDA_VISIBLE_DEVICES = this.device === 'cuda' ? gpuOfSlot(slot) : '';
      service = new VerifierService(this.python, this.device, env);
      this.services.set(slot, service);
    }
    return service;
  }

  killAll(): void {
    for (const service of this.services.values()) service.kill();
  }
}

/** Slots are GPU indices ("0"), or "0.2" for the second verification sharing GPU 0 (`--per-gpu`). */
export function gpuOfSlot(slot: string): string {
  return slot.split('.')[0]!;
}
