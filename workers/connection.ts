// The workers' connection to Temporal (same target rules as the client: infra/temporal.ts).
import { NativeConnection } from '@temporalio/worker';
import type { TemporalTarget } from '../infra/temporal.js';

export function connectWorker(target: TemporalTarget): Promise<NativeConnection> {
  return NativeConnection.connect({ address: target.address, tls: target.tls, apiKey: target.apiKey });
}
