// The shipped environment decision policies (examples/environment-policies, docs/policies.md): their
// own `opa test` suites pass with the real OPA, they are `opa check --strict` and regal clean, and
// parity: the same inputs through `opa eval` on the Rego and through the WASM vouch compiles from it
// (src/policy in Node) give identical decisions.
import test from 'ava';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadPolicyFile } from '../../src/policy/index.js';
import { decisionPolicyOf } from '../../src/verify/index.js';
import { countRegoTests, regalViolations } from '../helpers/rego-checks.js';
import { REPO_ROOT, toolPath } from '../helpers/registries.js';

const run = promisify(execFile);
const DIR = join(REPO_ROOT, 'examples', 'environment-policies');
const DIGEST = 'sha256:9b2e4c0d3f7a1b6e8d5c2a9f0e3b7d1c4a6f8e2b5d9c0a3f7e1b4d8c2a6f9e0b';
const DAY_MS = 86_400_000;

test('environment policies: opa test passes every test of the examples', async (t) => {
  const expected = await countRegoTests(DIR);
  t.true(expected >= 15, 'the examples lost their tests');
  const { stdout } = await run(toolPath('opa'), ['test', DIR], { cwd: REPO_ROOT, timeout: 60_000 });
  t.is(stdout.trim(), `PASS: ${expected}/${expected}`);
});

test('environment policies: opa check --strict and a clean regal lint', async (t) => {
  await run(toolPath('opa'), ['check', '--strict', DIR], { cwd: REPO_ROOT, timeout: 60_000 });
  t.deepEqual(await regalViolations(['examples/environment-policies']), []);
});

// ---- parity ---------------------------------------------------------------------------------------

const signature = (signer: string, verified: boolean, ageDays: number, extra: Record<string, unknown> = {}) => ({
  type: 'notation',
  digest: `sha256:${String(ageDays).padStart(64, '0')}`,
  verified,
  trustPolicy: 'prod-images',
  level: 'strict',
  signer,
  signingTime: new Date(Date.now() - ageDays * DAY_MS).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  signingTimeUnix: Math.floor((Date.now() - ageDays * DAY_MS) / 1000),
  reasons: verified ? [] : [{ code: 'UNTRUSTED_SIGNER', message: 'authenticity: not trusted', check: 'authenticity' }],
  ...extra,
});

const cosignSignature = (verified: boolean) => ({
  type: 'cosign',
  digest: `sha256:${'c'.repeat(64)}`,
  verified,
  ...(verified ? { signer: `sha256:${'d'.repeat(64)}` } : {}),
  reasons: verified
    ? []
    : [{ code: 'UNTRUSTED_SIGNER', message: 'the signature does not verify with any of the 1 configured cosign key(s)' }],
});

const input = (signatures: unknown[], more: Record<string, unknown> = {}) => ({
  environment: 'prod',
  reference: `ghcr.io/acme/api@${DIGEST}`,
  digest: DIGEST,
  verified: signatures.some((s) => (s as { verified: boolean }).verified),
  trustPolicy: 'prod-images',
  signatures,
  ...more,
});

const sbom = (artifactType: string, signed: boolean) => ({
  artifactType,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: DIGEST,
  size: 512,
  annotations: {},
  signed,
});

// Ages are days away from the 90-day limit, so the seconds between opa eval and the WASM run cannot matter.
const CASES: Record<string, unknown[]> = {
  two_signers: [
    input([]),
    input([signature('CN=ci,O=Acme', true, 1)]),
    input([signature('CN=ci,O=Acme', true, 1), signature('CN=ci,O=Acme', true, 2)]),
    input([signature('CN=ci,O=Acme', true, 1), signature('CN=release,O=Acme', true, 2)]),
    input([signature('CN=ci,O=Acme', true, 1), signature('CN=mallory,O=Evil', false, 2)]),
    input([signature('CN=a', true, 1), signature('CN=b', true, 1), signature('CN=c', true, 1)]),
    {},
  ],
  recent_signature: [
    input([]),
    input([signature('CN=ci,O=Acme', true, 1)]),
    input([signature('CN=ci,O=Acme', true, 200)]),
    input([signature('CN=ci,O=Acme', true, 200), signature('CN=ci,O=Acme', true, 3)]),
    input([signature('CN=ci,O=Acme', false, 3)]),
    input([
      signature('CN=ci,O=Acme', true, 1, {
        timestamp: {
          time: '2025-01-01T00:00:00Z',
          earliest: '2024-12-31T23:59:59Z',
          latest: '2025-01-01T00:00:01Z',
          timeUnix: 1735689600,
          earliestUnix: 1735689599,
          latestUnix: 1735689601,
        },
      }),
    ]),
  ],
  notation_and_cosign: [
    input([signature('CN=ci,O=Acme', true, 1), cosignSignature(true)]),
    input([signature('CN=ci,O=Acme', true, 1)]),
    input([signature('CN=ci,O=Acme', true, 1), cosignSignature(false)]),
    input([cosignSignature(true)]),
    input([]),
  ],
  signed_sbom: [
    input([signature('CN=ci,O=Acme', true, 1)], { referrers: [sbom('application/spdx+json', true)] }),
    input([signature('CN=ci,O=Acme', true, 1)], { referrers: [sbom('application/spdx+json', false)] }),
    input([signature('CN=ci,O=Acme', true, 1)], { referrers: [sbom('application/vnd.example+json', true)] }),
    input([signature('CN=ci,O=Acme', true, 1)], { referrers: [] }),
    input([signature('CN=ci,O=Acme', true, 1)]),
    input([], { referrers: [sbom('application/vnd.cyclonedx+json', true)] }),
  ],
};

async function opaEval(file: string, query: string, value: unknown): Promise<unknown> {
  const child = run(toolPath('opa'), ['eval', '--format', 'json', '--stdin-input', '--data', file, query], {
    cwd: REPO_ROOT,
    timeout: 60_000,
  });
  child.child.stdin?.end(JSON.stringify(value));
  const { stdout } = await child;
  const result = JSON.parse(stdout) as { result?: Array<{ expressions: Array<{ value: unknown }> }> };
  return result.result?.[0]?.expressions[0]?.value;
}

for (const [name, inputs] of Object.entries(CASES)) {
  test(`environment policies: ${name} decides alike through opa eval and through the WASM in Node`, async (t) => {
    const file = join(DIR, `${name}.rego`);
    const wasm = await loadPolicyFile(file, { opaPath: toolPath('opa') });
    try {
      const policy = decisionPolicyOf(wasm, file);
      t.is(policy.entrypoint, `vouch/examples/${name}/decision`);
      t.is(policy.inputs.has('referrers'), name === 'signed_sbom');
      const query = `data.${policy.entrypoint.replaceAll('/', '.')}`;
      const allows = new Set<boolean>();
      for (const value of inputs) {
        const viaOpa = await opaEval(file, query, value);
        const viaWasm = await wasm.evaluate(policy.entrypoint, value);
        t.deepEqual(viaWasm, viaOpa, JSON.stringify(value));
        allows.add((viaOpa as { allow: boolean }).allow);
      }
      t.deepEqual([...allows].sort(), [false, true], 'the cases cover both decisions');
    } finally {
      await wasm.close();
    }
  });
}
