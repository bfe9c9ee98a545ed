// The verifier's JSON (docs/verifier-contract.md), validated where it enters TypeScript.
import { z } from 'zod';
import { truncateMiddle } from './text.js';
import type { HardwareSummary, VerdictSummary } from './types.js';

const num = z.number().nullable();
/** [low, high]: a 95% interval; optional and nullable so verdicts of older verifiers still parse. */
const interval = z.tuple([z.number(), z.number()]).nullable().optional();
const dims = z.array(z.number().int()).min(1).max(3).nullable();

/** What the kernels of a timed candidate used (docs/verifier.md, "Hardware feedback"): advice for the prompt. */
const hardwareSchema = z.object({
  source: z.enum(['candidate process', 'parent', 'mixed']),
  kernels: z
    .array(
      z.object({
        name: z.string().max(200),
        calls_per_call: num,
        grid: dims,
        block: dims,
        registers: z.number().int().nullable(),
        shared_bytes: z.number().int().nullable(),
        spill_bytes: z.number().int().nullable(),
        occupancy: num,
        occupancy_limiter: z.enum(['registers', 'shared_memory', 'warps', 'blocks']).nullable(),
      }),
    )
    .max(16),
  launches_per_call: num,
  reference_launches_per_call: num,
  notes: z.array(z.string().max(400)).max(8),
});

export const verdictSchema = z.object({
  status: z.enum(['correct', 'incorrect', 'compile_error', 'runtime_error', 'timeout', 'rejected', 'infra_error']),
  message: z.string(),
  correctness: z
    .object({
      trials: z.number().int(),
      passed: z.number().int(),
      max_abs_error: num,
      max_rel_error: num,
      mismatch_fraction: num,
      first_bad_index: z.array(z.number().int()).nullable(),
    })
    .nullable(),
  cheats: z.array(z.object({ class: z.string(), evidence: z.string() })),
  timing: z
    .object({
      meaningful: z.boolean(),
      candidate_ms: z.object({ median: z.number(), p20: z.number(), p80: z.number(), low: z.number().optional(), high: z.number().optional() }).nullable(),
      trials: z.number().int(),
      eager_ms: num,
      compile_ms: num,
      speedup_vs_eager: num,
      speedup_vs_compile: num,
      // Attention problems only (FlexAttention baseline); absent from older verifiers.
      flex_ms: num.optional(),
      speedup_vs_flex: num.optional(),
      // How the candidate was timed and how sure the numbers are; absent from older verifiers.
      method: z.enum(['cuda-graph', 'stream', 'cpu']).nullable().optional(),
      method_note: z.string().nullable().optional(),
      host_ms: num.optional(),
      eager_ms_interval: interval,
      compile_ms_interval: interval,
      speedup_vs_eager_interval: interval,
      speedup_vs_compile_interval: interval,
      compile_mode: z.string().nullable().optional(),
      // Set when the candidate beat the reference's own FLOPs at the card's peak: worth a person's look.
      review: z.string().nullable().optional(),
      // The achieved fraction of the card's limit for the problem (docs/verifier.md, "Speed of light").
      sol: z
        .object({
          fraction: z.number(),
          limiter: z.enum(['memory', 'compute']),
          min_bytes: z.number().int(),
          flops: z.number().int(),
          achieved_tbps: z.number(),
          achieved_tflops: z.number().nullable(),
          copy_tbps: z.number(),
          peak_tflops: z.number().nullable(),
          peak_dtype: z.string().nullable(),
          bytes_only: z.boolean(),
        })
        .nullable()
        .optional(),
      // Kernels, registers, occupancy and launch counts; absent from older verifiers.
      hardware: hardwareSchema.nullable().optional(),
    })
    .nullable(),
  env: z.object({
    device: z.string(),
    gpu: z.string().nullable(),
    driver: z.string().nullable(),
    torch: z.string().nullable(),
    triton: z.string().nullable(),
    cuda: z.string().nullable(),
    network_isolated: z.boolean(),
    filesystem_readonly: z.boolean().optional(),
    unconfined_allowed: z.boolean().optional(),
  }),
  stages: z.record(z.string(), z.number()),
});

export type Verdict = z.infer<typeof verdictSchema>;

// infra_error verdicts that say the search's configuration cannot work on this verifier: retrying them
// (or the next candidate) gives the same answer, so the search fails at once with the verifier's words.
const CONFIGURATION_ERRORS = [/needs device '\w+'/, /^problem \S+ is malformed/];

export function isConfigurationError(v: Pick<Verdict, 'status' | 'message'>): boolean {
  return v.status === 'infra_error' && CONFIGURATION_ERRORS.some((re) => re.test(v.message));
}

/** Longest verifier message kept in workflow history; the full verdict sits in the artifact store. */
export const MAX_MESSAGE_CHARS = 4000;

export function summarizeVerdict(v: Verdict, artifactKey: string | null): VerdictSummary {
  return {
    status: v.status,
    message: truncateMiddle(v.message, MAX_MESSAGE_CHARS),
    correctness: v.correctness && {
      trials: v.correctness.trials,
      passed: v.correctness.passed,
      maxAbsError: v.correctness.max_abs_error,
      maxRelError: v.correctness.max_rel_error,
      mismatchFraction: v.correctness.mismatch_fraction,
    },
    timing: v.timing && summarizeTiming(v.timing),
    cheats: v.cheats,
    gpu: v.env.gpu,
    artifactKey,
  };
}

function summarizeTiming(t: NonNullable<Verdict['timing']>): NonNullable<VerdictSummary['timing']> {
  const c = t.candidate_ms;
  return {
    meaningful: t.meaningful,
    candidateMs: c?.median ?? null,
    candidateMsInterval: c && c.low !== undefined && c.high !== undefined ? [c.low, c.high] : null,
    method: t.method ?? null,
    methodNote: t.method_note ?? null,
    hostMs: t.host_ms ?? null,
    eagerMs: t.eager_ms,
    compileMs: t.compile_ms,
    speedupVsEager: t.speedup_vs_eager,
    speedupVsCompile: t.speedup_vs_compile,
    speedupVsFlex: t.speedup_vs_flex ?? null,
    eagerMsInterval: t.eager_ms_interval ?? null,
    compileMsInterval: t.compile_ms_interval ?? null,
    speedupVsEagerInterval: t.speedup_vs_eager_interval ?? null,
    speedupVsCompileInterval: t.speedup_vs_compile_interval ?? null,
    compileMode: t.compile_mode ?? null,
    review: t.review ?? null,
    sol: t.sol
      ? {
          fraction: t.sol.fraction,
          limiter: t.sol.limiter,
          achievedTbps: t.sol.achieved_tbps,
          copyTbps: t.sol.copy_tbps,
          achievedTflops: t.sol.achieved_tflops,
          peakTflops: t.sol.peak_tflops,
          peakDtype: t.sol.peak_dtype,
          bytesOnly: t.sol.bytes_only,
        }
      : null,
    hardware: t.hardware ? summarizeHardware(t.hardware) : null,
  };
}

/** Kernels kept in the summary: the ones that ran most; the rest live in the artifact. */
export const MAX_SUMMARY_KERNELS = 4;

function summarizeHardware(h: z.infer<typeof hardwareSchema>): HardwareSummary {
  const kernels = [...h.kernels]
    .sort((a, b) => (b.calls_per_call ?? 0) - (a.calls_per_call ?? 0))
    .slice(0, MAX_SUMMARY_KERNELS)
    .map((k) => ({
      name: truncateMiddle(k.name, 80),
      callsPerCall: k.calls_per_call,
      registers: k.registers,
      sharedBytes: k.shared_bytes,
      spillBytes: k.spill_bytes,
      occupancy: k.occupancy,
      occupancyLimiter: k.occupancy_limiter,
      threadsPerBlock: k.block ? k.block.reduce((a, b) => a * b, 1) : null,
      blocks: k.grid ? k.grid.reduce((a, b) => a * b, 1) : null,
    }));
  return {
    source: h.source,
    kernels,
    launchesPerCall: h.launches_per_call,
    referenceLaunchesPerCall: h.reference_launches_per_call,
    notes: h.notes.slice(0, 3).map((n) => truncateMiddle(n, 200)),
  };
}
