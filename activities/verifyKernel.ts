// verifyKernel: runs the Python verifier (verifier/, contract in docs/verifier-contract.md) in a
// subprocess on a GPU host. One verification per slot at a time; a slot is a GPU (pinned with
// CUDA_VISIBLE_DEVICES) or, with the CPU verifier, a CPU lane. A wrong or cheating kernel is a normal
// verdict; only infrastructure failures throw, so Temporal retries them.
import { Context, ApplicationFailure } from '@temporalio/activity';
import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { VerdictSummary, VerifyRequest } from '../domain/types.js';
import { summarizeVerdict, verdictSchema } from '../domain/verdict.js';
import { REPO_ROOT, verifierPython } from '../infra/paths.js';
import { ArtifactStore } from './artifacts.js';
import { SlotPool } from './slots.js';

export type VerifierDevice = 'cpu' | 'cuda';

export interface VerificationConfig {
  device: VerifierDevice;
  /** GPU indices for cuda; lane names for cpu. */
  slots: string[];
  python?: string;
  store?: ArtifactStore;
}

const HEARTBEAT_MS = 2000;
const KILL_GRACE_MS = 2000;

export function createVerificationActivities(config: VerificationConfig) {
  const pool = new SlotPool(config.slots);
  const store = config.store ?? new ArtifactStore();
  const python = config.python ?? verifierPython();

  async function verifyKernel(req: VerifyRequest): Promise<VerdictSummary> {
    const ctx = Context.current();
    const slot = await pool.acquire(ctx.cancellationSignal);
    const startedAtMs = Date.now();
    let workDir: string | null = null;
    const heartbeat = setInterval(() => ctx.heartbeat({ slot }), HEARTBEAT_MS);
    try {
      workDir = await mkdtemp(path.join(os.tmpdir(), 'ks-verify-'));
      ctx.heartbeat({ slot });
      const requestFile = path.join(workDir, 'request.json');
      await writeFile(
        requestFile,
        JSON.stringify({
          problem_id: req.problem.id,
          problem_source: req.problem.source,
          candidate_source: req.candidateSource,
          backend: req.problem.backend,
          device: config.device,
          timeout_s: req.timeoutS,
          atol: req.problem.atol ?? null,
          rtol: req.problem.rtol ?? null,
        }),
      );
      const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1' };
      if (config.device === 'cuda') env.CUDA_VISIBLE_DEVICES = slot;
      else env.CUDA_VISIBLE_DEVICES = '';
      const child = execa(python, ['-m', 'verifier', 'verify', '--request', requestFile], {
        cwd: REPO_ROOT,
        env,
        extendEnv: false,
        reject: false,
        // Own process group, so cancellation can kill the verifier and everything it started.
        detached: true,
        timeout: (req.timeoutS + 60) * 1000,
        forceKillAfterDelay: KILL_GRACE_MS,
        maxBuffer: 64 * 1024 * 1024,
      });
      const killGroup = () => {
        if (child.pid === undefined) return;
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      };
      ctx.cancellationSignal.addEventListener('abort', killGroup, { once: true });
      if (ctx.cancellationSignal.aborted) killGroup(); // cancelled before the listener was in place
      const result = await child;
      ctx.cancellationSignal.removeEventListener('abort', killGroup);
      killGroup(); // leftovers of the candidate, if any
      if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? new Error('cancelled');

      const stdout = String(result.stdout ?? '').trim();
      const stderrTail = String(result.stderr ?? '').slice(-2000);
      if (result.timedOut) throw ApplicationFailure.retryable(`verifier did not finish within ${req.timeoutS + 60} s; stderr: ${stderrTail}`, 'VerifierTimeout');
      let json: unknown;
      try {
        json = JSON.parse(stdout.slice(stdout.lastIndexOf('\n{') + 1));
      } catch {
        throw ApplicationFailure.retryable(`verifier printed no verdict (exit ${result.exitCode ?? result.signal}); stderr: ${stderrTail}`, 'VerifierCrashed');
      }
      const parsed = verdictSchema.safeParse(json);
      if (!parsed.success) throw ApplicationFailure.nonRetryable(`verifier verdict does not match the contract: ${parsed.error.message.slice(0, 1000)}`, 'VerdictSchema');
      const verdict = parsed.data;
      const artifactKey = await store.put(ArtifactStore.keyFor(req.searchId, req.round, req.index, 'verdict.json'), JSON.stringify(verdict, null, 2));
      // Which slot ran it and when: the record that scheduling across GPUs is checked against.
      await store.put(ArtifactStore.keyFor(req.searchId, req.round, req.index, 'slot.json'), JSON.stringify({ slot, device: config.device, startedAtMs, endedAtMs: Date.now() }));
      if (verdict.status === 'infra_error') throw ApplicationFailure.retryable(`verifier infrastructure error: ${verdict.message}`, 'VerifierInfra');
      return summarizeVerdict(verdict, artifactKey);
    } finally {
      clearInterval(heartbeat);
      pool.release(slot);
      if (workDir) await rm(workDir, { recursive: true, force: true });
    }
  }

  return { verifyKernel };
}
