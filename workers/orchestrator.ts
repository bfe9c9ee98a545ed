// The orchestrator worker: runs the kernelSearch and campaign workflows, the generateKernel activity
// and the campaign's describeSearch (CPU only).
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createCampaignActivities, createGenerationActivities } from '../activities/index.js';
import { ORCHESTRATOR_TASK_QUEUE } from '../domain/defaults.js';
import type { Endpoint } from '../infra/endpoint.js';
import { WORKFLOWS_PATH } from '../infra/paths.js';

export interface OrchestratorWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  endpoint: Endpoint;
  taskQueue?: string;
}

export function createOrchestratorWorker(opts: OrchestratorWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue ?? ORCHESTRATOR_TASK_QUEUE,
    workflowsPath: WORKFLOWS_PATH,
    activities: { ...createGenerationActivities(opts.endpoint), ...createCampaignActivities() },
    // Generation is I/O-bound waiting on the model: many may run at once.
    maxConcurrentActivityTaskExecutions: 64,
  });
}
