// The verifier's JSON (docs/verifier-contract.md), validated where it enters TypeScript.
import { z } from 'zod';
import { truncateMiddle } from './text.js';
import type { VerdictSummary } from './types.js';

const num = z.number().nullable();

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
      candidate_ms: z.object({ median: z.number(), p20: z.number(), p80: z.number() }).nullable(),
      trials: z.number().int(),
      eager_ms: num,
      compile_ms: num,
      speedup_vs_eager: num,
      speedup_vs_compile: num,
      // Attention problems only (FlexAttention baseline); absent from older verifiers.
      flex_ms: num.optional(),
      speedup_vs_flex: num.optional(),
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
  }),
  stages: z.record(z.string(), z.number()),
});

export type Verdict = z.infer<typeof verdictSchema>;

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
    timing: v.timing && {
      meaningful: v.timing.meaningful,
      candidateMs: v.timing.candidate_ms?.median ?? null,
      eagerMs: v.timing.eager_ms,
      compileMs: v.timing.compile_ms,
      speedupVsEager: v.timing.speedup_vs_eager,
      speedupVsCompile: v.timing.speedup_vs_compile,
      speedupVsFlex: v.timing.speedup_vs_flex ?? null,
    },
    cheats: v.cheats,
    gpu: v.env.gpu,
    artifactKey,
  };
}
