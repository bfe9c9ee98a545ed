// Loading a problem file at the CLI boundary: checked by the verifier's `inspect` (Python ast, the
// file is not run), so a malformed problem fails before any model call.
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { BACKENDS, type Backend, type Problem } from '../domain/types.js';
import { REPO_ROOT, verifierPython } from '../infra/paths.js';

const inspectSchema = z.union([
  z.object({ ok: z.literal(true), id: z.string(), has_model: z.boolean(), has_get_inputs: z.boolean(), has_get_init_inputs: z.boolean(), forward_arity: z.number().int().nullable(), constants: z.record(z.string(), z.unknown()) }),
  z.object({ ok: z.literal(false), error: z.string() }),
]);

export function parseBackend(text: string | undefined): Backend {
  const backend = (text ?? 'triton').toLowerCase();
  if (!(BACKENDS as readonly string[]).includes(backend)) throw new Error(`unknown backend "${text}" (choose one of: ${BACKENDS.join(', ')})`);
  return backend as Backend;
}

const specResultSchema = z.union([z.object({ ok: z.literal(true) }).passthrough(), z.object({ ok: z.literal(false), error: z.string() })]);

/**
 * Runs a verifier module that prints one JSON object and validates it; null (with the last line of
 * stderr) when the output is not that object.
 */
async function verifierJson<S extends z.ZodType>(args: string[], schema: S): Promise<{ data: z.infer<S> | null; stderrTail: string }> {
  const res = await execa(verifierPython(), ['-m', ...args], { cwd: REPO_ROOT, reject: false });
  const stderrTail = String(res.stderr).trim().split('\n').at(-1) || 'no output from the verifier';
  try {
    return { data: schema.parse(JSON.parse(String(res.stdout).trim())), stderrTail };
  } catch {
    return { data: null, stderrTail };
  }
}

/** An attention variant spec (score_mod / mask_mod, no Model) rather than a KernelBench-format file. */
export function isAttentionSpec(source: string): boolean {
  return /^def (score_mod|mask_mod)\s*\(/m.test(source) && !/^class Model\b/m.test(source);
}

/** Validates a variant spec and renders it into a self-contained KernelBench-format problem. */
async function renderAttentionSpec(file: string): Promise<string> {
  const { data: info, stderrTail } = await verifierJson(['verifier.attention', 'validate', file], specResultSchema);
  if (!info) throw new Error(`could not validate attention spec ${file}: ${stderrTail}`);
  if (!info.ok) throw new Error(`${file}: ${(info as { error: string }).error}`);
  const rendered = await execa(verifierPython(), ['-m', 'verifier.attention', 'render', file], { cwd: REPO_ROOT, reject: false });
  if (rendered.exitCode !== 0) throw new Error(`could not render attention spec ${file}: ${String(rendered.stderr).trim().split('\n').at(-1)}`);
  return String(rendered.stdout);
}

/** ATOL / RTOL module constants, when a problem sets its own tolerances. */
function tolerances(constants: Record<string, unknown>, file: string): { atol?: number; rtol?: number } {
  const out: { atol?: number; rtol?: number } = {};
  for (const [name, key] of [['ATOL', 'atol'], ['RTOL', 'rtol']] as const) {
    const v = constants[name];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !(v > 0)) throw new Error(`${file}: ${name} must be a positive number, got ${JSON.stringify(v)}`);
    out[key] = v;
  }
  return out;
}

export async function loadProblem(file: string, backend: Backend, id = path.basename(file, '.py')): Promise<Problem> {
  const resolved = path.resolve(file);
  if (!existsSync(resolved) || !statSync(resolved).isFile()) throw new Error(`problem file not found: ${file}`);
  const text = readFileSync(resolved, 'utf8');
  if (!isAttentionSpec(text)) return { id, source: text, backend, ...tolerances(await inspectConstants(resolved, file), file) };
  // A spec renders to a problem; its tolerances are those of the rendered file (fp32 at large S widens them).
  const source = await renderAttentionSpec(resolved);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ks-spec-'));
  try {
    const rendered = path.join(dir, `${id}.py`);
    writeFileSync(rendered, source);
    return { id, source, backend, ...tolerances(await inspectConstants(rendered, file), file) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function inspectConstants(resolved: string, file: string): Promise<Record<string, unknown>> {
  const { data: info, stderrTail } = await verifierJson(['verifier', 'inspect', '--problem', resolved], inspectSchema);
  if (!info) throw new Error(`could not inspect ${file}: ${stderrTail}`);
  if (!info.ok) throw new Error(`${file}: ${info.error}`);
  return info.constants;
}

/** Loads many problems, a few inspections at a time; the first bad file stops the whole selection. */
export async function loadProblems(refs: { file: string; id: string }[], backend: Backend, parallel = 4): Promise<Problem[]> {
  const ids = new Set<string>();
  for (const r of refs) {
    if (ids.has(r.id)) throw new Error(`two problems share the id "${r.id}"`);
    ids.add(r.id);
  }
  const out: Problem[] = new Array(refs.length);
  let next = 0;
  const lane = async () => {
    while (next < refs.length) {
      const i = next++;
      out[i] = await loadProblem(refs[i]!.file, backend, refs[i]!.id);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, refs.length) }, lane));
  return out;
}

const describeSchema = z.record(
  z.string(),
  z.union([z.object({ inputs: z.array(z.object({ shape: z.array(z.number()).optional(), dtype: z.string().optional(), value: z.string().optional() })) }), z.object({ error: z.string() })]),
);

/** "4096x4096 float32, 4096x4096 float32" per file, built on the meta device by verifier.describe. */
export async function describeInputs(files: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (files.length === 0) return out;
  const { data: parsed } = await verifierJson(['verifier.describe', ...files], describeSchema);
  if (!parsed) {
    for (const f of files) out.set(f, 'inputs: n/a');
    return out;
  }
  for (const [file, d] of Object.entries(parsed)) {
    out.set(file, 'error' in d ? `inputs: n/a (${d.error})` : d.inputs.map((i) => (i.shape ? `${i.shape.join('x') || 'scalar'} ${i.dtype}` : `${i.value}`)).join(', '));
  }
  return out;
}
