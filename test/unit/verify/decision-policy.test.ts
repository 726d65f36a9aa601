// The decision policy convention (src/verify/decision-policy.ts, docs/policies.md): which entrypoint
// is asked, what an answer must look like, how it becomes the VerificationResult. Policies are real
// Rego compiled with the real opa into WASM and run by src/policy.
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VouchError, parseDigest } from '../../../src/core/index.js';
import type { NotationSignatureReport } from '../../../src/notation/index.js';
import { loadPolicyFile } from '../../../src/policy/index.js';
import {
  DECISION_ENTRYPOINT,
  MAX_POLICY_REASONS,
  applyDecision,
  decisionPolicyOf,
  evaluateDecision,
  parseDecision,
  type VerificationResult,
} from '../../../src/verify/index.js';
import { policyInput } from '../../../src/verify/decision-policy.js';
import { toolPath } from '../../helpers/registries.js';

const AT = { file: '/etc/vouch/p.rego', entrypoint: DECISION_ENTRYPOINT };

let dir: string;
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vouch-decision-'));
});
test.after.always(() => rm(dir, { recursive: true, force: true }));

async function withPolicy(name: string, rego: string, fn: (file: string) => Promise<void>): Promise<void> {
  const file = join(dir, `${name}.rego`);
  await writeFile(file, rego);
  await fn(file);
}

function policyError(t: import('ava').ExecutionContext, fn: () => unknown, reason: string): void {
  const error = t.throws(fn, { instanceOf: VouchError });
  t.is(error?.code, 'POLICY_ERROR');
  t.is(error?.reason, reason as VouchError['reason']);
}

test('parseDecision: allow, and a denial whose reasons keep public answer codes and get POLICY_DENIED otherwise', (t) => {
  t.deepEqual(parseDecision({ allow: true, reasons: [{ message: 'ignored' }] }, AT), { allow: true, reasons: [] });
  t.deepEqual(
    parseDecision(
      {
        allow: false,
        reasons: [
          { code: 'NO_SIGNATURE', message: 'a' },
          { code: 'MADE_UP', message: 'b' },
          { message: 'c' },
          { code: 'NOT_FOUND', message: 'd' },
        ],
      },
      AT,
    ).reasons.map((r) => [r.code, r.message]),
    [
      ['NO_SIGNATURE', 'a'],
      ['POLICY_DENIED', 'b'],
      ['POLICY_DENIED', 'c'],
      ['POLICY_DENIED', 'd'],
    ],
  );
  t.deepEqual(
    parseDecision({ allow: false }, AT).reasons.map((r) => r.code),
    ['POLICY_DENIED'],
  );
  const many = parseDecision({ allow: false, reasons: Array.from({ length: 40 }, () => ({ message: 'x'.repeat(5000) })) }, AT);
  t.is(many.reasons.length, MAX_POLICY_REASONS);
  t.true(many.reasons[0]!.message.length <= 1025);
});

test('parseDecision: anything else is POLICY_ERROR / BAD_OUTPUT', (t) => {
  for (const value of [
    undefined,
    null,
    true,
    [],
    'allow',
    {},
    { allow: 'yes' },
    { allow: false, reasons: 'no' },
    { allow: false, reasons: [{}] },
    { allow: false, reasons: [{ message: 'm', code: 3 }] },
  ]) {
    policyError(t, () => parseDecision(value, AT), 'BAD_OUTPUT');
  }
});

test('applyDecision: allowed leaves the verified result as it is; denied puts the policy first and keeps the trust policy findings', (t) => {
  const result: VerificationResult = {
    verified: false,
    environment: 'prod',
    reference: 'r',
    digest: 'sha256:00',
    signatures: [],
    reasons: [{ code: 'NO_SIGNATURE', message: 'none' }],
    warnings: [],
  };
  const verified: VerificationResult = { ...result, verified: true, reasons: [] };
  t.is(applyDecision(verified, { allow: true, reasons: [] }), verified);
  const denied = applyDecision(
    { ...result, verified: true, reasons: [] },
    parseDecision({ allow: false, reasons: [{ message: 'two needed' }] }, AT),
  );
  t.false(denied.verified);
  t.deepEqual(denied.reasons, [{ code: 'POLICY_DENIED', message: 'two needed (environment prod)', detail: 'two needed' }]);
  t.deepEqual(
    applyDecision(result, parseDecision({ allow: false }, AT)).reasons.map((r) => r.code),
    ['POLICY_DENIED', 'NO_SIGNATURE'],
  );
});

test('decisionPolicyOf: vouch/environment/decision among several, the single entrypoint, and what it asks for', async (t) => {
  await withPolicy(
    'named',
    `package vouch.environment

# METADATA
# entrypoint: true
decision := {"allow": true}

# METADATA
# entrypoint: true
other := 1
`,
    async (file) => {
      const wasm = await loadPolicyFile(file, { opaPath: toolPath('opa') });
      try {
        const policy = decisionPolicyOf(wasm, file);
        t.is(policy.entrypoint, DECISION_ENTRYPOINT);
        t.is(policy.inputs.size, 0);
        t.deepEqual(await evaluateDecision(policy, {}), { allow: true, reasons: [] });
      } finally {
        await wasm.close();
      }
    },
  );
  await withPolicy(
    'ambiguous',
    `package acme

# METADATA
# entrypoint: true
a := {"allow": true}

# METADATA
# entrypoint: true
b := {"allow": true}
`,
    async (file) => {
      const wasm = await loadPolicyFile(file, { opaPath: toolPath('opa') });
      try {
        policyError(t, () => decisionPolicyOf(wasm, file), 'LOAD_FAILED');
      } finally {
        await wasm.close();
      }
    },
  );
  await withPolicy(
    'unknown_input',
    `package acme

# METADATA
# entrypoint: true
# custom:
#   vouch:
#     input: [referers]
decision := {"allow": true}
`,
    async (file) => {
      const wasm = await loadPolicyFile(file, { opaPath: toolPath('opa') });
      try {
        policyError(t, () => decisionPolicyOf(wasm, file), 'LOAD_FAILED');
      } finally {
        await wasm.close();
      }
    },
  );
});

test('evaluateDecision: malformed answers and undefined rules are POLICY_ERROR naming the file', async (t) => {
  await withPolicy(
    'malformed',
    `package acme

# METADATA
# entrypoint: true
decision := {"allow": "yes"} if input.kind == "string"

decision := {"allow": false, "reasons": [{"message": sprintf("%v", [input.kind])}]} if input.kind == "ok"
`,
    async (file) => {
      const wasm = await loadPolicyFile(file, { opaPath: toolPath('opa') });
      try {
        const policy = decisionPolicyOf(wasm, file);
        for (const input of [{ kind: 'string' }, { kind: 'undefined' }]) {
          const error = await t.throwsAsync(evaluateDecision(policy, input), { instanceOf: VouchError });
          t.is(error?.code, 'POLICY_ERROR');
          t.is(error?.reason, 'BAD_OUTPUT');
          t.true(error?.message.includes(file));
        }
        t.deepEqual((await evaluateDecision(policy, { kind: 'ok' })).reasons[0]?.message, 'ok');
      } finally {
        await wasm.close();
      }
    },
  );
});

test('policyInput: a signature a verification plugin decided carries the plugin, so a policy can demand one', (t) => {
  const digest = `sha256:${'a'.repeat(64)}`;
  const report = (plugin?: { name: string; version: string; checks: Array<'authenticity' | 'revocation'> }): NotationSignatureReport => ({
    digest: parseDigest(`sha256:${(plugin ? 'b' : 'c').repeat(64)}`),
    verified: true,
    trustPolicy: 'prod',
    level: 'strict',
    signer: 'CN=release',
    checks: [],
    reasons: [],
    warnings: [],
    ...(plugin ? { plugin } : {}),
  });
  const input = policyInput(
    { verified: true, environment: 'prod', reference: `r.example/app@${digest}`, digest, signatures: [], reasons: [], warnings: [] },
    {
      verified: true,
      trustPolicy: 'prod',
      skippedByPolicy: false,
      signatures: [report({ name: 'com.example.kms', version: '1.4.0', checks: ['authenticity'] }), report()],
      reasons: [],
    },
  );
  const [viaPlugin, plain] = input.signatures;
  t.deepEqual(viaPlugin?.type === 'notation' ? viaPlugin.plugin : 'missing', {
    name: 'com.example.kms',
    version: '1.4.0',
    checks: ['authenticity'],
  });
  t.false(plain !== undefined && 'plugin' in plain);
});
