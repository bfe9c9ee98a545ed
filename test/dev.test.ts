// `kernel-search dev`: embedded server and both workers in one command; Ctrl-C stops all of them.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { portIsOpen } from '../infra/temporal.js';
import { CLI, FIXTURE_REPLIES, freePort, problemFile } from './harness.js';
import net from 'node:net';

const portOpen = (port: number) => portIsOpen('127.0.0.1', port);

test('dev starts everything and Ctrl-C stops everything', async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ks-dev-'));
  const port = await freePort();
  const env = { ...process.env, KS_TEMPORAL_PORT: String(port), KS_TEMPORAL_UI_PORT: String(await freePort()), KS_DATA_DIR: dataDir, TEMPORAL_ADDRESS: '', OPENAI_BASE_URL: '', NVIDIA_API_KEY: '', OPENAI_API_KEY: '' };
  const dev = execa('node', [CLI, 'dev', '--verifier', 'cpu', '--replies', FIXTURE_REPLIES], { env, extendEnv: false, reject: false });
  try {
    let err = '';
    await new Promise<void>((resolve, reject) => {
      dev.stderr?.on('data', (d: Buffer) => {
        err += d.toString();
        // (the hint is the line after "ready": wait for it whole, it may come in a later chunk)
        if (/ready: Temporal UI[\s\S]*start a search from another shell: .*\n/.test(err)) resolve();
      });
      void dev.then(() => reject(new Error(`dev exited early: ${err}`)));
    });
    assert.match(err, /using the SCRIPTED model/, 'says on screen that the model is scripted');
    assert.ok(await portOpen(port), 'the embedded server listens');

    // The hint is a command that works as printed, from a shell with no endpoint configured.
    const hint = /start a search from another shell: (.*)/.exec(err)?.[1];
    assert.ok(hint, err);
    const words = hint.split(' ');
    const hintEnv = Object.fromEntries(words.filter((w) => /^[A-Z_]+=/.test(w)).map((w) => w.split('=') as [string, string]));
    const [node, cli, runWord] = words.filter((w) => !/^[A-Z_]+=/.test(w));
    assert.equal(node, 'node');
    assert.equal(path.resolve(cli!), CLI);
    assert.equal(runWord, 'run');
    assert.equal(hintEnv.KS_TEMPORAL_PORT, String(port), 'the hint carries the port this dev runs on');
    const run = await execa('node', [CLI, 'run', '--problem', problemFile('vector_add'), '--width', '1', '--budget', '2m', '--json'], { env: { ...env, ...hintEnv }, extendEnv: false, reject: false, timeout: 180_000 });
    assert.equal(run.exitCode, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).solved, true);
    assert.doesNotMatch(run.stderr, /scripted model has no replies/);
    // Beside dev's scripted model, a problem it has no replies for is warned of before the search starts.
    const unscripted = path.join(dataDir, 'no_replies_here.py');
    copyFileSync(problemFile('vector_add'), unscripted);
    const noReplies = await execa('node', [CLI, 'run', '--problem', unscripted, '--gpu-queue', 'nobody', '--detach'], { env: { ...env, ...hintEnv }, extendEnv: false, reject: false, timeout: 60_000 });
    assert.match(noReplies.stderr, /warning: the scripted model has no replies for 1 of 1 problem\(s\): no_replies_here; their searches fail in round 1/);

    // A second dev on the same port refuses, instead of sharing this one's server and task queues.
    const second = await execa('node', [CLI, 'dev', '--verifier', 'cpu'], { env: { ...env, KS_DATA_DIR: path.join(dataDir, 'other') }, extendEnv: false, reject: false, timeout: 60_000 });
    assert.notEqual(second.exitCode, 0, second.stderr);
    assert.match(second.stderr, /a Temporal server already runs at 127\.0\.0\.1:\d+ .*KS_TEMPORAL_PORT/);
    assert.equal(second.stderr.trim().split('\n').length, 1, second.stderr);
    dev.kill('SIGINT');
    const result = await dev;
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(await portOpen(port), false, 'the embedded server stopped with it');
  } finally {
    dev.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a dev server that cannot start says what failed in one line', async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ks-dev-'));
  const uiPort = await freePort();
  const squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(uiPort, '127.0.0.1', resolve));
  try {
    const env = { ...process.env, KS_TEMPORAL_PORT: String(await freePort()), KS_TEMPORAL_UI_PORT: String(uiPort), KS_DATA_DIR: dataDir, TEMPORAL_ADDRESS: '', OPENAI_BASE_URL: '', NVIDIA_API_KEY: '', OPENAI_API_KEY: '' };
    const res = await execa('node', [CLI, 'dev', '--verifier', 'cpu'], { env, extendEnv: false, reject: false, timeout: 90_000 });
    assert.notEqual(res.exitCode, 0);
    const last = res.stderr.trim().split('\n').at(-1)!;
    assert.match(last, new RegExp(`^kernel-search: the Temporal dev server did not start: can't set UI port ${uiPort}: .*address already in use \\(another program holds the port`));
    assert.doesNotMatch(res.stderr, /goroutine|\.go:\d+/);
  } finally {
    squatter.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
