// Starting the pieces a search needs on one machine: the embedded Temporal server (unless
// TEMPORAL_ADDRESS names a cluster), the scripted model (when no endpoint is configured), and the
// orchestrator and GPU workers. Used by `dev` and `demo`.
import type { Worker } from '@temporalio/worker';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { hasConfiguredEndpoint, resolveEndpoint } from '../infra/endpoint.js';
import { REPO_ROOT, dataDir } from '../infra/paths.js';
import { resolveTemporalTarget, startEmbeddedServer, type EmbeddedServer, type TemporalTarget } from '../infra/temporal.js';
import { ScriptedModel } from '../scripted-model/server.js';
import { connectWorker } from '../workers/connection.js';
import { createGpuWorker, resolveGpuSlots } from '../workers/gpu.js';
import { createOrchestratorWorker } from '../workers/orchestrator.js';

export const DEFAULT_REPLIES_DIR = path.join(REPO_ROOT, 'scripted-replies');

export interface StackOptions {
  verifier: 'cpu' | 'cuda' | 'auto';
  gpus?: string;
  /** Verifications sharing one GPU (default: defaultVerificationsPerGpu, from the host's cores). */
  perGpu?: number;
  cpuSlots?: number;
  gpuTaskQueue?: string;
  /** Use the scripted model even when an endpoint is configured. */
  forceScripted?: boolean;
  repliesDirs?: string[];
  /** `verify`: no scripted model (an audit never generates); the orchestrator keeps the configured endpoint for any search it resumes. */
  verificationOnly?: boolean;
  log: (line: string) => void;
}

export interface Stack {
  target: TemporalTarget;
  scripted: ScriptedModel | null;
  verifier: 'cpu' | 'cuda';
  stop(): Promise<void>;
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const target = resolveTemporalTarget();
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    let server: EmbeddedServer | null = null;
    if (target.embedded) {
      server = await startEmbeddedServer(target, { log: opts.log });
      stops.push(() => server!.stop());
    } else {
      opts.log(`using the Temporal cluster at ${target.address} (namespace ${target.namespace})`);
    }

    let scripted: ScriptedModel | null = null;
    let endpoint = resolveEndpoint();
    if (!opts.verificationOnly && (opts.forceScripted || !hasConfiguredEndpoint())) {
      scripted = await new ScriptedModel({ repliesDirs: opts.repliesDirs ?? [DEFAULT_REPLIES_DIR] }).start();
      stops.push(() => scripted!.stop());
      // Where the workers' scripted model is, for a `run` or `campaign` from another shell to ask which problems it can answer.
      const note = scriptedNoteFile();
      mkdirSync(path.dirname(note), { recursive: true });
      writeFileSync(note, JSON.stringify({ url: scripted.url, pid: process.pid }));
      stops.push(() => Promise.resolve(rmSync(note, { force: true })));
      endpoint = { baseURL: scripted.url, apiKey: 'scripted', defaultModel: 'scripted-deepseek-r1', keySource: 'none' };
      opts.log(`no model endpoint configured (NVIDIA_API_KEY / OPENAI_BASE_URL): using the SCRIPTED model at ${scripted.url}, which plays back canned replies`);
    } else if (!opts.verificationOnly) {
      opts.log(`model endpoint: ${endpoint.baseURL} (default model ${endpoint.defaultModel})`);
    }

    let verifier: 'cpu' | 'cuda' = opts.verifier === 'cuda' ? 'cuda' : 'cpu';
    let slots: string[];
    if (opts.verifier === 'cpu') {
      slots = cpuSlots(opts.cpuSlots);
    } else {
      try {
        slots = await resolveGpuSlots(opts.gpus, opts.perGpu);
        verifier = 'cuda';
      } catch (err) {
        if (opts.verifier === 'cuda') throw err;
        slots = cpuSlots(opts.cpuSlots);
      }
    }
    opts.log(verifier === 'cuda' ? `GPU verifier, slots ${slots.join(', ')}` : `CPU verifier (Triton interpreter; timings are not meaningful), ${slots.length} slot(s)`);

    const connection = await connectWorker(target);
    stops.push(() => connection.close());
    const workers: Worker[] = [
      await createOrchestratorWorker({ connection, namespace: target.namespace, endpoint }),
      await createGpuWorker({ connection, namespace: target.namespace, device: verifier, slots, taskQueue: opts.gpuTaskQueue }),
    ];
    const running = workers.map((w) => w.run());
    stops.push(async () => {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await Promise.allSettled(running);
    });
    return { target, scripted, verifier, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

export function cpuSlots(n = 1): string[] {
  return Array.from({ length: Math.max(1, n) }, (_, i) => `cpu${i}`);
}

function scriptedNoteFile(): string {
  return path.join(dataDir(), 'scripted-model.json');
}

/** The URL of the scripted model a `dev` of this checkout serves its workers, if one is up. */
export function devScriptedModelUrl(): string | null {
  try {
    const { url, pid } = JSON.parse(readFileSync(scriptedNoteFile(), 'utf8')) as { url: string; pid: number };
    process.kill(pid, 0); // throws when that dev has gone
    return url;
  } catch {
    return null;
  }
}
