// What a kernel engineer would look at first in a timed verdict, in plain words: how close the kernel
// is to the card's limit and which limit it is, host overhead against GPU time, how it was timed and
// any review note. Pure: the workflow's planner and the prompt builder both call it.
import type { VerdictSummary } from './types.js';

/** Host time per call above this multiple of the GPU time: the host, not the GPU, sets the pace. */
export const HOST_BOUND_RATIO = 1;
/** Host time above this share of the GPU time is worth a mention. */
export const HOST_NOTICE_RATIO = 0.3;
/** A fraction of the card's limit at or above this is near it: little is left to gain from the kernel's main loop. */
export const NEAR_LIMIT = 0.7;
/** Below this the kernel is far from the limit. */
export const FAR_FROM_LIMIT = 0.25;

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
  if (t.review) lines.push(`Review note from the verifier: ${t.review.trim()}`);
  return lines;
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
