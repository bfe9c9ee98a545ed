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

export async function loadProblem(file: string, backend: Backend): Promise<Problem> {
  const resolved = path.resolve(file);
  if (!existsSync(resolved) || !statSync(resolved).isFile()) throw new Error(`problem file not found: ${file}`);
  const result = await execa(verifierPython(), ['-m', 'verifier', 'inspect', '--problem', resolved], { cwd: REPO_ROOT, reject: false });
  let info: z.infer<typeof inspectSchema>;
  try {
    info = inspectSchema.parse(JSON.parse(String(result.stdout).trim()));
  } catch {
    throw new Error(`could not inspect ${file}: ${String(result.stderr).trim().split('\n').at(-1) ?? 'no output from the verifier'}`);
  }
  if (!info.ok) throw new Error(`${file}: ${info.error}`);
  return { id: path.basename(resolved, '.py'), source: readFileSync(resolved, 'utf8'), backend };
}
