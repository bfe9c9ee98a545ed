// generateKernel: prompt → OpenAI-compatible endpoint (streaming) → reasoning, answer, kernel source.
// Runs on the orchestrator task queue. Retries belong to Temporal: the client's own are off, 429 and
// 5xx are retryable (honouring Retry-After), a rejected key or unknown model fails at once.
import { Context, ApplicationFailure } from '@temporalio/activity';
import OpenAI from 'openai';
import { buildPrompt } from '../domain/prompt.js';
import { parseReply } from '../domain/reply.js';
import type { GenerateRequest, GenerateResult } from '../domain/types.js';
import { isReasoningModel, resolveEndpoint, type Endpoint } from '../infra/endpoint.js';
import { ArtifactStore } from './artifacts.js';
import { problemOf } from './problemSource.js';

const SYSTEM_PROMPT = 'You are an expert GPU kernel engineer. You write correct, fast Triton and CUDA kernels.';

export function createGenerationActivities(endpoint: Endpoint = resolveEndpoint(), store = new ArtifactStore()) {
  const client = new OpenAI({ baseURL: endpoint.baseURL, apiKey: endpoint.apiKey || 'missing', maxRetries: 0, timeout: 20 * 60_000 });

  async function generateKernel(req: GenerateRequest): Promise<GenerateResult> {
    const ctx = Context.current();
    const model = req.model || endpoint.defaultModel;
    const prompt = buildPrompt(await problemOf(req, store), req.round, req.index, req.feedback);
    const key = (name: string) => ArtifactStore.keyFor(req.searchId, req.round, req.index, name);
    const artifacts: Record<string, string> = { prompt: await store.put(key('prompt.md'), prompt) };

    const reasoning = isReasoningModel(model);
    // OpenAI's o-series accept only their default temperature.
    const temperature = /^o\d/.test(model) ? undefined : reasoning ? 0.6 : 0.7;
    const messages: OpenAI.ChatCompletionMessageParam[] = reasoning
      ? [{ role: 'user', content: prompt }]
      : [
          { role: 'system', content: SYSTEM_PROMPT },
          { role: 'user', content: prompt },
        ];
    let content = '';
    let reasoningText = '';
    let usage = { prompt: 0, completion: 0 };
    // Heartbeat while the request waits in the endpoint's queue too, before the first chunk arrives.
    const heartbeat = setInterval(() => ctx.heartbeat({ chars: content.length + reasoningText.length }), 20_000);
    try {
      const stream = await client.chat.completions.create(
        { model, messages, ...(temperature === undefined ? {} : { temperature }), stream: true, stream_options: { include_usage: true }, user: req.searchId },
        { signal: ctx.cancellationSignal },
      );
      for await (const chunk of stream) {
        const delta = chunk.choices[0]?.delta as (OpenAI.ChatCompletionChunk.Choice.Delta & { reasoning_content?: string | null }) | undefined;
        content += delta?.content ?? '';
        reasoningText += delta?.reasoning_content ?? '';
        if (chunk.usage) usage = { prompt: chunk.usage.prompt_tokens, completion: chunk.usage.completion_tokens };
        // The SDK throttles heartbeats; this keeps a long think alive and delivers cancellation.
        ctx.heartbeat({ chars: content.length + reasoningText.length });
      }
    } catch (err) {
      throw toFailure(err, endpoint.baseURL, model);
    } finally {
      clearInterval(heartbeat);
    }
    // An aborted stream can end quietly; a cancelled generation must not pass for a finished one.
    if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;

    const reply = parseReply(content, reasoningText);
    artifacts.completion = await store.put(key('completion.md'), content);
    if (reply.reasoning) artifacts.reasoning = await store.put(key('reasoning.md'), reply.reasoning);
    if (reply.kernel) artifacts.candidate = await store.put(key('candidate.py'), reply.kernel);
    return { source: reply.kernel, model, tokens: usage, artifacts };
  }

  return { generateKernel };
}

/** Maps endpoint errors onto Temporal's retry semantics. */
export function toFailure(err: unknown, baseURL: string, model: string): Error {
  if (err instanceof OpenAI.APIUserAbortError) return err; // cancelled by Temporal
  if (err instanceof OpenAI.APIConnectionError) {
    return ApplicationFailure.retryable(`cannot reach model endpoint ${baseURL}: ${err.message}`, 'EndpointUnreachable');
  }
  if (err instanceof OpenAI.APIError) {
    const status = err.status ?? 0;
    const where = `${baseURL} (model ${model})`;
    // 0: an error event in the middle of a stream (overload); 408/409: the endpoint asks for a retry.
    if (status === 0 || status === 408 || status === 409 || status === 429 || status >= 500) {
      const retryAfter = retryAfterMs(err.headers);
      return ApplicationFailure.create({
        message: `model endpoint ${where} answered ${status}: ${err.message}`,
        type: status === 429 ? 'RateLimited' : 'EndpointError',
        nextRetryDelay: retryAfter ?? undefined,
      });
    }
    const hint = status === 401 || status === 403 ? 'the API key was rejected' : status === 404 ? 'unknown model or wrong base URL' : 'the request was refused';
    return ApplicationFailure.nonRetryable(`model endpoint ${where} answered ${status} (${hint}): ${err.message}`, 'EndpointRejected');
  }
  return err instanceof Error ? err : new Error(String(err));
}

function retryAfterMs(headers: Headers | undefined): number | null {
  const value = headers?.get('retry-after-ms') ?? null;
  if (value && Number.isFinite(Number(value))) return Number(value);
  const seconds = headers?.get('retry-after');
  if (!seconds) return null;
  if (Number.isFinite(Number(seconds))) return Number(seconds) * 1000;
  const date = Date.parse(seconds);
  return Number.isNaN(date) ? null : Math.max(0, date - Date.now());
}
