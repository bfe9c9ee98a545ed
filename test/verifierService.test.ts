// The warm verifier as the GPU worker drives it: a real `python -m verifier serve` (CPU device), requests
// and verdicts over its stdin/stdout, cancellation and a crash in the middle of a verification.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { gpuOfSlot, VerifierService } from '../activities/verifierService.js';
import { slotShares } from '../activities/verifyKernel.js';
import { REPO_ROOT, verifierPython } from '../infra/paths.js';
import { defaultVerificationsPerGpu, gpuSlots } from '../workers/gpu.js';
import { eventually } from './harness.js';

const FIX = path.join(REPO_ROOT, 'verifier', 'tests', 'fixtures');
const problem = readFileSync(path.join(FIX, 'problems', 'elementwise_add.py'), 'utf8');
const candidate = (name: string) => readFileSync(path.join(FIX, 'candidates', `${name}.py`), 'utf8');
const request = (name: string, timeoutS = 120) => ({
  problem_id: 'elementwise_add', problem_source: problem, candidate_source: candidate(name),
  backend: 'triton', device: 'cpu', seeds: [0, 1], timeout_s: timeoutS, timing: false,
});
const newService = () => new VerifierService(verifierPython(), 'cpu', { ...process.env, CUDA_VISIBLE_DEVICES: '' });
/** Candidate processes (verifier._runner) started by the service `pid`. */
const runnersOf = (pid: number) =>
  readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      return ppid === pid && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('verifier._runner');
    } catch {
      return false;
    }
  }).map(Number);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('one service judges candidate after candidate, each in a fresh process', async () => {
  const service = newService();
  try {
    const never = new AbortController().signal;
    const first = (await service.verify(request('add_correct'), never, 120_000)) as { status: string };
    const pid = service.pid;
    const second = (await service.verify(request('add_compile_error'), never, 120_000)) as { status: string };
    const third = (await service.verify(request('cheat_stale_output'), never, 120_000)) as { status: string; message: string };
    assert.equal(first.status, 'correct');
    assert.equal(second.status, 'compile_error');
    assert.equal(third.status, 'rejected');
    assert.match(third.message, /stale-output/);
    assert.equal(service.pid, pid, 'the same warm service answered every request');
  } finally {
    service.kill();
  }
});

test('cancelling a verification kills the service and its candidate; the next request starts a new one', async () => {
  const service = newService();
  try {
    const ctl = new AbortController();
    const pending = service.verify(request('add_timeout', 600), ctl.signal, 700_000);
    const pid = await eventually(async () => service.pid, 10_000, 'the service to start');
    await new Promise((r) => setTimeout(r, 8000)); // the candidate is spinning by now
    const runners = runnersOf(pid);
    assert.ok(runners.length >= 1, 'the service has a candidate process');
    ctl.abort(new Error('cancelled by the test'));
    await assert.rejects(pending, /cancelled by the test/);
    await eventually(async () => !alive(pid), 10_000, 'the service to be gone');
    await eventually(async () => runners.every((r) => !alive(r)), 10_000, 'its candidate processes to be gone');
    const verdict = (await service.verify(request('add_correct'), new AbortController().signal, 120_000)) as { status: string };
    assert.equal(verdict.status, 'correct');
    assert.notEqual(service.pid, pid);
  } finally {
    service.kill();
  }
});

test('a service that dies mid-verification fails the request as a retryable infrastructure error', async () => {
  const service = newService();
  try {
    const pending = service.verify(request('add_timeout', 600), new AbortController().signal, 700_000);
    const pid = await eventually(async () => service.pid, 10_000, 'the service to start');
    await new Promise((r) => setTimeout(r, 3000));
    process.kill(pid, 'SIGKILL');
    const err = await pending.then(() => null, (e: unknown) => e);
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, 'VerifierCrashed');
    assert.equal(err.nonRetryable, false);
  } finally {
    service.kill();
  }
});

test('GPU slots: --per-gpu shares a GPU between verifications', () => {
  assert.deepEqual(gpuSlots(['0', '1'], 1), ['0', '1']);
  assert.deepEqual(gpuSlots(['0', '3'], 2), ['0.1', '0.2', '3.1', '3.2']);
  assert.equal(gpuOfSlot('3.2'), '3');
  assert.equal(gpuOfSlot('1'), '1');
  // GPU-seconds: a slot's wall time over the slots sharing its card
  assert.equal(slotShares('cuda', gpuSlots(['0', '3'], 2), '3.1'), 2);
  assert.equal(slotShares('cuda', gpuSlots(['0', '1'], 1), '1'), 1);
  assert.equal(slotShares('cuda', [...gpuSlots(['0'], 3), '1'], '0.2'), 3);
  assert.equal(slotShares('cpu', ['cpu0', 'cpu1'], 'cpu1'), 1, 'a CPU lane is its own');
});

test('GPU slots: the default follows the host, four cores per verification, 2 to 4 per GPU', () => {
  assert.equal(defaultVerificationsPerGpu(1, 16), 4); // the lent H100 host
  assert.equal(defaultVerificationsPerGpu(8, 128), 4);
  assert.equal(defaultVerificationsPerGpu(8, 96), 3);
  assert.equal(defaultVerificationsPerGpu(8, 64), 2);
  assert.equal(defaultVerificationsPerGpu(1, 2), 2); // never below two: one compiles while one runs
  assert.equal(defaultVerificationsPerGpu(1, 256), 4);
});
