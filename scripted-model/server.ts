// The scripted model: a real OpenAI-compatible HTTP server (chat completions, streaming and not)
// that plays back fixed replies per problem from a folder: <dir>/<problem-id>/01.md, 02.md, …
// Reply N answers round N of a search (the prompt's "Problem id:" and "Round:" lines say which);
// the last reply repeats. Tests and `make demo` talk to it when no real endpoint is configured.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { z } from 'zod';

const chatRequestSchema = z.object({
  model: z.string(),
  messages: z.array(z.object({ role: z.string(), content: z.union([z.string(), z.array(z.object({ type: z.string(), text: z.string().optional() }))]) })).min(1),
  stream: z.boolean().optional(),
  temperature: z.number().optional(),
});

export interface RecordedRequest {
  problemId: string;
  round: number;
  model: string;
  prompt: string;
  /** Epoch ms when the request arrived. */
  at: number;
  /** HTTP status the server answered with. */
  answered: number;
  hasSystemPrompt: boolean;
  temperature: number | undefined;
  stream: boolean;
}

export interface ScriptedModelOptions {
  /** Folders searched in order for <problem-id>/NN.md. */
  repliesDirs: string[];
  host?: string;
  port?: number;
  /** When set, requests must carry this bearer token (else 401), to exercise auth failures. */
  apiKey?: string;
  /** Statuses returned, in order, before any real reply (e.g. [429, 503]), to exercise retries. */
  failFirst?: { status: number; retryAfterS?: number }[];
  /** Delay between streamed chunks, to imitate a model that takes time. */
  chunkDelayMs?: number;
}

export class ScriptedModel {
  readonly requests: RecordedRequest[] = [];
  private server: http.Server | null = null;
  private failures: { status: number; retryAfterS?: number }[];

  constructor(private readonly opts: ScriptedModelOptions) {
    this.failures = [...(opts.failFirst ?? [])];
  }

  get url(): string {
    const addr = this.server?.address() as AddressInfo | null;
    if (!addr) throw new Error('scripted model is not running');
    return `http://${this.opts.host ?? '127.0.0.1'}:${addr.port}/v1`;
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err) => sendError(res, 500, `scripted model failed: ${String(err)}`));
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.opts.port ?? 0, this.opts.host ?? '127.0.0.1', resolve);
    });
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Makes the next requests fail with these statuses (e.g. a 429 with Retry-After), in order. */
  failNext(...failures: { status: number; retryAfterS?: number }[]): void {
    this.failures.push(...failures);
  }

  /** The problem ids this server has replies for (any of its folders). */
  problems(): string[] {
    const ids = new Set<string>();
    for (const dir of this.opts.repliesDirs) {
      if (!existsSync(dir)) continue;
      for (const id of readdirSync(dir)) if (this.replyFor(id, 1)) ids.add(id);
    }
    return [...ids].sort();
  }

  /** The reply file for a problem and round, or null when the problem has no scripted replies. */
  replyFor(problemId: string, round: number): string | null {
    for (const dir of this.opts.repliesDirs) {
      const folder = path.join(dir, problemId);
      if (!existsSync(folder)) continue;
      const files = readdirSync(folder).filter((f) => /^\d+\.md$/.test(f)).sort();
      if (files.length === 0) continue;
      return path.join(folder, files[Math.min(Math.max(round, 1), files.length) - 1]!);
    }
    return null;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (this.opts.apiKey && req.headers.authorization !== `Bearer ${this.opts.apiKey}`) {
      return sendError(res, 401, 'Incorrect API key provided', 'invalid_api_key');
    }
    if (req.method === 'GET' && url.pathname === '/v1/models') {
      // scripted_problems (not part of the OpenAI API): lets the CLI warn before a search that would fail in round 1.
      return sendJson(res, 200, { object: 'list', data: [{ id: 'scripted', object: 'model', owned_by: 'kernel-search' }], scripted_problems: this.problems() });
    }
    if (req.method !== 'POST' || url.pathname !== '/v1/chat/completions') return sendError(res, 404, `no route ${req.method} ${url.pathname}`);

    const parsed = chatRequestSchema.safeParse(JSON.parse(await readBody(req)));
    if (!parsed.success) return sendError(res, 400, `bad request: ${parsed.error.message}`);
    const body = parsed.data;
    const user = [...body.messages].reverse().find((m) => m.role === 'user');
    const prompt = typeof user?.content === 'string' ? user.content : (user?.content ?? []).map((p) => p.text ?? '').join('');
    const problemId = /^Problem id: (\S+)/m.exec(prompt)?.[1] ?? '';
    const round = Number(/^Round: (\d+)/m.exec(prompt)?.[1] ?? 1);
    const recorded: RecordedRequest = { problemId, round, model: body.model, prompt, at: Date.now(), answered: 200, hasSystemPrompt: body.messages.some((m) => m.role === 'system'), temperature: body.temperature, stream: body.stream === true };
    this.requests.push(recorded);

    const failure = this.failures.shift();
    if (failure) {
      recorded.answered = failure.status;
      const headers: Record<string, string> = failure.retryAfterS !== undefined ? { 'retry-after': String(failure.retryAfterS) } : {};
      return sendError(res, failure.status, `scripted failure ${failure.status}`, undefined, headers);
    }
    const file = this.replyFor(problemId, round);
    if (!file) return sendError(res, 400, `the scripted model has no replies for problem "${problemId}" (looked in ${this.opts.repliesDirs.join(', ')})`);
    const { reasoning, content } = splitThink(readFileSync(file, 'utf8'));
    const usage = { prompt_tokens: Math.ceil(prompt.length / 4), completion_tokens: Math.ceil((reasoning.length + content.length) / 4), total_tokens: 0 };
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    const id = `chatcmpl-scripted-${this.requests.length}`;
    const created = Math.floor(Date.now() / 1000);

    if (!body.stream) {
      return sendJson(res, 200, {
        id, object: 'chat.completion', created, model: body.model, usage,
        choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content, reasoning_content: reasoning || null } }],
      });
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (delta: object, finish: string | null = null, extra: object = {}) =>
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`);
    send({ role: 'assistant', content: '' });
    for (const piece of chunks(reasoning)) {
      send({ reasoning_content: piece });
      await this.pause();
    }
    for (const piece of chunks(content)) {
      send({ content: piece });
      await this.pause();
    }
    send({}, 'stop');
    res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [], usage })}\n\n`);
    res.end('data: [DONE]\n\n');
  }

  private pause(): Promise<void> {
    const ms = this.opts.chunkDelayMs ?? 0;
    return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
  }
}

/** Replies may start with <think>…</think>; like NIM, the server sends that as reasoning_content. */
function splitThink(text: string): { reasoning: string; content: string } {
  const m = /^\s*<think>([\s\S]*?)<\/think>/.exec(text);
  return m ? { reasoning: m[1]!.trim(), content: text.slice(m[0].length).trim() } : { reasoning: '', content: text.trim() };
}

function chunks(text: string, size = 256): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (data += c));
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function sendError(res: http.ServerResponse, status: number, message: string, code?: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: { message, type: status === 401 ? 'authentication_error' : 'invalid_request_error', code: code ?? null } }, headers);
}
