// A GPU worker in the test's own process, for the part of the GPU that the CPU cannot play (a timed verdict,
// a slow or canned Nsight Compute): the test gets the real CPU verification activities and says which
// activities the worker runs. The rest of the stack (server, orchestrator, scripted model) is real.
import { NativeConnection, Worker } from '@temporalio/worker';
import path from 'node:path';
import { ArtifactStore } from '../activities/artifacts.js';
import { createVerificationActivities } from '../activities/verifyKernel.js';
import { VerifierServices } from '../activities/verifierService.js';
import { DEFAULT_GPU_TASK_QUEUE } from '../domain/defaults.js';
import { verifierPython } from '../infra/paths.js';
import type { TestEnv } from './harness.js';

type GpuActivities = ReturnType<typeof createVerificationActivities>;

export class InProcessGpuWorker {
  private constructor(
    private readonly worker: Worker,
    private readonly running: Promise<void>,
    private readonly services: VerifierServices,
  ) {}

  /** Starts it on the GPU task queue of `env`'s server with `activities(real)`. */
  static async start(env: TestEnv, activities: (real: GpuActivities) => GpuActivities, opts: { maxConcurrentActivityTaskExecutions?: number } = {}): Promise<InProcessGpuWorker> {
    process.env.KS_DATA_DIR = env.dataDir; // the verifier's build cache, as a worker of this stack has it
    const services = new VerifierServices(verifierPython(), 'cpu');
    const real = createVerificationActivities({ device: 'cpu', slots: ['cpu0'], services, store: new ArtifactStore(path.join(env.dataDir, 'artifacts')) });
    const connection = await NativeConnection.connect({ address: env.target.address });
    const worker = await Worker.create({ connection, namespace: env.target.namespace, taskQueue: DEFAULT_GPU_TASK_QUEUE, activities: activities(real), shutdownGraceTime: '1s', ...opts });
    return new InProcessGpuWorker(worker, worker.run().finally(() => connection.close()), services);
  }

  async stop(): Promise<void> {
    this.worker.shutdown();
    await this.running.catch(() => undefined);
    this.services.killAll();
  }
}
