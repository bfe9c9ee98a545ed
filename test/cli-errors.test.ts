// Bad input gets one clear line and a non-zero exit, and nothing is started.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import http from 'node:http';
import { TestEnv, freePort, problemFile } from './harness.js';

let env: TestEnv;
before(async () => {
  env = await TestEnv.start();
});
after(async () => env?.stop());

async function expectRefusal(args: string[], pattern: RegExp, extraEnv: NodeJS.ProcessEnv = {}) {
  const res = await env.cli(args, extraEnv);
  assert.notEqual(res.exitCode, 0, `expected failure for ${args.join(' ')}`);
  const lines = res.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line, got: ${res.stderr}`);
  assert.match(lines[0]!, pattern);
  assert.match(lines[0]!, /^kernel-search: /);
}

test('a missing problem file', () => expectRefusal(['run', '--problem', 'nope/missing.py'], /problem file not found: nope\/missing\.py/));
test('a file without Model', () => expectRefusal(['run', '--problem', problemFile('bad_no_model')], /Model/));
test('a file without get_inputs', () => expectRefusal(['run', '--problem', problemFile('bad_no_get_inputs')], /get_inputs/));
test('a file without get_init_inputs', () => expectRefusal(['run', '--problem', problemFile('bad_no_get_init_inputs')], /get_init_inputs/));
test('a file that does not parse', () => expectRefusal(['run', '--problem', problemFile('bad_syntax')], /syntax|line \d+/i));
test('an unknown backend', () => expectRefusal(['run', '--problem', problemFile('vector_add'), '--backend', 'opencl'], /unknown backend "opencl"/));
test('an unparseable budget', () => expectRefusal(['run', '--problem', problemFile('vector_add'), '--budget', 'soon'], /--budget: cannot parse duration "soon"/));
test('an unreachable endpoint names the URL', () =>
  expectRefusal(['run', '--problem', problemFile('vector_add')], /cannot reach model endpoint http:\/\/127\.0\.0\.1:9\/v1/, { OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' }));
test('list of an unknown kind', () => expectRefusal(['list', '--kind', 'searches'], /--kind must be search, campaign or audit; got "searches"/));
test('list of audits with a search filter', () => expectRefusal(['list', '--kind', 'audit', '--status', 'solved'], /--status lists searches only; it does not go with --kind audit/));
test('an unknown command', () => expectRefusal(['frobnicate'], /unknown command "frobnicate"/));
test('extend with a bad duration', () => expectRefusal(['extend', 'some-id', '-5m'], /./));

test('a port held by something that is not Temporal', async () => {
  const port = await freePort();
  const squatter = http.createServer((_req, res) => res.end('not temporal'));
  await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
  try {
    await expectRefusal(['dev', '--verifier', 'cpu'], new RegExp(`port ${port} is held by something that is not a Temporal server`), { KS_TEMPORAL_PORT: String(port) });
  } finally {
    squatter.close();
  }
});

test('nothing was started by the refused commands', async () => {
  const list = await env.cli(['list', '--json']);
  assert.equal(list.exitCode, 0, list.stderr);
  assert.deepEqual(JSON.parse(list.stdout), []);
  assert.equal(env.model.requests.length, 0);
});
