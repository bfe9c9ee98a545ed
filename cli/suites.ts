// Problem selections: a single file, a folder, or a KernelBench suite read from the user's checkout
// (`--kernelbench PATH --suite kernelbench:level2:1-20,35`). KernelBench is never copied here.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { isAttentionSpec } from './problem.js';

export interface ProblemRef {
  file: string;
  /** Problem id: the basename, prefixed with the level for KernelBench (`level1-19_ReLU`). */
  id: string;
  level: number | null;
  number: number | null;
}

export interface SuiteSelection {
  level: number;
  /** null = the whole level. */
  numbers: Set<number> | null;
}

/** Parses `kernelbench:level1`, `kernelbench:level1:19`, `level2:1-20,35`. */
export function parseSuite(spec: string): SuiteSelection {
  const m = /^(?:kernelbench:)?level([1-9])(?::([\d,\-\s]+))?$/i.exec(spec.trim());
  if (!m) throw new Error(`cannot parse suite "${spec}" (use e.g. kernelbench:level1, kernelbench:level1:19 or level2:1-20,35)`);
  const level = Number(m[1]);
  if (!m[2]) return { level, numbers: null };
  const numbers = new Set<number>();
  for (const part of m[2].split(',').map((s) => s.trim()).filter(Boolean)) {
    const range = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!range) throw new Error(`cannot parse "${part}" in suite "${spec}"`);
    const lo = Number(range[1]);
    const hi = Number(range[2] ?? range[1]);
    if (hi < lo) throw new Error(`empty range "${part}" in suite "${spec}"`);
    for (let n = lo; n <= hi; n++) numbers.add(n);
  }
  return { level, numbers };
}

/** The folder holding level1/, level2/, … in a KernelBench checkout (its root or its KernelBench/). */
export function kernelBenchLevelsDir(root: string): string {
  for (const dir of [path.join(root, 'KernelBench'), root]) {
    if (existsSync(path.join(dir, 'level1'))) return dir;
  }
  throw new Error(`no KernelBench levels under ${root} (expected ${path.join(root, 'KernelBench', 'level1')}); clone ScalingIntelligence/KernelBench and point --kernelbench at it`);
}

export function selectKernelBench(root: string, spec: string): ProblemRef[] {
  const sel = parseSuite(spec);
  const dir = path.join(kernelBenchLevelsDir(root), `level${sel.level}`);
  if (!existsSync(dir)) throw new Error(`KernelBench has no level${sel.level} under ${path.dirname(dir)}`);
  const refs = readdirSync(dir)
    .filter((f) => f.endsWith('.py'))
    .map((f) => ({ f, n: Number(/^(\d+)_/.exec(f)?.[1] ?? NaN) }))
    .filter(({ n }) => Number.isInteger(n) && (sel.numbers === null || sel.numbers.has(n)))
    .sort((a, b) => a.n - b.n)
    .map(({ f, n }) => ({ file: path.join(dir, f), id: `level${sel.level}-${path.basename(f, '.py')}`, level: sel.level, number: n }));
  if (sel.numbers) {
    const found = new Set(refs.map((r) => r.number));
    const missing = [...sel.numbers].filter((n) => !found.has(n));
    if (missing.length > 0) throw new Error(`KernelBench level${sel.level} has no problem ${missing.join(', ')}`);
  }
  if (refs.length === 0) throw new Error(`suite "${spec}" selects no problems`);
  return refs;
}

/**
 * Every .py problem in a folder (recursively), skipping files and folders that start with `_`. An
 * attention variant spec in a subfolder (problems/attention/variants/) is not a problem of the folder
 * (docs/attention.md) and is skipped, listed in `skipped`; specs directly in the folder named are its
 * problems (rendered), so `--problems problems/attention/variants` runs the variants.
 */
export function selectFolderWithSkipped(dir: string): { refs: ProblemRef[]; skipped: string[] } {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`problem folder not found: ${dir}`);
  const out: ProblemRef[] = [];
  const skipped: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      if (name.startsWith('_') || name.startsWith('.')) continue;
      const full = path.join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (!name.endsWith('.py')) continue;
      else if (d !== dir && isAttentionSpec(readFileSync(full, 'utf8'))) skipped.push(full);
      else out.push({ file: full, id: path.basename(name, '.py'), level: null, number: null });
    }
  };
  walk(dir);
  if (out.length === 0) throw new Error(`no .py problems in ${dir}${skipped.length > 0 ? ` (${skipped.length} attention variant spec(s) in subfolders; name their folder to run them: --problems ${path.dirname(skipped[0]!)})` : ''}`);
  return { refs: out, skipped };
}

export function selectFile(file: string): ProblemRef {
  if (existsSync(file) && statSync(file).isDirectory()) throw new Error(`${file} is a folder: --problem takes one file; use --problems ${file} for every problem in it`);
  return { file, id: path.basename(file, '.py'), level: null, number: null };
}
