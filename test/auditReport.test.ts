// The audit report's pure parts on a GPU-style verdict (meaningful timing, intervals, speed of light),
// which the CPU suite cannot produce end to end: the verify lines, the summary line and the counts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VerdictSummary } from '../domain/types.js';
import { auditSummaryLine, sourceLocation, summarizeAudit, verdictLines, type AuditRow } from '../report/audit.js';

const timed = (speedup: number, low: number): VerdictSummary => ({
  status: 'correct',
  message: 'correct on 3 seed(s)',
  correctness: { trials: 3, passed: 3, maxAbsError: 1.2e-6, maxRelError: 3e-5, mismatchFraction: 0 },
  timing: {
    meaningful: true,
    candidateMs: 0.05,
    candidateMsInterval: [0.049, 0.051],
    method: 'cuda-graph',
    eagerMs: 0.1,
    eagerMsInterval: [0.099, 0.101],
    compileMs: 0.08,
    speedupVsEager: speedup,
    speedupVsEagerInterval: [low, speedup + 0.1],
    speedupVsCompile: 1.6,
    speedupVsCompileInterval: [1.5, 1.7],
    sol: { fraction: 0.71, limiter: 'memory', achievedTbps: 3.41, copyTbps: 4.8, achievedTflops: null, peakTflops: null, peakDtype: null, bytesOnly: true },
  },
  cheats: [],
  gpu: 'NVIDIA H200',
  artifactKey: 'k/verdict.json',
});
const row = (file: string, verdict: VerdictSummary | null, state: AuditRow['state'] = 'judged'): AuditRow => ({ kernelId: file, file, problemId: 'p', workflowId: `ka-${file}`, url: '', state, kept: false, verdict, error: null, verdictFile: null, source: null });
const rejected: VerdictSummary = { ...timed(1, 1), status: 'rejected', timing: null, message: 'rejected (caching): …', cheats: [{ class: 'caching', evidence: 'returned the previous call\'s result' }] };

test('verify prints timing with its interval, speedups, speed of light and the GPU', () => {
  const lines = verdictLines(timed(2, 1.9), { file: 'k.py', problemId: 'p', source: null });
  assert.equal(lines[0], 'k.py on p: HOLDS UP: correct, no cheat found (correct)');
  assert.ok(lines.includes('correctness: 3 of 3 trials passed; max abs error 1.20e-6, max rel error 3.00e-5'), lines.join('\n'));
  assert.ok(lines.includes('timing: 50.0 µs [49.0 µs–51.0 µs] per call (cuda-graph); eager 100.0 µs [99.0 µs–101.0 µs], torch.compile 80.0 µs'), lines.join('\n'));
  assert.ok(lines.includes('speedup: 2.00× [1.90–2.10] vs eager, 1.60× [1.50–1.70] vs torch.compile'), lines.join('\n'));
  assert.ok(lines.includes("speed of light: 71% of the card's copy rate, 3.41 of 4.80 TB/s (memory-bound, bytes only)"), lines.join('\n'));
  assert.ok(lines.includes('gpu: NVIDIA H200'));
  const cheat = verdictLines(rejected, { file: 'c.py', problemId: 'p', source: null });
  assert.match(cheat[0]!, /DOES NOT HOLD UP: cheats \(caching\) \(rejected\)/);
  assert.ok(cheat.includes("cheat caching: returned the previous call's result"));
});

test('verify lists the launched kernels with their resources and says what limits them', () => {
  const v = timed(2, 1.9);
  v.timing!.hardware = {
    source: 'candidate process',
    launchesPerCall: 3,
    referenceLaunchesPerCall: 1,
    notes: ['cuobjdump not found (CUDA toolkit): the extension\'s kernels are listed without registers or spills'],
    kernels: [
      { name: 'axpy_spill_kernel(float const*, float const*, float*, float, long)', callsPerCall: 1, registers: 24, sharedBytes: 0, spillBytes: 128, occupancy: null, occupancyLimiter: null, threadsPerBlock: null, blocks: null },
      { name: 'copy_kernel', callsPerCall: 2, registers: 255, sharedBytes: 0, spillBytes: 0, occupancy: 0.125, occupancyLimiter: 'registers', threadsPerBlock: 256, blocks: 4096 },
    ],
  };
  const lines = verdictLines(v, { file: 'k.py', problemId: 'p', source: null });
  assert.ok(lines.includes('kernels: 3 launches per call (reference 1): axpy_spill_kernel(float const*, float const*, float*, float, long) (1× per call, 24 registers, 128 B spilled); copy_kernel (2× per call, 4096 blocks of 256 threads, 255 registers, occupancy ~13% (registers))'), lines.join('\n'));
  assert.ok(lines.some((l) => /^hardware: .*spills 128 bytes per thread/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /^hardware: forward launches 3 kernels per call against the reference's 1/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => l.startsWith('note: cuobjdump not found')), lines.join('\n'));
});

test('where in the source: the kernel line a verifier message points at', () => {
  assert.deepEqual(sourceLocation('candidate.py:2: SyntaxError: expected', 'a\n  def f(x)\n'), { line: 2, text: '  def f(x)' });
  assert.deepEqual(sourceLocation('File "candidate.py", line 1, in forward', 'x = 1'), { line: 1, text: 'x = 1' });
  assert.equal(sourceLocation('no location here', 'x'), null);
});

test('the summary counts held-up kernels, cheats, the timed ones faster than eager for sure, and what was not judged', () => {
  const rows = [row('a.py', timed(2, 1.9)), row('b.py', timed(1.05, 0.97)), row('c.py', rejected), row('d.py', null, 'failed')];
  const s = summarizeAudit(rows, [{ file: 'x.py', reason: 'matches no problem' }], ['q']);
  assert.equal(s.claimed, 4);
  assert.equal(s.heldUp, 2);
  assert.equal(s.timed, 2);
  assert.equal(s.fasterThanEager, 1, "b.py's interval reaches below 1");
  assert.ok(Math.abs(s.geomeanSpeedupVsEager! - Math.sqrt(2 * 1.05)) < 1e-9);
  assert.equal(auditSummaryLine(s), '2 of 4 claimed kernels held up; 1 rejected for cheating (caching 1); 1 not judged; 1 of the 2 timed faster than eager PyTorch; 1 file(s) matched no problem and were not verified; 1 problem(s) had no kernel');
});
