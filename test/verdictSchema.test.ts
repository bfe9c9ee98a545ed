// domain/verdict.ts (zod) against verifier/verdict.schema.json, the one definition of the verdict's fields
// (the Python side is checked against the same file in verifier/tests/test_structure.py).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { verdictSchema } from '../domain/verdict.js';
import { REPO_ROOT } from '../infra/paths.js';

type Node = {
  type?: string | string[];
  anyOf?: Node[];
  properties?: Record<string, Node>;
  required?: string[];
  additionalProperties?: Node | boolean;
  items?: Node;
  enum?: unknown[];
};

/** The JSON types a node allows, null left out ('integer' kept apart from 'number'). */
function types(n: Node): Set<string> {
  const out = new Set<string>();
  if (n.anyOf) for (const alt of n.anyOf) for (const t of types(alt)) out.add(t);
  if (n.type !== undefined) for (const t of Array.isArray(n.type) ? n.type : [n.type]) if (t !== 'null') out.add(t);
  return out;
}

/** The branch of a node that describes an object (or an array's items), if any. */
function branch(n: Node, kind: 'object' | 'array'): Node | undefined {
  if (n.type === kind || (Array.isArray(n.type) && n.type.includes(kind))) return n;
  for (const alt of n.anyOf ?? []) {
    const b = branch(alt, kind);
    if (b) return b;
  }
  return undefined;
}

function compare(zodNode: Node, file: Node, at: string, errors: string[]): void {
  const zt = [...types(zodNode)].sort().join('|');
  const ft = [...types(file)].sort().join('|');
  if (zt !== ft) errors.push(`${at || '(root)'}: zod ${zt}, schema ${ft}`);
  if (zodNode.enum && file.enum && JSON.stringify([...zodNode.enum].sort()) !== JSON.stringify([...file.enum].sort())) {
    errors.push(`${at}: enums differ`);
  }
  const zo = branch(zodNode, 'object');
  const fo = branch(file, 'object');
  if (zo && fo) {
    const fprops = fo.properties ?? {};
    if (!zo.properties && typeof zo.additionalProperties === 'object') {
      // a zod record (stages): every property of the file must fit its value type
      for (const [k, v] of Object.entries(fprops)) compare(zo.additionalProperties, v, `${at}.${k}`, errors);
      return;
    }
    const zprops = zo.properties ?? {};
    const zreq = new Set(zo.required ?? []);
    const freq = new Set(fo.required ?? []);
    for (const k of Object.keys(zprops)) {
      const key = at ? `${at}.${k}` : k;
      if (!(k in fprops)) errors.push(`${key}: in zod, not in verifier/verdict.schema.json`);
      else if (zreq.has(k) !== freq.has(k)) errors.push(`${key}: required in ${zreq.has(k) ? 'zod' : 'the schema'} only`);
    }
    for (const k of Object.keys(fprops)) {
      const key = at ? `${at}.${k}` : k;
      if (k in zprops) compare(zprops[k]!, fprops[k]!, key, errors);
      else errors.push(`${key}: in the schema, not in zod`);
    }
  }
  const za = branch(zodNode, 'array');
  const fa = branch(file, 'array');
  if (za?.items && fa?.items) compare(za.items, fa.items, `${at}[]`, errors);
}

const fileSchema = JSON.parse(readFileSync(path.join(REPO_ROOT, 'verifier', 'verdict.schema.json'), 'utf8')) as Node;
const zodSchema = z.toJSONSchema(verdictSchema, { io: 'input' }) as Node;

test('domain/verdict.ts has the fields and types of verifier/verdict.schema.json', () => {
  const errors: string[] = [];
  compare(zodSchema, fileSchema, '', errors);
  assert.deepEqual(errors, []);
});

test('the comparison catches a field on one side only', () => {
  const errors: string[] = [];
  const extra = z.toJSONSchema(verdictSchema.extend({ surprise: z.string() }), { io: 'input' }) as Node;
  compare(extra, fileSchema, '', errors);
  assert.deepEqual(errors, ['surprise: in zod, not in verifier/verdict.schema.json']);
  const errors2: string[] = [];
  const missing = z.toJSONSchema(verdictSchema.omit({ message: true }), { io: 'input' }) as Node;
  compare(missing, fileSchema, '', errors2);
  assert.deepEqual(errors2, ['message: in the schema, not in zod']);
});
