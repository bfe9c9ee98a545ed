// generateKernel against the scripted model over real HTTP: streaming, reasoning kept apart,
// kernel extracted, artifacts stored, and endpoint errors mapped onto Temporal's retry rules.
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ArtifactStore } from '../activities/artifacts.js';
import { createGenerationActivities } from '../activities/generateKernel.js';
import type { GenerateRequest, GenerateResult } from '../domain/types.js';
import { ScriptedModel } from '../scripted-model/server.js';
import { FIXTURE_REPLIES, problemFile } from './harness.js';

let model: ScriptedModel;
let store: ArtifactStore;
let dir: string;
before(async () => {
  model = await new ScriptedModel({ repliesDirs: [FIXTURE_REPLIES], apiKey: 'right-key' }).start();
  dir = mkdtempSync(path.join(os.tmpdir(), 'ks-gen-'));
  store = new ArtifactStore(dir);
});
after(async () => {
  await model.stop();
  rmSync(dir, { recursive: true, force: true });
});

const request: GenerateRequest = {
  searchId: 'ks-test',
  problem: { id: 'vector_add', source: readFileSync(problemFile('vector_add'), 'utf8'), backend: 'triton' },
  round: 3,
  index: 0,
  model: '',
  feedback: { instruction: 'first', previous: null, best: null, recent: [] },
};

function activities(apiKey = 'right-key') {
  return createGenerationActivities({ baseURL: model.url, apiKey, defaultModel: 'deepseek-ai/deepseek-r1', keySource: 'OPENAI_API_KEY' }, store);
}

test('streams a reply, keeps reasoning apart and extracts the kernel', async () => {
  const result = (await new MockActivityEnvironment().run(activities().generateKernel, request)) as GenerateResult;
  assert.equal(result.model, 'deepseek-ai/deepseek-r1');
  assert.match(result.source ?? '', /class ModelNew/);
  assert.doesNotMatch(result.source ?? '', /<think>/);
  assert.ok(result.tokens.completion > 0);
  assert.match(await store.get(result.artifacts.reasoning!), /\S/);
  assert.match(await store.get(result.artifacts.prompt!), /Problem id: vector_add/);
  assert.equal(await store.get(result.artifacts.candidate!), result.source);
});

test('a rejected key fails at once, naming the endpoint', async () => {
  await assert.rejects(new MockActivityEnvironment().run(activities('wrong-key').generateKernel, request), (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure);
    assert.equal(err.nonRetryable, true);
    assert.equal(err.type, 'EndpointRejected');
    assert.ok(err.message.includes(model.url), err.message);
    assert.match(err.message, /401/);
    return true;
  });
});

test('429 is retryable and carries Retry-After; 5xx is retryable', async () => {
  model.failNext({ status: 429, retryAfterS: 7 }, { status: 503 });
  await assert.rejects(new MockActivityEnvironment().run(activities().generateKernel, request), (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure);
    assert.equal(err.nonRetryable, false);
    assert.equal(err.type, 'RateLimited');
    assert.equal(err.nextRetryDelay, 7000);
    return true;
  });
  await assert.rejects(new MockActivityEnvironment().run(activities().generateKernel, request), (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure);
    assert.equal(err.nonRetryable, false);
    assert.equal(err.type, 'EndpointError');
    return true;
  });
});

test('an unreachable endpoint is retryable and names the URL', async () => {
  const dead = createGenerationActivities({ baseURL: 'http://127.0.0.1:9/v1', apiKey: 'k', defaultModel: 'm', keySource: 'OPENAI_API_KEY' }, store);
  await assert.rejects(new MockActivityEnvironment().run(dead.generateKernel, request), (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure);
    assert.equal(err.nonRetryable, false);
    assert.match(err.message, /cannot reach model endpoint http:\/\/127\.0\.0\.1:9\/v1/);
    return true;
  });
});

test('cancellation stops a slow stream', async () => {
  const slow = await new ScriptedModel({ repliesDirs: [FIXTURE_REPLIES], chunkDelayMs: 200 }).start();
  try {
    const env = new MockActivityEnvironment();
    const acts = createGenerationActivities({ baseURL: slow.url, apiKey: 'k', defaultModel: 'm', keySource: 'OPENAI_API_KEY' }, store);
    const running = env.run(acts.generateKernel, request);
    setTimeout(() => env.cancel(), 300);
    await assert.rejects(running);
  } finally {
    await slow.stop();
  }
});
