// Before a search starts: is the model endpoint reachable and does it accept the key?
import type { Endpoint } from '../infra/endpoint.js';

/** Checks the endpoint; returns the problems it has replies for when it is the scripted model, else null. */
export async function checkEndpoint(endpoint: Endpoint, timeoutMs = 8000): Promise<string[] | null> {
  if (!endpoint.apiKey) {
    throw new Error(`no API key for ${endpoint.baseURL}: set ${endpoint.keySource}, or OPENAI_BASE_URL (and OPENAI_API_KEY) for another endpoint`);
  }
  let res: Response;
  try {
    res = await fetch(`${endpoint.baseURL}/models`, { headers: { authorization: `Bearer ${endpoint.apiKey}` }, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new Error(`cannot reach model endpoint ${endpoint.baseURL}: ${connectionError(err)}`);
  }
  if (res.status === 401 || res.status === 403) throw new Error(`model endpoint ${endpoint.baseURL} rejected the API key from ${endpoint.keySource} (HTTP ${res.status})`);
  // Other statuses (some servers have no /models) are left for the first generation to report.
  return res.ok ? scriptedProblemsOf(await res.json().catch(() => null)) : null;
}

function scriptedProblemsOf(body: unknown): string[] | null {
  const list = (body as { scripted_problems?: unknown } | null)?.scripted_problems;
  return Array.isArray(list) && list.every((x) => typeof x === 'string') ? list : null;
}

/** The problems the scripted model at this URL has replies for; null when it is not the scripted model or does not answer. */
export async function scriptedProblemsAt(baseURL: string, timeoutMs = 3000): Promise<string[] | null> {
  try {
    const res = await fetch(`${baseURL}/models`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok ? scriptedProblemsOf(await res.json()) : null;
  } catch {
    return null;
  }
}

const CODE_TEXT: Record<string, string> = {
  ECONNREFUSED: 'connection refused (nothing listens on that port)',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  CERT_HAS_EXPIRED: 'its TLS certificate has expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its TLS certificate is self-signed',
};

/**
 * fetch fails with "TypeError: fetch failed"; the reason is in its cause, an Error with a code, or an
 * AggregateError (one per address of a host with several) whose errors carry it.
 */
export function connectionError(err: unknown): string {
  if ((err as Error)?.name === 'TimeoutError') return 'no answer in time';
  const queue: unknown[] = [err];
  while (queue.length > 0) {
    const e = queue.shift() as { code?: unknown; cause?: unknown; errors?: unknown[]; message?: string } | undefined;
    if (!e || typeof e !== 'object') continue;
    if (typeof e.code === 'string') return CODE_TEXT[e.code] ? `${CODE_TEXT[e.code]}, ${e.code}` : e.code;
    if (e.cause) queue.push(e.cause);
    if (Array.isArray(e.errors)) queue.push(...e.errors);
  }
  const innermost = (err as { cause?: { message?: string } })?.cause?.message ?? (err as Error)?.message;
  return innermost || String(err);
}
