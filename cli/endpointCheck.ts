// Before a search starts: is the model endpoint reachable and does it accept the key?
import type { Endpoint } from '../infra/endpoint.js';

export async function checkEndpoint(endpoint: Endpoint, timeoutMs = 8000): Promise<void> {
  if (!endpoint.apiKey) {
    throw new Error(`no API key for ${endpoint.baseURL}: set ${endpoint.keySource}, or OPENAI_BASE_URL (and OPENAI_API_KEY) for another endpoint`);
  }
  let res: Response;
  try {
    res = await fetch(`${endpoint.baseURL}/models`, { headers: { authorization: `Bearer ${endpoint.apiKey}` }, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    throw new Error(`cannot reach model endpoint ${endpoint.baseURL} (${cause})`);
  }
  if (res.status === 401 || res.status === 403) throw new Error(`model endpoint ${endpoint.baseURL} rejected the API key from ${endpoint.keySource} (HTTP ${res.status})`);
  // Other statuses (some servers have no /models) are left for the first generation to report.
}
