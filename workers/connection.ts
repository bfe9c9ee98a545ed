// The workers' connection to Temporal (same target rules as the client: infra/temporal.ts).
import { DefaultLogger, NativeConnection, Runtime, type LogLevel } from '@temporalio/worker';
import type { TemporalTarget } from '../infra/temporal.js';

export function connectWorker(target: TemporalTarget): Promise<NativeConnection> {
  return NativeConnection.connect({ address: target.address, tls: target.tls, apiKey: target.apiKey });
}

/** Worker logs at `fallback` unless KS_LOG_LEVEL says otherwise (dev and demo keep the terminal quiet). */
export function installWorkerLogging(fallback: LogLevel): void {
  const level = (process.env.KS_LOG_LEVEL?.toUpperCase() as LogLevel | undefined) ?? fallback;
  Runtime.install({ logger: new DefaultLogger(level) });
}
