// The orchestrator worker: runs the kernelSearch, campaign and audit workflows, the generateKernel
// activity and the campaign's and audit's describe activities (CPU only).
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createAuditActivities, createCampaignActivities, createGenerationActivities } from '../activities/index.js';
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
    activities: { ...createGenerationActivities(opts.endpoint), ...createCampaignActivities(), ...createAuditActivities() },
    // Generation is I/O-bound waiting on the model: many may run at once.
    maxConcurrentActivityTaskExecutions: 64,
  });
}
