// The verifier's profile result (`python -m verifier profile`, docs/verifier-contract.md "Profile"):
// Nsight Compute counters of one candidate's kernels, validated where it enters TypeScript.
import { z } from 'zod';
import { unavailableProfile } from './profileDiagnosis.js';

const pct = z.number().nullable();

export const kernelCountersSchema = z.object({
  name: z.string(),
  duration_ns: z.number().nullable(),
  dram_throughput_pct: pct,
  sm_throughput_pct: pct,
  achieved_occupancy_pct: pct,
  tensor_pipe_pct: pct,
  top_stalls: z.array(z.object({ reason: z.string(), pct: z.number() })),
});

export const profileSchema = z.object({
  available: z.boolean(),
  reason: z.string().nullable(),
  kernels: z.array(kernelCountersSchema),
  cost_s: z.number(),
  stages: z.object({ profile: z.number() }),
});

export type KernelCounters = z.infer<typeof kernelCountersSchema>;
export type Profile = z.infer<typeof profileSchema>;

export { unavailableProfile } from './profileDiagnosis.js';

/** The verifier's JSON as a Profile; anything malformed becomes an unavailable profile saying so. */
export function parseProfile(raw: unknown): Profile {
  const parsed = profileSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  return unavailableProfile(`the verifier's profile did not parse: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
}
