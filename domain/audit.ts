// Audits: verification only, no model. Someone else's kernels, each matched to a problem, are judged by
// the verifier on the GPU task queue, one auditKernel child workflow per kernel under an audit parent.
// Pure: the workflows, the CLI and the report all import this file.
import { fnv1a64 } from './problemKey.js';
import type { Problem, VerdictStatus, VerdictSummary } from './types.js';

/** One kernel to judge: its source, the problem it claims to solve, and where it came from. */
export interface AuditKernel {
  /** Unique within the audit, readable: the file's path in the folder without `.py`, or the problem id (JSONL). */
  kernelId: string;
  /** Where it came from, as a person finds it again: `level1/19_ReLU.py`, `claims.jsonl:3`. */
  file: string;
  problemId: string;
  source: string;
}

/** A file or line of the kernel set that is not verified, and why. */
export interface SkippedKernel {
  file: string;
  reason: string;
}

export interface AuditOptions {
  gpuTaskQueue: string;
  /** Hard limit for one verification subprocess, seconds. */
  verifyTimeoutS: number;
}

export interface AuditInput {
  /** Audit name; the audit's workflow id and its children's ids derive from it. */
  name: string;
  /** Where the kernels came from (a folder or a JSONL file), for the report. */
  kernelsPath: string;
  /** The problems that have at least one kernel. */
  problems: Problem[];
  kernels: AuditKernel[];
  /** Kernel files that match no problem of the selection (or repeat another kernel): listed, not verified. */
  unmatched: SkippedKernel[];
  /** Problems of the selection with no kernel: listed in the report. */
  problemsWithoutKernel: string[];
  options: AuditOptions;
  /** Verifications at once (default: one per connected GPU slot). */
  concurrency: number;
}

/**
 * The input of one auditKernel child. It has `problem` at the top like a search's input, so the GPU
 * activity, given a problem key, reads the source from this workflow's start event (activities/problemSource.ts).
 */
export interface AuditKernelInput {
  problem: Problem;
  kernel: { kernelId: string; file: string; source: string };
  audit: string;
  options: AuditOptions;
}

export interface AuditKernelResult {
  kernelId: string;
  file: string;
  problemId: string;
  verdict: VerdictSummary;
  verifiedAtMs: number;
}

export type AuditEntryStatus = 'pending' | 'running' | 'judged' | 'failed';

/** What the audit parent keeps of one kernel: small (the verdict itself is the child's result). */
export interface AuditEntry {
  kernelId: string;
  file: string;
  problemId: string;
  workflowId: string;
  status: AuditEntryStatus;
  /** Judged in an earlier run of this audit and kept. */
  kept: boolean;
  verdictStatus: VerdictStatus | null;
  /** Why the child failed (the verifier could not judge it), when it did. */
  error?: string;
}

export interface AuditProgress {
  name: string;
  total: number;
  done: number;
  heldUp: number;
  running: number;
  failed: number;
  concurrency: number;
  entries: AuditEntry[];
}

export function auditWorkflowId(name: string): string {
  return `audit-${name}`;
}

/**
 * The child of one kernel: the audit's name, the kernel id and a hash of the kernel and its problem, so
 * a kernel edited since the last run is judged again while an unchanged one keeps its verdict.
 */
export function auditKernelWorkflowId(audit: string, kernelId: string, kernelSource: string, problemSource: string): string {
  const safe = kernelId.replace(/[^A-Za-z0-9._-]/g, '_');
  return `ka-${audit}-${safe}-${fnv1a64(`${problemSource}\u0000${kernelSource}`).slice(0, 12)}`;
}

/** The one-kernel check of `kernel-search verify`: the same kernel on the same problem gives the same id. */
export function verifyWorkflowId(problem: Problem, kernelSource: string): string {
  const safe = problem.id.replace(/[^A-Za-z0-9._-]/g, '_');
  return `kv-${safe}-${problem.backend}-${fnv1a64(`${problem.source}\u0000${kernelSource}`).slice(0, 12)}`;
}

/** A kernel holds up when the verifier found it correct and found no cheat. */
export function heldUp(verdict: Pick<VerdictSummary, 'status' | 'cheats'> | null): boolean {
  return verdict !== null && verdict.status === 'correct' && verdict.cheats.length === 0;
}

/** The verdict in words, as a leaderboard would print it. */
export function verdictInWords(verdict: Pick<VerdictSummary, 'status' | 'cheats'>): string {
  switch (verdict.status) {
    case 'correct':
      return 'holds up: correct, no cheat found';
    case 'incorrect':
      return 'does not hold up: wrong results';
    case 'rejected':
      return `does not hold up: cheats (${[...new Set(verdict.cheats.map((c) => c.class))].join(', ') || 'unnamed'})`;
    case 'compile_error':
      return 'does not hold up: does not compile or import';
    case 'runtime_error':
      return 'does not hold up: crashes when run';
    case 'timeout':
      return 'does not hold up: ran past its time limit';
    case 'infra_error':
      return 'not judged: the verifier failed';
  }
}

export function auditProgressOf(name: string, concurrency: number, entries: AuditEntry[]): AuditProgress {
  return {
    name,
    total: entries.length,
    done: entries.filter((e) => e.status === 'judged' || e.status === 'failed').length,
    heldUp: entries.filter((e) => e.verdictStatus === 'correct').length,
    running: entries.filter((e) => e.status === 'running').length,
    failed: entries.filter((e) => e.status === 'failed').length,
    concurrency,
    entries,
  };
}
