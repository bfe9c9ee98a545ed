// verifyKernel: judges one candidate with the Python verifier (verifier/, contract in
// docs/verifier-contract.md) on a GPU host, through the slot's warm verifier (./verifierService.ts).
// One verification per slot at a time; a slot is a GPU (pinned with CUDA_VISIBLE_DEVICES), a share of
// one (`--per-gpu`: the verifier then lets only one of them time at once), or, with the CPU verifier, a
// CPU lane. A wrong or cheating kernel is a normal verdict; only infrastructure failures throw, so
// Temporal retries them.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { verificationLimitS } from '../domain/defaults.js';
import type { VerdictSummary, VerifyRequest } from '../domain/types.js';
import { isConfigurationError, summarizeVerdict, verdictSchema } from '../domain/verdict.js';
import { verifierPython } from '../infra/paths.js';
import { parseProfile, unavailableProfile, type Profile } from '../domain/profile.js';
import { ArtifactStore } from './artifacts.js';
import { problemOf } from './problemSource.js';
import { SlotPool } from './slots.js';
import { VerifierServices, gpuOfSlot, type VerifierDevice } from './verifierService.js';

export type { VerifierDevice };

export interface VerificationConfig {
  device: VerifierDevice;
  /** GPU indices (or "gpu.k" shares) for cuda; lane names for cpu. */
  slots: string[];
  python?: string;
  store?: ArtifactStore;
  /** The warm verifiers to use (default: new ones, killed when this process exits). */
  services?: VerifierServices;
}

const HEARTBEAT_MS = 2000;
/** The verifier bounds a profile at 300 s (verifier/profile.py PROFILE_TIMEOUT_S); this is the wait for its answer. */
const PROFILE_LIMIT_S = 360;

/** The slots that share `slot`'s GPU (`--per-gpu`): a slot held t seconds costs t / this of the card. A CPU lane is its own. */
export function slotShares(device: VerifierDevice, slots: readonly string[], slot: string): number {
  return device === 'cuda' ? Math.max(1, slots.filter((s) => gpuOfSlot(s) === gpuOfSlot(slot)).length) : 1;
}

export function createVerificationActivities(config: VerificationConfig) {
  const pool = new SlotPool(config.slots);
  const store = config.store ?? new ArtifactStore();
  const services = config.services ?? new VerifierServices(config.python ?? verifierPython(), config.device);

  async function verifyKernel(req: VerifyRequest): Promise<VerdictSummary> {
    const ctx = Context.current();
    const problem = await problemOf(req, store);
    const slot = await pool.acquire(ctx.cancellationSignal);
    const startedAtMs = Date.now();
    const heartbeat = setInterval(() => ctx.heartbeat({ slot }), HEARTBEAT_MS);
    try {
      ctx.heartbeat({ slot });
      const request = {
        problem_id: problem.id,
        problem_source: problem.source,
        candidate_source: req.candidateSource,
        backend: problem.backend,
        device: config.device,
        timeout_s: req.timeoutS,
        atol: problem.atol ?? null,
        rtol: problem.rtol ?? null,
      };
      const raw = await services.forSlot(slot).verify(request, ctx.cancellationSignal, verificationLimitS(req.timeoutS) * 1000);
      const parsed = verdictSchema.safeParse(raw);
      if (!parsed.success) throw ApplicationFailure.nonRetryable(`verifier verdict does not match the contract: ${parsed.error.message.slice(0, 1000)}`, 'VerdictSchema');
      const verdict = parsed.data;
      const artifactKey = await store.put(ArtifactStore.keyFor(req.searchId, req.round, req.index, 'verdict.json'), JSON.stringify(verdict, null, 2));
      // Which slot ran it and when: the record that scheduling across GPUs is checked against.
      const endedAtMs = Date.now();
      await store.put(ArtifactStore.keyFor(req.searchId, req.round, req.index, 'slot.json'), JSON.stringify({ slot, device: config.device, startedAtMs, endedAtMs }));
      if (isConfigurationError(verdict)) throw ApplicationFailure.nonRetryable(`the verifier on ${config.device} cannot run this search: ${verdict.message}`, 'VerifierConfiguration');
      if (verdict.status === 'infra_error') throw ApplicationFailure.retryable(`verifier infrastructure error: ${verdict.message}`, 'VerifierInfra');
      // Measured here, around the slot, with one clock: what the search occupied of the card (the verifier's
      // own stage times leave out its queueing, process start and the baselines' share).
      return { ...summarizeVerdict(verdict, artifactKey), gpuSeconds: (endedAtMs - startedAtMs) / 1000 / slotShares(config.device, config.slots, slot) };
    } finally {
      clearInterval(heartbeat);
      pool.release(slot);
    }
  }

  /** Nsight Compute counters of a verified candidate (verifier/profile.py), on a slot like a verification.
   * Never throws for the profile's own failures: they come back as `available: false` with the reason
   * (cancellation still ends it). */
  async function profileKernel(req: VerifyRequest): Promise<Profile> {
    const ctx = Context.current();
    const problem = await problemOf(req, store);
    const slot = await pool.acquire(ctx.cancellationSignal);
    const heartbeat = setInterval(() => ctx.heartbeat({ slot }), HEARTBEAT_MS);
    const startedAtMs = Date.now();
    try {
      const request = {
        problem_id: problem.id,
        problem_source: problem.source,
        candidate_source: req.candidateSource,
        backend: problem.backend,
        device: config.device,
        timeout_s: req.timeoutS,
        seeds: [0],
        timing: false,
      };
      const raw = await services.forSlot(slot).verify(request, ctx.cancellationSignal, PROFILE_LIMIT_S * 1000, 'profile');
      const profile = parseProfile(raw);
      await store.put(ArtifactStore.keyFor(req.searchId, req.round, req.index, 'profile.json'), JSON.stringify(profile, null, 2));
      return profile;
    } catch (err) {
      if (ctx.cancellationSignal.aborted) throw err;
      return unavailableProfile(`the profile failed: ${err instanceof Error ? err.message.slice(0, 500) : String(err)}`, (Date.now() - startedAtMs) / 1000);
    } finally {
      clearInterval(heartbeat);
      pool.release(slot);
    }
  }

  return { verifyKernel, profileKernel };
}
