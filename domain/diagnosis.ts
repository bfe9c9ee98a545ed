// What a kernel engineer would look at first in a timed verdict, in plain words: how close the kernel
// is to the card's limit and which limit it is, host overhead against GPU time, how it was timed and
// any review note. Pure: the workflow's planner and the prompt builder both call it.
import type { HardwareSummary, KernelHardwareSummary, VerdictSummary } from './types.js';

/** Host time per call above this multiple of the GPU time: the host, not the GPU, sets the pace. */
export const HOST_BOUND_RATIO = 1;
/** Host time above this share of the GPU time is worth a mention. */
export const HOST_NOTICE_RATIO = 0.3;
/** A fraction of the card's limit at or above this is near it: little is left to gain from the kernel's main loop. */
export const NEAR_LIMIT = 0.7;
/** Below this the kernel is far from the limit. */
export const FAR_FROM_LIMIT = 0.25;
/** Estimated occupancy below this (active warps / the SM's maximum) is worth naming with what limits it. */
export const LOW_OCCUPANCY = 0.25;
/** Launches per call above this multiple of the reference's, and more than one: fusing is worth a look. */
export const MANY_LAUNCHES_RATIO = 1;
/** At most this many kernels get their own sentences; the rest are in the verdict's artifact. */
export const MAX_KERNEL_SENTENCES = 2;

/**
 * The diagnosis of a timed verdict, one sentence a line, most important first; empty when the verdict
 * carries no meaningful timing (not correct, or a CPU verifier).
 */
export function diagnose(v: VerdictSummary): string[] {
  const t = v.timing;
  if (!t?.meaningful) return [];
  const lines: string[] = [];
  const sol = t.sol;
  if (sol) {
    const pct = `${Math.round(sol.fraction * 100)}%`;
    if (sol.limiter === 'memory') {
      const bytes = sol.bytesOnly ? ' (the reference has no matrix products, so only its bytes count)' : '';
      lines.push(`Your kernel moves ${num(sol.achievedTbps)} TB/s of the problem's minimum bytes, ${pct} of this card's copy rate (${num(sol.copyTbps)} TB/s); the problem is memory-bound${bytes}.`);
      lines.push(memoryAdvice(sol.fraction));
    } else {
      const dtype = sol.peakDtype ? `${sol.peakDtype} ` : '';
      const peak = sol.peakTflops !== null ? `, ${pct} of this card's ${dtype}matrix peak (${num(sol.peakTflops)} TFLOP/s)` : `, ${pct} of this card's limit`;
      lines.push(`Your kernel reaches ${num(sol.achievedTflops)} TFLOP/s${peak}; the problem is compute-bound.`);
      lines.push(computeAdvice(sol.fraction));
    }
  }
  const host = t.hostMs ?? null;
  const gpu = t.candidateMs;
  if (host !== null && gpu !== null && gpu > 0) {
    const ratio = host / gpu;
    if (ratio >= HOST_BOUND_RATIO) {
      lines.push(`The host takes ${num(host)} ms per call, ${times(ratio)} the GPU time (${num(gpu)} ms): the call is bound by launch and Python overhead; fuse launches and do fewer ops in forward (one kernel, no extra torch ops, allocations or .contiguous() copies).`);
    } else if (ratio >= HOST_NOTICE_RATIO) {
      lines.push(`The host takes ${num(host)} ms per call, ${Math.round(ratio * 100)}% of the GPU time (${num(gpu)} ms): fewer launches and ops in forward would help callers that cannot use CUDA graphs.`);
    }
  }
  if (t.method === 'stream') {
    const why = t.methodNote ? ` (${t.methodNote.trim().replace(/\.$/, '')})` : '';
    lines.push(`The call could not be captured in a CUDA graph${why}, so it was timed from eager launches; remove host synchronisations (.item(), .cpu(), printing tensors, data-dependent shapes) and work on the default stream.`);
  }
  if (t.hardware) lines.push(...diagnoseHardware(t.hardware));
  if (t.review) lines.push(`Review note from the verifier: ${t.review.trim()}`);
  return lines;
}

/**
 * Sentences about the kernels a timed candidate launched: spills, what limits occupancy, launches per call
 * against the reference's. Advice from the candidate's own process (not checked), so worded as estimates.
 */
export function diagnoseHardware(h: HardwareSummary): string[] {
  const lines: string[] = [];
  const launches = h.launchesPerCall;
  const ref = h.referenceLaunchesPerCall;
  if (launches !== null && launches > 1 && ref !== null && launches > ref * MANY_LAUNCHES_RATIO) {
    lines.push(`forward launches ${num(launches)} kernels per call against the reference's ${num(ref)}: each launch costs a few microseconds and a round trip through memory; fuse them into fewer kernels.`);
  } else if (launches !== null && launches > 1 && ref === null) {
    lines.push(`forward launches ${num(launches)} kernels per call: fusing them would save launch overhead and the intermediates' round trips through memory.`);
  }
  const ranked = [...h.kernels].sort((a, b) => (b.callsPerCall ?? 0) - (a.callsPerCall ?? 0)).slice(0, MAX_KERNEL_SENTENCES);
  for (const k of ranked) {
    const spill = spillSentence(k);
    if (spill) lines.push(spill);
    const occ = occupancySentence(k);
    if (occ) lines.push(occ);
  }
  return lines;
}

function spillSentence(k: KernelHardwareSummary): string | null {
  if (!k.spillBytes || k.spillBytes <= 0) return null;
  const regs = k.registers !== null ? ` at ${k.registers} registers per thread` : '';
  return `Kernel ${k.name} spills ${k.spillBytes} bytes per thread to local memory${regs}: smaller tiles or fewer values live at once (smaller BLOCK sizes, fewer accumulators, no dynamically indexed local arrays) keep them in registers.`;
}

function occupancySentence(k: KernelHardwareSummary): string | null {
  if (k.occupancy === null || k.occupancy >= LOW_OCCUPANCY) return null;
  const pct = `${Math.round(k.occupancy * 100)}%`;
  const base = `Kernel ${k.name} keeps about ${pct} of an SM's warps active (estimated)`;
  switch (k.occupancyLimiter) {
    case 'registers':
      return `${base}, limited by registers (${k.registers ?? '?'} per thread): fewer live values or smaller tiles raise it; this matters most for a memory-bound kernel that needs many loads in flight.`;
    case 'shared_memory':
      return `${base}, limited by shared memory (${k.sharedBytes ?? '?'} bytes per block): fewer pipeline stages (num_stages) or smaller tiles let more blocks share an SM.`;
    case 'warps':
      return `${base}, limited by the SM's warp slots at ${k.threadsPerBlock ?? '?'} threads per block.`;
    case 'blocks':
      return `${base}, limited by the number of blocks an SM holds: blocks of ${k.threadsPerBlock ?? '?'} threads are too small; use more warps per block.`;
    default:
      return `${base}.`;
  }
}

/** A short form for one-line histories: "memory-bound, 49% of copy rate; host 10× GPU". */
export function diagnosisTag(v: VerdictSummary): string {
  const t = v.timing;
  if (!t?.meaningful) return '';
  const parts: string[] = [];
  if (t.sol) parts.push(`${t.sol.limiter}-bound, ${Math.round(t.sol.fraction * 100)}% of ${t.sol.limiter === 'memory' ? 'copy rate' : 'peak'}`);
  const host = t.hostMs ?? null;
  if (host !== null && t.candidateMs && host / t.candidateMs >= HOST_BOUND_RATIO) parts.push(`host ${times(host / t.candidateMs)} GPU`);
  if (t.method === 'stream') parts.push('not graph-capturable');
  const h = t.hardware;
  if (h) {
    const l = h.launchesPerCall;
    const r = h.referenceLaunchesPerCall;
    if (l !== null && l > 1 && (r === null || l > r * MANY_LAUNCHES_RATIO)) parts.push(r === null ? `${num(l)} launches` : `${num(l)} launches vs ${num(r)}`);
    if (h.kernels.some((k) => (k.spillBytes ?? 0) > 0)) parts.push('spills');
    const low = h.kernels.find((k) => k.occupancy !== null && k.occupancy < LOW_OCCUPANCY);
    if (low) parts.push(`occupancy ${Math.round((low.occupancy ?? 0) * 100)}%${low.occupancyLimiter ? ` (${low.occupancyLimiter.replace('_', ' ')})` : ''}`);
  }
  return parts.join('; ');
}

function memoryAdvice(fraction: number): string {
  if (fraction >= NEAR_LIMIT) return 'It is near the memory limit: further gains come only from moving fewer bytes (fusing away an intermediate, reading each input once) or from less overhead.';
  if (fraction < FAR_FROM_LIMIT) return 'It is far from the memory limit: look for uncoalesced or strided access, re-reads of the same data, too few programs to fill the SMs, or time spent outside the main kernel.';
  return 'To get closer: wider, coalesced loads and stores, each input read once, enough programs in flight to hide latency, and no extra passes over the data.';
}

function computeAdvice(fraction: number): string {
  if (fraction >= NEAR_LIMIT) return 'It is near the compute limit: little is left in the main loop; look at the epilogue and overheads.';
  if (fraction < FAR_FROM_LIMIT) return 'It is far from the compute limit: use the tensor cores (tl.dot / mma on tiles), larger tiles with data reuse in shared memory, and software pipelining (num_stages).';
  return 'To get closer: tile sizes that keep the tensor cores fed, more pipeline stages, fewer warps stalled on loads, and a grid that fills all SMs.';
}

function times(ratio: number): string {
  return ratio >= 10 ? `${Math.round(ratio)}×` : `${ratio.toFixed(1)}×`;
}

function num(x: number | null): string {
  if (x === null) return 'n/a';
  if (x === 0) return '0';
  if (Math.abs(x) >= 100) return x.toFixed(0);
  return Math.abs(x) >= 0.001 ? String(Number(x.toPrecision(2))) : x.toExponential(1);
}
