// Sentences for the next prompt from a kernel's Nsight Compute counters (domain/profile.ts): which
// limit the main kernel is at, whether enough warps are resident, whether the tensor pipes work, and
// what the warps wait on. Pure (types only from profile.ts: the workflow imports this); kept apart from diagnosis.ts (verdict timing) on purpose.
import type { KernelCounters, Profile } from './profile.js';
import type { VerdictSummary } from './types.js';

/** A kernel for a prompt, with its counters when it has any (no key otherwise: feedback recorded before
 * profiling existed stays byte-for-byte the same). */
export function withProfile(r: { source: string | null; verdict: VerdictSummary; profile?: Profile }): { source: string; verdict: VerdictSummary; profile?: Profile } {
  return { source: r.source ?? '', verdict: r.verdict, ...(r.profile ? { profile: r.profile } : {}) };
}

/** Candidates profiled per search at most (each costs a process under ncu and kernel replays). */
export const PROFILE_PER_SEARCH = 3;

/** A profile that could not be had (the activity failed, the verifier's answer did not parse). Here, not in
 * profile.ts, so that the workflow bundle gets it without zod. */
export function unavailableProfile(reason: string, costS = 0): Profile {
  return { available: false, reason, kernels: [], cost_s: costS, stages: { profile: costS } };
}

/** DRAM or SM throughput at or above this % of peak: that unit is the limit. */
export const AT_LIMIT_PCT = 80;
/** Both DRAM and SM below this % of peak: neither bounds the kernel; latency or too little parallelism does. */
export const BOTH_LOW_PCT = 40;
/** Achieved occupancy below this %: too few warps to hide latency. */
export const LOW_OCCUPANCY_PCT = 25;
/** Tensor pipes below this % while the SMs are this busy (SM_BUSY_FOR_TENSOR_PCT): the math runs on the CUDA cores. */
export const TENSOR_IDLE_PCT = 1;
export const SM_BUSY_FOR_TENSOR_PCT = 50;
/** A stall reason with at least this share of the stalled warps is named. */
export const STALL_NAMED_PCT = 20;

const STALL_MEANING: Record<string, string> = {
  long_scoreboard: 'waiting on global or local memory (L1TEX): more loads in flight, reuse through shared memory',
  short_scoreboard: 'waiting on shared memory or special math (MIO): bank conflicts, fewer shared-memory round trips',
  lg_throttle: 'the global/local memory queue is full: fewer, wider loads and stores (vectorise)',
  mio_throttle: 'the shared-memory/special-math queue is full: fewer shared-memory instructions',
  math_pipe_throttle: 'a math pipe is saturated: the kernel is compute-bound on that pipe',
  barrier: 'waiting at __syncthreads/tl barriers: less synchronisation, more work between barriers',
  membar: 'waiting on memory fences',
  wait: 'fixed-latency dependencies: more independent instructions (ILP) between dependent ones',
  not_selected: 'warps ready but not picked: the schedulers are busy (not a problem by itself)',
  dispatch_stall: 'the dispatcher stalled: pipeline conflicts',
  drain: 'waiting for memory stores to drain at exit',
  imc_miss: 'constant-cache misses',
  no_instruction: 'instruction-cache misses or branch targets not fetched',
  branch_resolving: 'resolving branches: divergent control flow',
  tex_throttle: 'the texture unit queue is full',
  sleeping: 'warps sleeping (nanosleep)',
  misc: 'miscellaneous hardware reasons',
};

/** The kernel that took longest: the one the prompt talks about. */
export function mainKernel(p: Profile): KernelCounters | null {
  if (!p.available || p.kernels.length === 0) return null;
  return p.kernels.reduce((a, b) => ((b.duration_ns ?? 0) > (a.duration_ns ?? 0) ? b : a));
}

/** One sentence a line, most important first; one line saying why when there were no counters. */
export function profileDiagnosis(p: Profile | undefined): string[] {
  if (p === undefined) return [];
  if (!p.available) return p.reason ? [`No hardware counters for this kernel: ${p.reason.trim().replace(/\.$/, '')}.`] : [];
  const k = mainKernel(p);
  if (k === null) return [];
  const lines: string[] = [];
  const others = p.kernels.length > 1 ? ` (the longest of ${p.kernels.length} kernels profiled)` : '';
  const dram = k.dram_throughput_pct;
  const sm = k.sm_throughput_pct;
  if (dram !== null && dram >= AT_LIMIT_PCT) {
    lines.push(`Counters of ${k.name}${others}: DRAM throughput ${pct(dram)} of peak: memory-bound at the limit; only moving fewer bytes helps.`);
  } else if (sm !== null && sm >= AT_LIMIT_PCT) {
    lines.push(`Counters of ${k.name}${others}: SM throughput ${pct(sm)} of peak (DRAM ${pct(dram)}): compute-bound at the limit; only fewer or cheaper instructions help.`);
  } else if (dram !== null && sm !== null && dram < BOTH_LOW_PCT && sm < BOTH_LOW_PCT) {
    lines.push(`Counters of ${k.name}${others}: DRAM ${pct(dram)} and SM ${pct(sm)} of peak: neither limit is near; the kernel is latency-bound (too few bytes or instructions in flight).`);
  } else if (dram !== null || sm !== null) {
    lines.push(`Counters of ${k.name}${others}: DRAM throughput ${pct(dram)}, SM throughput ${pct(sm)} of peak.`);
  }
  const occ = k.achieved_occupancy_pct;
  if (occ !== null && occ < LOW_OCCUPANCY_PCT) {
    lines.push(`Achieved occupancy ${pct(occ)}: too few warps resident to hide latency (registers, shared memory per block or too few blocks limit it).`);
  }
  if (k.tensor_pipe_pct !== null && k.tensor_pipe_pct < TENSOR_IDLE_PCT && sm !== null && sm >= SM_BUSY_FOR_TENSOR_PCT) {
    lines.push('Tensor pipes idle while the SMs are busy: the math runs on the CUDA cores; tl.dot / mma / wgmma on tiles would move it to the tensor cores.');
  }
  const top = k.top_stalls[0];
  if (top && top.pct >= STALL_NAMED_PCT) {
    const meaning = STALL_MEANING[top.reason];
    lines.push(`Top stall: ${top.reason.replace(/_/g, ' ')} ${pct(top.pct)}${meaning ? ` — ${meaning}` : ''}.`);
  }
  return lines;
}

function pct(x: number | null): string {
  return x === null ? 'n/a' : `${Math.round(x)}%`;
}
