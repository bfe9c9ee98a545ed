// `kernel-search dev`: embedded server and both workers in one command; Ctrl-C stops all of them.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { portIsOpen } from '../infra/temporal.js';
import { CLI, freePort } from './harness.js';

const portOpen = (port: number) => portIsOpen('127.0.0.1', port);

test('dev starts everything and Ctrl-C stops everything', async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ks-dev-'));
  const port = await freePort();
  const env = { ...process.env, KS_TEMPORAL_PORT: String(port), KS_TEMPORAL_UI_PORT: String(await freePort()), KS_DATA_DIR: dataDir, TEMPORAL_ADDRESS: '', OPENAI_BASE_URL: '', NVIDIA_API_KEY: '', OPENAI_API_KEY: '' };
  const dev = execa('node', [CLI, 'dev', '--verifier', 'cpu'], { env, extendEnv: false, reject: false });
  try {
    let err = '';
    await new Promise<void>((resolve, reject) => {
      dev.stderr?.on('data', (d: Buffer) => {
        err += d.toString();
        if (/ready: Temporal UI/.test(err)) resolve();
      });
      void dev.then(() => reject(new Error(`dev exited early: ${err}`)));
    });
    assert.match(err, /using the SCRIPTED model/, 'says on screen that the model is scripted');
    assert.ok(await portOpen(port), 'the embedded server listens');
    dev.kill('SIGINT');
    const result = await dev;
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(await portOpen(port), false, 'the embedded server stopped with it');
  } finally {
    dev.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
});
