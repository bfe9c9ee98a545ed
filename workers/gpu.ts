// The GPU worker: runs verifyKernel only, one verification per slot at a time. A GPU gives `--per-gpu`
// slots (default 2 to 4, from the host's cores): candidates compile on the host's cores while another
// runs on the GPU, and the verifier's GPU lock lets only one of them time at once. With the CPU verifier
// it runs on a machine without a GPU (Triton interpreter; timings marked not meaningful).
import { Worker, type NativeConnection } from '@temporalio/worker';
import { execa } from 'execa';
import os from 'node:os';
import { createVerificationActivities, type VerificationConfig } from '../activities/verifyKernel.js';
import { DEFAULT_GPU_TASK_QUEUE } from '../domain/defaults.js';

export interface GpuWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  device: VerificationConfig['device'];
  slots: string[];
  taskQueue?: string;
}

/** GPU workers put their slot count in their identity, so clients can size campaigns to the fleet. */
export const GPU_IDENTITY_SLOTS = /slots=(\d+)/;

export function createGpuWorker(opts: GpuWorkerOptions): Promise<Worker> {
  return Worker.create({
    identity: `gpu-worker slots=${opts.slots.length} ${opts.device} ${os.hostname()} pid=${process.pid}`,
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue ?? DEFAULT_GPU_TASK_QUEUE,
    activities: createVerificationActivities({ device: opts.device, slots: opts.slots }),
    // Exactly one verification per slot: more tasks would only queue inside the worker.
    maxConcurrentActivityTaskExecutions: opts.slots.length,
  });
}

/** GPU indices visible to this host (nvidia-smi), honouring CUDA_VISIBLE_DEVICES when set. */
export async function visibleGpus(): Promise<string[]> {
  const fromEnv = process.env.CUDA_VISIBLE_DEVICES;
  if (fromEnv !== undefined && fromEnv.trim() !== '') return fromEnv.split(',').map((s) => s.trim());
  const result = await execa('nvidia-smi', ['--query-gpu=index', '--format=csv,noheader'], { reject: false });
  if (result.exitCode !== 0) return [];
  return String(result.stdout).split('\n').map((s) => s.trim()).filter(Boolean);
}

/**
 * Verifications sharing one GPU when `--per-gpu` is not given: one per four host cores per GPU, from 2 to
 * 4. While some compile on the host's cores another runs on the GPU; on the 16-core H100 host, 4 kept
 * the GPU busy 86–88% of a cold batch against 68% with 2 (docs/benchmarks.md, third session). It counts
 * the GPUs this worker serves: run one worker per host (all its GPUs), or pass `--per-gpu` explicitly.
 */
export function defaultVerificationsPerGpu(gpuCount: number, cores = os.availableParallelism()): number {
  return Math.min(4, Math.max(2, Math.floor(cores / Math.max(1, gpuCount) / 4)));
}

/** Slots of `gpus`, `perGpu` each: "0" when one per GPU, else "0.1", "0.2", … (see gpuOfSlot). */
export function gpuSlots(gpus: string[], perGpu: number): string[] {
  if (perGpu <= 1) return [...gpus];
  return gpus.flatMap((g) => Array.from({ length: perGpu }, (_, k) => `${g}.${k + 1}`));
}

/** Parses `--gpus 0,1,3` (or "all") into slots, checking them against what is visible. */
export async function resolveGpuSlots(spec: string | undefined, perGpu?: number): Promise<string[]> {
  const visible = await visibleGpus();
  if (visible.length === 0) throw new Error('no GPU is visible on this host (nvidia-smi found none); use `--verifier cpu` to verify on the CPU');
  const wanted = !spec || spec === 'all' ? visible : spec.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = wanted.filter((g) => !visible.includes(g));
  if (unknown.length > 0) throw new Error(`--gpus names GPUs that are not visible: ${unknown.join(', ')} (visible: ${visible.join(', ')})`);
  return gpuSlots(wanted, perGpu ?? defaultVerificationsPerGpu(wanted.length));
}
