// Where Temporal is: the embedded dev server (default; SQLite under .data/, Web UI on 8233) or an
// existing cluster named by TEMPORAL_ADDRESS (with TEMPORAL_NAMESPACE, TLS files or an API key).
import { Connection } from '@temporalio/client';
import { execa, type ResultPromise } from 'execa';
import { mkdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { SEARCH_ATTRIBUTES } from '../domain/defaults.js';
import { clip } from '../domain/text.js';
import { dataDir, temporalCli } from './paths.js';

export interface TemporalTarget {
  address: string;
  namespace: string;
  embedded: boolean;
  uiUrl: string;
  tls?: boolean | { clientCertPair: { crt: Buffer; key: Buffer } };
  apiKey?: string;
}

export function resolveTemporalTarget(env: NodeJS.ProcessEnv = process.env): TemporalTarget {
  const namespace = env.TEMPORAL_NAMESPACE || 'default';
  if (env.TEMPORAL_ADDRESS) {
    const target: TemporalTarget = { address: env.TEMPORAL_ADDRESS, namespace, embedded: false, uiUrl: env.TEMPORAL_UI_URL || defaultUiUrl(env.TEMPORAL_ADDRESS) };
    if (env.TEMPORAL_TLS_CERT && env.TEMPORAL_TLS_KEY) {
      target.tls = { clientCertPair: { crt: readFileSync(env.TEMPORAL_TLS_CERT), key: readFileSync(env.TEMPORAL_TLS_KEY) } };
    } else if (env.TEMPORAL_API_KEY || env.TEMPORAL_TLS === 'true') {
      target.tls = true;
    }
    if (env.TEMPORAL_API_KEY) target.apiKey = env.TEMPORAL_API_KEY;
    return target;
  }
  const port = Number(env.KS_TEMPORAL_PORT || 7233);
  const uiPort = Number(env.KS_TEMPORAL_UI_PORT || 8233);
  return { address: `127.0.0.1:${port}`, namespace, embedded: true, uiUrl: `http://localhost:${uiPort}` };
}

/**
 * The Web UI of a cluster named by its address when TEMPORAL_UI_URL does not say: Temporal Cloud's for a
 * `*.tmprl.cloud` address, otherwise port 8233 of the same host (what `temporal server start-dev` serves;
 * a deployed cluster's UI is wherever it was deployed, hence TEMPORAL_UI_URL).
 */
export function defaultUiUrl(address: string): string {
  const host = address.replace(/^[a-z]+:\/\//i, '').replace(/:\d+$/, '');
  if (/(^|\.)tmprl\.cloud$/i.test(host)) return 'https://cloud.temporal.io';
  const bare = host.replace(/^\[|\]$/g, '');
  return `http://${bare.includes(':') ? `[${bare}]` : bare || 'localhost'}:8233`;
}

export function workflowUrl(target: TemporalTarget, workflowId: string): string {
  return `${target.uiUrl}/namespaces/${encodeURIComponent(target.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

export async function connect(target: TemporalTarget, timeoutMs = 5000): Promise<Connection> {
  const connection = await Connection.connect({ address: target.address, tls: target.tls, apiKey: target.apiKey, connectTimeout: timeoutMs });
  await connection.workflowService.getSystemInfo({}); // fails fast when nothing Temporal answers there
  return connection;
}

/** Connects, or explains in one line what to do when nothing answers. */
export async function connectOrExplain(target: TemporalTarget): Promise<Connection> {
  try {
    return await connect(target);
  } catch (err) {
    const how = target.embedded ? 'start it with `kernel-search dev` (or `make dev`), or set TEMPORAL_ADDRESS' : 'check TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and the TLS/API key settings';
    throw new Error(`no Temporal server answers at ${target.address} (${shortError(err)}); ${how}`);
  }
}

export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = new Set(Object.keys(existing.customAttributes ?? {}));
  const missing = Object.values(SEARCH_ATTRIBUTES).filter((a) => !known.has(a.name));
  if (missing.length === 0) return;
  const typeCode = { KEYWORD: 2, DOUBLE: 4 } as const; // temporal.api.enums.v1.IndexedValueType
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((a) => [a.name, typeCode[a.type]])),
  });
}

export interface EmbeddedServer {
  /** The server process, or null when one was already running and is reused. */
  process: ResultPromise | null;
  stop(): Promise<void>;
}

export function portIsOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(1000);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(false));
  });
}

/**
 * Starts `temporal server start-dev` with its SQLite file under .data/. A port already taken is an
 * error, never a silent reuse: a Temporal server there is most likely another checkout's `dev`, whose
 * workers poll the same task queues and would take this checkout's searches (and run them with their
 * endpoint and verifier).
 */
export async function startEmbeddedServer(target: TemporalTarget, opts: { dbFile?: string; log?: (line: string) => void; dynamicConfig?: Record<string, string | number> } = {}): Promise<EmbeddedServer> {
  const [host, portText] = target.address.split(':') as [string, string];
  const port = Number(portText);
  if (await portIsOpen(host, port)) {
    const isTemporal = await connect(target, 3000).then(
      async (c) => (await c.close(), true),
      () => false,
    );
    if (isTemporal) {
      throw new Error(
        `a Temporal server already runs at ${target.address} (another \`kernel-search dev\`?); its workers would take this checkout's searches: stop it, run this one on other ports (KS_TEMPORAL_PORT, KS_TEMPORAL_UI_PORT), or set TEMPORAL_ADDRESS=${target.address} to share it on purpose`,
      );
    }
    throw new Error(`port ${port} is held by something that is not a Temporal server; free it or set KS_TEMPORAL_PORT`);
  }
  const uiPort = Number(new URL(target.uiUrl).port || 8233);
  const dbFile = opts.dbFile ?? path.join(dataDir(), 'temporal.db');
  mkdirSync(path.dirname(dbFile), { recursive: true });
  const child = execa(
    temporalCli(),
    ['server', 'start-dev', '--ip', host, '--port', String(port), '--ui-port', String(uiPort), '--http-port', String(port + 10_000 > 65535 ? 0 : port + 10_000), '--metrics-port', '0', '--db-filename', dbFile, '--namespace', target.namespace, '--ui-disable-news-fetch', '--log-level', 'error', ...Object.entries(opts.dynamicConfig ?? {}).flatMap(([k, v]) => ['--dynamic-config-value', `${k}=${v}`])],
    { reject: false, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', cleanup: true },
  );
  let exited: { exitCode?: number; signal?: string } | null = null;
  let output = '';
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-4000));
  child.stderr?.on('data', keep);
  child.stdout?.on('data', keep);
  void child.then((r) => (exited = r));
  const startedAt = Date.now();
  for (;;) {
    if (exited) {
      const { exitCode, signal } = exited;
      const why = startFailure(output);
      throw new Error(`the Temporal dev server did not start: ${why}${why === 'no output' ? ` (exit code ${exitCode ?? '-'}${signal ? `, ${signal}` : ''})` : ''}`);
    }
    if (Date.now() - startedAt > 60_000) {
      child.kill('SIGKILL');
      throw new Error(`the Temporal dev server did not answer on ${target.address} within 60 s`);
    }
    try {
      const connection = await connect(target, 1000);
      await ensureSearchAttributes(connection, target.namespace);
      await connection.close();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  opts.log?.(`Temporal dev server on ${target.address}, Web UI at ${target.uiUrl} (data: ${dbFile})`);
  return {
    process: child,
    stop: async () => {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await child;
      clearTimeout(timer);
    },
  };
}

/**
 * What went wrong, in one line, from the dev server's output: its own "Error: …" line, a port taken or a
 * locked database, else the last line that is not part of a Go stack trace.
 */
export function startFailure(output: string): string {
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean);
  const hint = (text: string) =>
    /address already in use/.test(text) ? `${text} (another program holds the port: set KS_TEMPORAL_PORT / KS_TEMPORAL_UI_PORT to free ones)` : /database is locked/i.test(text) ? `${text} (another Temporal server uses this data folder: stop it, or set KS_DATA_DIR)` : text;
  const own = lines.find((l) => /^Error:/.test(l));
  if (own) return hint(own.replace(/^Error:\s*/, ''));
  const known = lines.find((l) => /address already in use|database is locked/i.test(l));
  if (known) return hint(known);
  const notStack = lines.filter((l) => !/^(goroutine \d|panic:|created by|exit status|\S+\.go:\d+|\[signal|[\w./*()]+\(.*\)$)/.test(l));
  return notStack.at(-1)?.slice(0, 300) ?? 'no output';
}

export function shortError(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return clip(text.split('\n')[0]!, 400);
}
