// The strategy benchmark's stand-in for a model (not the demo's scripted model): it answers each request
// with a real kernel, a variant of bench/strategy/variants.py, chosen at random with a seed from what the
// request asks and shows. It reads the variant a prompt showed from the source's first line, and answers
//   first    a random variant;
//   fix      the shown kernel without its bug (same knobs), or a neighbour when it had none;
//   faster   a neighbour of the shown kernel: one knob moved to another value of its family's grid;
//   combine  knob by knob from one of the two kernels where the result is a variant of their family;
//   explore  a random variant, of another family than the best kernel's when there is one;
// and now and then (BROKEN_RATE) the broken twin of the family instead. It does not read diagnoses or
// messages: the benchmark measures the planning (which kernel gets which instruction), not a model.
// Verification looks the variant up in verdicts recorded once on a GPU (bench/strategy/record.py).
import type { SearchActivities } from '../domain/strategy.js';
import { summarizeVerdict, verdictSchema } from '../domain/verdict.js';
import type { Feedback, GenerateResult, VerdictSummary } from '../domain/types.js';

export const HEADER = '# stand-in variant: ';
/** Share of proposals that are a family's broken twin instead of what was asked for. */
export const BROKEN_RATE = 0.15;
/** Share of explores that may stay in the best kernel's family (a model does not always manage to change approach). */
const SAME_FAMILY_EXPLORE = 0.3;

export type Params = Record<string, number | boolean | string>;

export interface Variant {
  key: string;
  problem: string;
  family: string;
  params: Params;
  broken: boolean;
  source: string;
  verdict: VerdictSummary;
}

/** One recorded line of bench/strategy/recorded/<problem>.jsonl. */
export interface RecordedLine {
  key: string;
  family: string;
  params: Params;
  broken: boolean;
  source: string;
  verdict: unknown;
}

/** bench/strategy/variants.py's variant_key. */
export function variantKey(problem: string, family: string, params: Params, broken: boolean): string {
  const knobs = Object.keys(params)
    .sort()
    .map((k) => `${k}=${pyValue(params[k]!)}`)
    .join(',');
  return `${problem}/${family}/${knobs}${broken ? '/broken' : ''}`;
}

function pyValue(v: number | boolean | string): string {
  return typeof v === 'boolean' ? (v ? 'True' : 'False') : String(v);
}

/** A small seeded generator (mulberry32): the same seed gives the same proposals. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class VariantSpace {
  readonly byKey = new Map<string, Variant>();
  readonly families = new Map<string, Variant[]>();

  constructor(readonly problem: string, lines: RecordedLine[]) {
    for (const l of lines) {
      const v: Variant = { key: l.key, problem, family: l.family, params: l.params, broken: l.broken, source: l.source, verdict: summarizeVerdict(verdictSchema.parse(l.verdict), null) };
      this.byKey.set(v.key, v);
      if (!v.broken) this.families.set(v.family, [...(this.families.get(v.family) ?? []), v]);
    }
  }

  /** The fastest correct variant's GPU time: what a search could at best find. */
  bestMs(): number {
    return Math.min(...[...this.byKey.values()].flatMap((v) => (v.verdict.status === 'correct' && v.verdict.timing?.candidateMs ? [v.verdict.timing.candidateMs] : [])));
  }

  brokenTwin(family: string): Variant | undefined {
    return [...this.byKey.values()].find((v) => v.family === family && v.broken);
  }

  /** Variants of the family that differ from `v` in exactly one knob. */
  neighbours(v: Variant): Variant[] {
    return (this.families.get(v.family) ?? []).filter((w) => w.key !== v.key && Object.keys(v.params).filter((k) => w.params[k] !== v.params[k]).length === 1);
  }
}

/** The variant a source names on its first line, if it is one of this space's. */
export function variantOf(space: VariantSpace, source: string | undefined | null): Variant | undefined {
  const first = source?.split('\n', 1)[0] ?? '';
  if (!first.startsWith(HEADER)) return undefined;
  const meta = JSON.parse(first.slice(HEADER.length)) as { problem: string; family: string; params: Params; broken: boolean };
  return space.byKey.get(variantKey(meta.problem, meta.family, meta.params, meta.broken));
}

/** The stand-in's activities: generate proposes a variant, verify returns its recorded verdict. */
export function standInActivities(space: VariantSpace, seed: number): SearchActivities & { proposals: () => number } {
  const rand = seededRandom(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const familyNames = [...space.families.keys()];
  const randomIn = (family: string) => pick(space.families.get(family)!);
  let proposals = 0;

  function propose(f: Feedback): Variant {
    const shown = variantOf(space, f.previous?.source);
    const best = variantOf(space, f.best?.source);
    switch (f.instruction) {
      case 'fix':
        if (shown?.broken) return space.families.get(shown.family)!.find((v) => JSON.stringify(v.params) === JSON.stringify(shown.params)) ?? randomIn(shown.family);
        return shown ? (pick([...space.neighbours(shown), randomIn(shown.family)]) ?? shown) : randomIn(pick(familyNames));
      case 'faster': {
        if (!shown) return randomIn(pick(familyNames));
        const n = space.neighbours(shown);
        return n.length > 0 ? pick(n) : randomIn(shown.family);
      }
      case 'combine': {
        const other = variantOf(space, f.other?.source);
        if (!shown || !other) return shown ?? randomIn(pick(familyNames));
        const [base, donor] = rand() < 0.5 ? [shown, other] : [other, shown];
        const params: Params = { ...base.params };
        for (const k of Object.keys(params)) if (k in donor.params && rand() < 0.5) params[k] = donor.params[k]!;
        return space.byKey.get(variantKey(space.problem, base.family, params, false)) ?? base;
      }
      case 'explore': {
        const away = best ?? shown;
        const others = familyNames.filter((n) => n !== away?.family);
        return randomIn(others.length > 0 && rand() >= SAME_FAMILY_EXPLORE ? pick(others) : pick(familyNames));
      }
      case 'first':
        return randomIn(pick(familyNames));
    }
  }

  return {
    proposals: () => proposals,
    async generate(req): Promise<GenerateResult> {
      proposals++;
      let v = propose(req.feedback);
      if (rand() < BROKEN_RATE) v = space.brokenTwin(v.family) ?? v;
      return { source: v.source, model: 'stand-in', tokens: { prompt: 0, completion: 0 }, artifacts: {} };
    },
    async verify(req): Promise<VerdictSummary> {
      const v = variantOf(space, req.candidateSource);
      if (!v) throw new Error(`the stand-in proposed a source that is not a recorded variant of ${space.problem}`);
      return v.verdict;
    },
  };
}
