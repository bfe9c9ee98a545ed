// The speed of light and the search's spend in short words, for the CLI's lines, the Temporal UI's
// details and the report. Pure: the workflow bundle imports it.
import type { SpeedOfLightSummary, VerdictSummary } from './types.js';

/** "49% SOL (memory-bound)"; "" without a figure (untimed, CPU verifier, older verifiers). */
export function solText(sol: SpeedOfLightSummary | null | undefined): string {
  if (!sol) return '';
  return `${Math.round(sol.fraction * 100)}% SOL (${sol.limiter}-bound${sol.bytesOnly ? ', bytes only' : ''})`;
}

/** The speed of light of a correct, meaningfully timed verdict, or null. */
export function solOf(v: VerdictSummary): SpeedOfLightSummary | null {
  return v.status === 'correct' && v.timing?.meaningful ? (v.timing.sol ?? null) : null;
}

/** "12.3 GPU-s, 45,678 tokens": what a search has spent so far. */
export function spendText(gpuSeconds: number, tokens: number): string {
  const s = gpuSeconds >= 100 ? gpuSeconds.toFixed(0) : gpuSeconds.toFixed(1);
  return `${s} GPU-s, ${tokens.toLocaleString('en-US')} tokens`;
}
