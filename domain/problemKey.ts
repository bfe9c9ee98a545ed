// A problem by key: activity inputs carry this instead of the problem's whole source, which sits once in
// the search's start event (and, once fetched, in each worker's cache and artifact store). Pure code:
// the workflow computes it, the activities check what they fetched against it.
import type { Problem } from './types.js';

export interface ProblemKey {
  id: string;
  backend: Problem['backend'];
  atol?: number;
  rtol?: number;
  /** FNV-1a (64-bit, hex) of the source, and its length: what the fetched source must match. */
  sourceHash: string;
  sourceChars: number;
}

/** FNV-1a 64-bit over the UTF-16 code units, as 16 hex digits. Not cryptographic: an integrity check. */
export function fnv1a64(text: string): string {
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  const mask = (1n << 64n) - 1n;
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i));
    h = (h * prime) & mask;
  }
  return h.toString(16).padStart(16, '0');
}

export function problemKeyOf(problem: Problem): ProblemKey {
  return {
    id: problem.id,
    backend: problem.backend,
    ...(problem.atol === undefined ? {} : { atol: problem.atol }),
    ...(problem.rtol === undefined ? {} : { rtol: problem.rtol }),
    sourceHash: fnv1a64(problem.source),
    sourceChars: problem.source.length,
  };
}

export function matchesKey(source: string, key: ProblemKey): boolean {
  return source.length === key.sourceChars && fnv1a64(source) === key.sourceHash;
}
