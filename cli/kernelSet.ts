// The kernels of an audit, matched to the problems of a selection (docs/audit.md, "Naming"). A folder of
// Python modules or a JSONL file of {problem, source}: each kernel is matched to a problem by id, and what
// matches nothing is listed, never dropped in silence.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { AuditKernel, SkippedKernel } from '../domain/audit.js';
import type { ProblemRef } from './suites.js';

/** Past this a kernel is not a kernel (and would swell the audit's history): listed, not verified. */
export const MAX_KERNEL_CHARS = 256_000;

export interface KernelSet {
  kernels: AuditKernel[];
  /** Kernel files (or JSONL lines) that are not verified: no problem matches, a repeat, too large. */
  unmatched: SkippedKernel[];
  /** Problem ids of the selection that no kernel claims. */
  problemsWithoutKernel: string[];
  /** Files of the folder that are not Python modules (not kernels at all). */
  ignored: string[];
}

const jsonlLine = z
  .object({
    problem: z.string().min(1, 'empty "problem"').optional(),
    source: z.string(),
    /** Optional: the kernel's name in the report (default: its problem id). */
    name: z.string().min(1).optional(),
  })
  .passthrough();
/** Without `problem`, a line names its problem as KernelBench's own records do: `level` and `problem_id`
 * (and `sample_id`, which then tells its samples apart in the report). Other fields are not read. */
const count = z.number().int().nonnegative();
const kernelBenchKey = z.object({ level: count.positive(), problem_id: count.positive(), sample_id: count.optional() }, { message: 'needs "problem", or "level" and "problem_id"' });

/** A KernelBench-style name: `level1/19_ReLU`, `level1-19_ReLU`, `level1_19`, `level2/7`. */
const KERNELBENCH_NAME = /(?:^|\/)level(\d+)[/_-](\d+)(?:_[^/]*)?$/;
/** The file KernelBench's own scripts write for each sample: `level_1_problem_19_sample_0_kernel`. */
const KERNELBENCH_RUN_FILE = /(?:^|\/)level_?(\d+)_problem_(\d+)(?:_sample_\d+)?(?:_kernel)?$/;

/**
 * The problem a kernel's name claims, in this order: the name is a problem id (`vector_add`,
 * `level1-19_ReLU`); it is KernelBench-style (`level1/19_ReLU`: level 1, number 19, whatever follows the
 * number); its last path part is a problem id (`kernels/vector_add`). Null, with why, when none does.
 */
export function matchProblem(name: string, problems: ProblemRef[]): { problem: ProblemRef } | { problem: null; reason: string } {
  const byId = new Map(problems.map((p) => [p.id, p]));
  const exact = byId.get(name);
  if (exact) return { problem: exact };
  const kb = KERNELBENCH_NAME.exec(name) ?? KERNELBENCH_RUN_FILE.exec(name);
  if (kb) {
    const [level, number] = [Number(kb[1]), Number(kb[2])];
    const hit = problems.find((p) => p.level === level && p.number === number);
    if (hit) return { problem: hit };
  }
  const base = byId.get(name.split('/').at(-1)!);
  if (base) return { problem: base };
  const kbHint = kb ? ` (KernelBench level ${kb[1]} problem ${kb[2]} is not in the selection)` : '';
  return { problem: null, reason: `matches no problem of the selection${kbHint}` };
}

export function readKernelSet(kernelsPath: string, problems: ProblemRef[]): KernelSet {
  if (!existsSync(kernelsPath)) throw new Error(`--kernels: ${kernelsPath} not found`);
  const isDir = statSync(kernelsPath).isDirectory();
  if (!isDir && !kernelsPath.endsWith('.jsonl')) throw new Error(`--kernels takes a folder of kernel modules or a .jsonl file of {"problem", "source"} lines; got ${kernelsPath}`);
  const claims = isDir ? folderClaims(kernelsPath) : jsonlClaims(kernelsPath);
  const kernels: AuditKernel[] = [];
  const unmatched: SkippedKernel[] = [];
  const usedIds = new Set<string>();
  const seen = new Map<string, string>(); // problem id + source → the file that had it first
  for (const c of claims.items) {
    if (c.source.length > MAX_KERNEL_CHARS) {
      unmatched.push({ file: c.file, reason: `larger than ${MAX_KERNEL_CHARS / 1000} KB: not a kernel module` });
      continue;
    }
    const m = matchProblem(c.name, problems);
    if (!m.problem) {
      unmatched.push({ file: c.file, reason: m.reason });
      continue;
    }
    const dupKey = `${m.problem.id}\u0000${c.source}`;
    const first = seen.get(dupKey);
    if (first !== undefined) {
      unmatched.push({ file: c.file, reason: `the same kernel as ${first} for ${m.problem.id}: judged once` });
      continue;
    }
    seen.set(dupKey, c.file);
    const wanted = c.kernelId ?? (c.sample !== undefined ? `${m.problem.id}.sample${c.sample}` : m.problem.id);
    let kernelId = wanted;
    for (let k = 2; usedIds.has(kernelId); k++) kernelId = `${wanted}.${k}`;
    usedIds.add(kernelId);
    kernels.push({ kernelId, file: c.file, problemId: m.problem.id, source: c.source });
  }
  const claimed = new Set(kernels.map((k) => k.problemId));
  return { kernels, unmatched, problemsWithoutKernel: problems.map((p) => p.id).filter((id) => !claimed.has(id)), ignored: claims.ignored };
}

interface Claim {
  /** What is matched against problem ids. */
  name: string;
  file: string;
  source: string;
  /** The kernel's id in the audit, when the layout gives one (a folder's relative path). */
  kernelId?: string;
  /** A JSONL line's KernelBench `sample_id`: its id is then `<problem id>.sample<k>`, whatever the line order. */
  sample?: number;
}

/** Every .py module under `dir` (recursively), skipping names that start with `.` or `_` (`__pycache__`, `__init__.py`). */
function folderClaims(dir: string): { items: Claim[]; ignored: string[] } {
  const items: Claim[] = [];
  const ignored: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d).sort()) {
      if (entry.startsWith('.') || entry.startsWith('_')) continue;
      const full = path.join(d, entry);
      const rel = path.relative(dir, full).split(path.sep).join('/');
      if (statSync(full).isDirectory()) walk(full);
      else if (!entry.endsWith('.py')) ignored.push(rel);
      else {
        const name = rel.slice(0, -'.py'.length);
        items.push({ name, file: rel, source: readFileSync(full, 'utf8'), kernelId: name });
      }
    }
  };
  walk(dir);
  return { items, ignored };
}

/** One kernel a line; any line that is not a {problem, source} (or {level, problem_id, source}) object stops the whole file (nothing starts). */
function jsonlClaims(file: string): { items: Claim[]; ignored: string[] } {
  const base = path.basename(file);
  const items: Claim[] = [];
  readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${base}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new Error(`${where}: not JSON (${err instanceof Error ? err.message : String(err)})`);
    }
    const refuse = (issue: z.ZodIssue) => {
      throw new Error(`${where}: each line must be {"problem": "<problem id>", "source": "<kernel module>"} (or "level" and "problem_id" for "problem"); ${issue.path.join('.') || 'the line'}: ${issue.message}`);
    };
    const parsed = jsonlLine.safeParse(value);
    if (!parsed.success) return refuse(parsed.error.issues[0]!);
    let name = parsed.data.problem;
    let sample: number | undefined;
    if (name === undefined) {
      const kb = kernelBenchKey.safeParse(value);
      if (!kb.success) return refuse(kb.error.issues[0]!);
      name = `level${kb.data.level}/${kb.data.problem_id}`;
      sample = kb.data.sample_id;
    }
    items.push({ name, file: where, source: parsed.data.source, ...(parsed.data.name ? { kernelId: parsed.data.name } : {}), ...(sample !== undefined ? { sample } : {}) });
  });
  if (items.length === 0) throw new Error(`${base} holds no kernels`);
  return { items, ignored: [] };
}
