// The hardware part of the diagnosis, from recorded metric sets in the verifier's JSON (timing.hardware),
// through the zod schema and the summary the workflow keeps, to the sentences and the tag.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diagnose, diagnoseHardware, diagnosisTag, LOW_OCCUPANCY } from '../domain/diagnosis.js';
import { MAX_SUMMARY_KERNELS, summarizeVerdict, verdictSchema } from '../domain/verdict.js';

type Kernel = {
  name: string;
  calls_per_call: number | null;
  grid: number[] | null;
  block: number[] | null;
  registers: number | null;
  shared_bytes: number | null;
  spill_bytes: number | null;
  occupancy: number | null;
  occupancy_limiter: 'registers' | 'shared_memory' | 'warps' | 'blocks' | null;
};

const copyKernel: Kernel = { name: 'copy_kernel', calls_per_call: 1, grid: [4096, 1, 1], block: [128, 1, 1], registers: 16, shared_bytes: 0, spill_bytes: 0, occupancy: 1, occupancy_limiter: 'warps' };

function verdict(hardware: unknown, sol: unknown = null): unknown {
  return {
    status: 'correct',
    message: 'correct on 3 of 3 seeds',
    correctness: { trials: 3, passed: 3, max_abs_error: 0, max_rel_error: 0, mismatch_fraction: 0, first_bad_index: null },
    cheats: [],
    timing: {
      meaningful: true,
      candidate_ms: { median: 0.05, p20: 0.049, p80: 0.051 },
      trials: 100,
      eager_ms: 0.06,
      compile_ms: 0.055,
      speedup_vs_eager: 1.2,
      speedup_vs_compile: 1.1,
      sol,
      hardware,
    },
    env: { device: 'cuda', gpu: 'NVIDIA H200', driver: '570', torch: '2.9', triton: '3.6', cuda: '12.8', network_isolated: true },
    stages: { static: 0.01 },
  };
}

function summary(hardware: unknown, sol: unknown = null) {
  return summarizeVerdict(verdictSchema.parse(verdict(hardware, sol)), null);
}

const hw = (over: Record<string, unknown>) => ({ source: 'candidate process', kernels: [copyKernel], launches_per_call: 1, reference_launches_per_call: 1, notes: [], ...over });

test('a copy kernel at full occupancy with one launch, like the reference, adds no hardware sentence', () => {
  const s = summary(hw({}), { fraction: 0.9, limiter: 'memory', min_bytes: 1 << 26, flops: 0, achieved_tbps: 4.1, achieved_tflops: null, copy_tbps: 4.5, peak_tflops: null, peak_dtype: null, bytes_only: true });
  const d = diagnose(s);
  assert.match(d[0]!, /90% of this card's copy rate/);
  assert.ok(!d.some((l) => /spill|occupancy|warps active|launches/.test(l)), d.join('\n'));
  assert.equal(diagnosisTag(s), 'memory-bound, 90% of copy rate');
});

test('spills are named with the kernel, bytes and registers; the tag says spills', () => {
  const spilling: Kernel = { ...copyKernel, name: 'spill_kernel', registers: 32, spill_bytes: 1024, occupancy: 1 };
  const s = summary(hw({ kernels: [spilling] }));
  const d = diagnose(s);
  assert.ok(d.includes('Kernel spill_kernel spills 1024 bytes per thread to local memory at 32 registers per thread: smaller tiles or fewer values live at once (smaller BLOCK sizes, fewer accumulators, no dynamically indexed local arrays) keep them in registers.'), d.join('\n'));
  assert.equal(diagnosisTag(s), 'spills');
});

test('low occupancy names what limits it, for each limiter; at the threshold nothing is said', () => {
  const regs = diagnoseHardware(summary(hw({ kernels: [{ ...copyKernel, registers: 255, occupancy: 0.125, occupancy_limiter: 'registers' }] })).timing!.hardware!);
  assert.deepEqual(regs, ["Kernel copy_kernel keeps about 13% of an SM's warps active (estimated), limited by registers (255 per thread): fewer live values or smaller tiles raise it; this matters most for a memory-bound kernel that needs many loads in flight."]);
  const smem = diagnoseHardware(summary(hw({ kernels: [{ ...copyKernel, shared_bytes: 196608, occupancy: 0.0625, occupancy_limiter: 'shared_memory' }] })).timing!.hardware!);
  assert.match(smem[0]!, /about 6% .* limited by shared memory \(196608 bytes per block\): fewer pipeline stages \(num_stages\)/);
  const blocks = diagnoseHardware(summary(hw({ kernels: [{ ...copyKernel, block: [32, 1, 1], occupancy: 0.2, occupancy_limiter: 'blocks' }] })).timing!.hardware!);
  assert.match(blocks[0]!, /limited by the number of blocks an SM holds: blocks of 32 threads are too small/);
  const atThreshold = summary(hw({ kernels: [{ ...copyKernel, occupancy: LOW_OCCUPANCY, occupancy_limiter: 'registers' }] }));
  assert.deepEqual(diagnoseHardware(atThreshold.timing!.hardware!), []);
  const s = summary(hw({ kernels: [{ ...copyKernel, occupancy: 0.125, occupancy_limiter: 'shared_memory' }] }));
  assert.equal(diagnosisTag(s), 'occupancy 13% (shared memory)');
});

test('more launches per call than the reference is named with both counts; fewer or equal is not', () => {
  const three = [1, 2, 3].map((i) => ({ ...copyKernel, name: `add_kernel_${i}` }));
  const s = summary(hw({ kernels: three, launches_per_call: 3, reference_launches_per_call: 1 }));
  assert.equal(diagnose(s)[0], "forward launches 3 kernels per call against the reference's 1: each launch costs a few microseconds and a round trip through memory; fuse them into fewer kernels.");
  assert.equal(diagnosisTag(s), '3 launches vs 1');
  assert.deepEqual(diagnoseHardware(summary(hw({ launches_per_call: 2, reference_launches_per_call: 4 })).timing!.hardware!), []);
  const unknownRef = diagnoseHardware(summary(hw({ launches_per_call: 5, reference_launches_per_call: null })).timing!.hardware!);
  assert.match(unknownRef[0]!, /^forward launches 5 kernels per call: fusing/);
});

test('the summary keeps the kernels that ran most, with block and grid sizes multiplied out', () => {
  const many = Array.from({ length: 10 }, (_, i) => ({ ...copyKernel, name: `k${i}`, calls_per_call: i, block: [32, 4, 1], grid: [8, 2, 1] }));
  const h = summary(hw({ kernels: many, launches_per_call: 45 })).timing!.hardware!;
  assert.equal(h.kernels.length, MAX_SUMMARY_KERNELS);
  assert.deepEqual(h.kernels.map((k) => k.name), ['k9', 'k8', 'k7', 'k6']);
  assert.equal(h.kernels[0]!.threadsPerBlock, 128);
  assert.equal(h.kernels[0]!.blocks, 16);
});

test('older verdicts without timing.hardware and a null one parse and add nothing', () => {
  const old = verdict(null) as { timing: Record<string, unknown> };
  delete old.timing.hardware;
  assert.equal(summarizeVerdict(verdictSchema.parse(old), null).timing!.hardware, null);
  assert.equal(summary(null).timing!.hardware, null);
  assert.deepEqual(diagnose(summary(null)), []);
});

test('a hardware record over its bounds is refused at the boundary', () => {
  const tooMany = Array.from({ length: 17 }, () => copyKernel);
  assert.equal(verdictSchema.safeParse(verdict(hw({ kernels: tooMany }))).success, false);
  assert.equal(verdictSchema.safeParse(verdict(hw({ source: 'the candidate says so' }))).success, false);
});
