// `vouch policy eval` (docs/api.md "Commands", docs/policies.md "Trying a policy"): the environment's
// policy (a .rego compiled with the real opa found on the PATH, and a bundle built by opa) runs on an
// input document; the decision prints as a table or JSON with exit 0; errors exit 2.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { main } from '../../../src/cli/main.js';
import { REPO_ROOT, toolPath } from '../../helpers/registries.js';
import { writeTrustMaterial } from '../../helpers/trust-material.js';

const run = promisify(execFile);
const TWO_SIGNERS = join(REPO_ROOT, 'examples', 'environment-policies', 'two_signers.rego');

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s) }, out, err };
}

let dir: string;
let config: string;
/** The same environments with a 50 ms policy time limit. */
let shortLimit: string;

// A decision that takes seconds (3000^3 candidate triples, none matching).
const SLOW = `package slow

range := numbers.range(1, 3000)

slow if {
	some a in range
	some b in range
	some c in range
	a > b
	b > c
	c > a
}

# METADATA
# entrypoint: true
decision := {"allow": true} if slow else := {"allow": false, "reasons": [{"message": "not slow"}]}
`;
const signature = (signer: string) => ({
  type: 'notation',
  digest: 'sha256:00',
  verified: true,
  trustPolicy: 'all',
  level: 'strict',
  signer,
  reasons: [],
});

test.before(async () => {
  // `.rego` policies are compiled with the opa on the PATH (no opaPath is configured).
  process.env['PATH'] = `${dirname(toolPath('opa'))}${delimiter}${process.env['PATH'] ?? ''}`;
  dir = await mkdtemp(join(tmpdir(), 'vouch-policy-cli-'));
  await writeTrustMaterial(dir);
  await run(toolPath('opa'), ['build', '-t', 'wasm', '-o', join(dir, 'two.tar.gz'), TWO_SIGNERS], { timeout: 60_000 });
  await writeFile(join(dir, 'slow.rego'), SLOW);
  const environments = [
    'defaultEnvironment: rego',
    'environments:',
    `  rego: { trustPolicy: policy.json, trustStore: store, policy: ${JSON.stringify(TWO_SIGNERS)} }`,
    '  bundle: { trustPolicy: policy.json, trustStore: store, policy: two.tar.gz }',
    '  plain: { trustPolicy: policy.json, trustStore: store }',
    '  slow: { trustPolicy: policy.json, trustStore: store, policy: slow.rego }',
    '',
  ];
  config = join(dir, 'vouch.yaml');
  await writeFile(config, environments.join('\n'));
  shortLimit = join(dir, 'short.yaml');
  await writeFile(shortLimit, [...environments, 'limits: { policyTimeoutMs: 50 }', ''].join('\n'));
  await writeFile(join(dir, 'one.json'), JSON.stringify({ environment: 'prod', verified: true, signatures: [signature('CN=a')] }));
  await writeFile(
    join(dir, 'two.json'),
    JSON.stringify({ environment: 'prod', verified: true, signatures: [signature('CN=a'), signature('CN=b')] }),
  );
  await writeFile(join(dir, 'broken.json'), '{"signatures": [');
});
test.after.always(() => rm(dir, { recursive: true, force: true }));

for (const env of ['rego', 'bundle']) {
  test(`policy eval (${env}): a denial and an allow, as JSON and as a table, exit 0`, async (t) => {
    const denied = capture();
    t.is(
      await main(['policy', 'eval', '--config', config, '--env', env, '--input', join(dir, 'one.json'), '--output', 'json'], denied.io),
      0,
    );
    t.like(JSON.parse(denied.out.join('\n')), {
      environment: env,
      entrypoint: 'vouch/examples/two_signers/decision',
      allow: false,
      reasons: [{ code: 'POLICY_DENIED', message: 'signatures from 1 distinct trusted signers verify, 2 are required' }],
    });
    const allowed = capture();
    t.is(await main(['policy', 'eval', '--config', config, '--env', env, '--input', join(dir, 'two.json')], allowed.io), 0);
    t.regex(allowed.out.join('\n'), /^decision\s+allow$/m);
  });
}

test('policy eval: errors exit 2 (no policy, unknown environment, unreadable input, usage)', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--env', 'plain', '--input', join(dir, 'one.json')], /INVALID_CONFIG: environment "plain" has no policy/],
    [['--env', 'qa', '--input', join(dir, 'one.json')], /UNKNOWN_ENVIRONMENT/],
    [['--env', 'rego', '--input', join(dir, 'broken.json')], /INVALID_INPUT: the input .* is not JSON/],
    [['--env', 'rego', '--input', join(dir, 'missing.json')], /INVALID_INPUT: cannot read the input/],
    [['--env', 'rego'], /--input is required/],
    [['--input', join(dir, 'one.json')], /--env is required/],
  ];
  for (const [args, message] of cases) {
    const c = capture();
    t.is(await main(['policy', 'eval', '--config', config, ...args], c.io), 2, args.join(' '));
    t.regex(c.err.join('\n'), message);
  }
});

test('policy eval: --input - reads the input document from stdin', async (t) => {
  const text = JSON.stringify({ environment: 'prod', verified: true, signatures: [signature('CN=a'), signature('CN=b')] });
  const piped = capture();
  const stdin = Readable.from([Buffer.from(text.slice(0, 10)), text.slice(10)]);
  t.is(await main(['policy', 'eval', '--config', config, '--env', 'rego', '--input', '-', '--output', 'json'], { ...piped.io, stdin }), 0);
  t.like(JSON.parse(piped.out.join('\n')), { environment: 'rego', allow: true, reasons: [] });

  const broken = capture();
  const brokenIn = Readable.from(['{"signatures": [']);
  t.is(await main(['policy', 'eval', '--config', config, '--env', 'rego', '--input', '-'], { ...broken.io, stdin: brokenIn }), 2);
  t.regex(broken.err.join('\n'), /INVALID_INPUT: the input - is not JSON/);

  const large = capture();
  const largeIn = Readable.from([Buffer.alloc(3 * 1024 * 1024, 0x20), Buffer.alloc(3 * 1024 * 1024, 0x20)]);
  t.is(await main(['policy', 'eval', '--config', config, '--env', 'rego', '--input', '-'], { ...large.io, stdin: largeIn }), 2);
  t.regex(large.err.join('\n'), /INVALID_INPUT: the input - is larger than 4194304 bytes/);
});

test('policy eval: limits.policyTimeoutMs bounds the evaluation (POLICY_ERROR, exit 2)', async (t) => {
  const input = join(dir, 'one.json');
  const started = Date.now();
  const c = capture();
  t.is(await main(['policy', 'eval', '--config', shortLimit, '--env', 'slow', '--input', input], c.io), 2);
  t.regex(c.err.join('\n'), /POLICY_ERROR: .*slow\.rego: slow\/decision: evaluation took longer than 50 ms/);
  t.true(Date.now() - started < 20_000);
});
