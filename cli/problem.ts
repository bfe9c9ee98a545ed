// Loading a problem file at the CLI boundary: checked by the verifier's `inspect` (Python ast, the
// file is not run), so a malformed problem fails before any model call.
import { execa } from 'execa';
import { existsSync, readFileSync, statSync } from 'node:fs';
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

/** An attention variant spec (score_mod / mask_mod, no Model) rather than a KernelBench-format file. */
export function isAttentionSpec(source: string): boolean {
  return /^def (score_mod|mask_mod)\s*\(/m.test(source) && !/^class Model\b/m.test(source);
}

/** Validates a variant spec and renders it into a self-contained KernelBench-format problem. */
async function renderAttentionSpec(file: string): Promise<string> {
  const run = (cmd: string) => execa(verifierPython(), ['-m', 'verifier.attention', cmd, file], { cwd: REPO_ROOT, reject: false });
  const validated = await run('validate');
  let info: z.infer<typeof specResultSchema>;
  try {
    info = specResultSchema.parse(JSON.parse(String(validated.stdout).trim()));
  } catch {
    throw new Error(`could not validate attention spec ${file}: ${String(validated.stderr).trim().split('\n').at(-1) ?? 'no output'}`);
  }
  if (!info.ok) throw new Error(`${file}: ${(info as { error: string }).error}`);
  const rendered = await run('render');
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
  if (isAttentionSpec(text)) return { id, source: await renderAttentionSpec(resolved), backend };
  const result = await execa(verifierPython(), ['-m', 'verifier', 'inspect', '--problem', resolved], { cwd: REPO_ROOT, reject: false });
  let info: z.infer<typeof inspectSchema>;
  try {
    info = inspectSchema.parse(JSON.parse(String(result.stdout).trim()));
  } catch {
    throw new Error(`could not inspect ${file}: ${String(result.stderr).trim().split('\n').at(-1) ?? 'no output from the verifier'}`);
  }
  if (!info.ok) throw new Error(`${file}: ${info.error}`);
  return { id, source: text, backend, ...tolerances(info.constants, file) };
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
  const res = await execa(verifierPython(), ['-m', 'verifier.describe', ...files], { cwd: REPO_ROOT, reject: false });
  let parsed: z.infer<typeof describeSchema>;
  try {
    parsed = describeSchema.parse(JSON.parse(String(res.stdout).trim()));
  } catch {
    for (const f of files) out.set(f, 'inputs: n/a');
    return out;
  }
  for (const [file, d] of Object.entries(parsed)) {
    out.set(file, 'error' in d ? `inputs: n/a (${d.error})` : d.inputs.map((i) => (i.shape ? `${i.shape.join('x') || 'scalar'} ${i.dtype}` : `${i.value}`)).join(', '));
  }
  return out;
}
