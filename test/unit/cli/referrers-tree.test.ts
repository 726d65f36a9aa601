// Golden tests of `vouch referrers --tree`'s rendering and of how engine answers become per-signature
// verdicts (fixed inputs, exact output). The end-to-end run is test/integration/referrers-tree.test.ts.

import test from 'ava';
import { parseReference, type Digest } from '../../../src/core/index.js';
import type { DiscoveredArtifact, ReferrerNode, ReferrerTree } from '../../../src/oci/index.js';
import { referrerVerdicts, type ReferrerVerdicts, type VerdictEngine } from '../../../src/cli/referrer-verdicts.js';
import { referrersJson, renderReferrersTree, type ReferrersReport } from '../../../src/cli/render.js';
import type { KeyResult, VerificationResult } from '../../../src/verify/index.js';

const d = (c: string) => `sha256:${c.repeat(64)}` as Digest;
const IMAGE = d('a');
const SIG_STAGING = d('b');
const SIG_PROD = d('c');
const SBOM = d('d');
const SBOM_SIG = d('e');
const COSIGN = d('f');
const NOTARY = 'application/vnd.cncf.notary.signature';

function node(
  kind: DiscoveredArtifact['kind'],
  digest: Digest,
  artifactType: string | undefined,
  referrers: ReferrerNode[] = [],
): ReferrerNode {
  const artifact = {
    kind,
    descriptor: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 700, ...(artifactType ? { artifactType } : {}) },
    via: kind === 'cosign-legacy' ? 'cosign-tag' : 'referrers-api',
  } as DiscoveredArtifact; // the manifest bytes are not rendered
  return { artifact, referrers };
}

const tree: ReferrerTree = {
  subject: IMAGE,
  referrers: [
    node('notation', SIG_STAGING, NOTARY),
    node('notation', SIG_PROD, NOTARY),
    node('other', SBOM, 'application/spdx+json', [node('notation', SBOM_SIG, NOTARY)]),
    node('cosign-legacy', COSIGN, undefined),
  ],
  skipped: [{ reference: d('9'), code: 'INVALID_INPUT', reason: 'DIGEST_MISMATCH', message: 'content does not match its digest' }],
};

const report: ReferrersReport = {
  reference: 'registry.example/shop/web:1.0',
  source: 'https://registry.example (shop/web)',
  subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: IMAGE, size: 460 },
  tree,
};

const STAGING_DN = 'CN=ci-staging, O=Acme Rockets';
const PROD_DN = 'CN=release, O=Acme Rockets';

/** What the engine answers per key, keyed by `[env]digest`; the engine records the keys it was asked. */
function fakeEngine(answers: Record<string, Omit<KeyResult, 'key'>>): VerdictEngine & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    verify: async (keys) => {
      asked.push(...keys);
      return keys.map((key) => {
        const [, env, digest] = /^\[(\w+)\]registry\.example\/shop\/web@(sha256:[0-9a-f]+)$/.exec(key)!;
        return { key, ...answers[`[${env}]${digest}`]! } as KeyResult;
      });
    },
  };
}

const result = (
  env: string,
  verified: boolean,
  signatures: VerificationResult['signatures'],
  reasons: VerificationResult['reasons'] = [],
) => ({
  value: { verified, environment: env, reference: 'x', signatures, reasons, warnings: [] } as VerificationResult,
});
const notation = (digest: Digest, verified: boolean, signer: string, code?: 'UNTRUSTED_SIGNER') => ({
  type: 'notation' as const,
  digest,
  verified,
  trustPolicy: 'p',
  level: 'strict',
  signer,
  reasons: code ? [{ code, message: `authenticity: ${code}` }] : [],
  warnings: [],
});

async function verdicts(): Promise<{ verdicts: ReferrerVerdicts; asked: string[] }> {
  const engine = fakeEngine({
    [`[prod]${IMAGE}`]: result('prod', true, [
      notation(SIG_STAGING, false, STAGING_DN, 'UNTRUSTED_SIGNER'),
      notation(SIG_PROD, true, PROD_DN),
    ]),
    [`[staging]${IMAGE}`]: result('staging', true, [notation(SIG_STAGING, true, STAGING_DN)]),
    [`[prod]${SBOM}`]: result('prod', true, [notation(SBOM_SIG, true, PROD_DN)]),
    [`[staging]${SBOM}`]: { error: { code: 'REGISTRY_UNAVAILABLE', reason: 'CONNECTION', message: 'connection refused' } },
  });
  const out = await referrerVerdicts(tree, {
    engine,
    reference: parseReference('registry.example/shop/web:1.0'),
    environments: ['prod', 'staging'],
    trusts: () => ({ notation: true, cosign: false }),
    deadline: 0,
  });
  return { verdicts: out, asked: engine.asked };
}

test('verdicts: the image and the SBOM (the artifacts with signatures) are asked of the engine, once per environment', async (t) => {
  const { asked } = await verdicts();
  t.deepEqual(asked, [
    `[prod]registry.example/shop/web@${IMAGE}`,
    `[staging]registry.example/shop/web@${IMAGE}`,
    `[prod]registry.example/shop/web@${SBOM}`,
    `[staging]registry.example/shop/web@${SBOM}`,
  ]);
});

test('render: a tree with verdicts per environment (golden)', async (t) => {
  const { verdicts: v } = await verdicts();
  t.is(
    renderReferrersTree(report, v),
    [
      'image    registry.example/shop/web:1.0',
      'source   https://registry.example (shop/web)',
      `digest   ${IMAGE} (application/vnd.oci.image.manifest.v1+json, 460 bytes)`,
      'found    5 referrer(s)',
      'verdict  prod: verified; staging: verified',
      '',
      'registry.example/shop/web:1.0',
      `├─ notation  ${NOTARY}  sha256:bbbbbbbbbbbb  referrers-api`,
      `│     prod:    UNTRUSTED_SIGNER (${STAGING_DN})`,
      `│     staging: verified (${STAGING_DN})`,
      `├─ notation  ${NOTARY}  sha256:cccccccccccc  referrers-api`,
      `│     prod:    verified (${PROD_DN})`,
      '│     staging: not evaluated: another signature already satisfied the policy',
      '├─ other  application/spdx+json  sha256:dddddddddddd  referrers-api',
      `│  └─ notation  ${NOTARY}  sha256:eeeeeeeeeeee  referrers-api`,
      `│        prod:    verified (${PROD_DN})`,
      '│        staging: undecided: REGISTRY_UNAVAILABLE (CONNECTION)',
      '└─ cosign-legacy  -  sha256:ffffffffffff  cosign-tag',
      '      prod:    not evaluated: environment "prod" has no cosign trust',
      '      staging: not evaluated: environment "staging" has no cosign trust',
      '',
      'skipped  sha256:999999999999  INVALID_INPUT (DIGEST_MISMATCH): content does not match its digest',
    ].join('\n'),
  );
});

test('render: without a config, no verdict lines; an image without referrers is the root alone', (t) => {
  t.is(
    renderReferrersTree({ ...report, tree: { subject: IMAGE, referrers: [node('notation', SIG_PROD, NOTARY)], skipped: [] } }),
    [
      'image    registry.example/shop/web:1.0',
      'source   https://registry.example (shop/web)',
      `digest   ${IMAGE} (application/vnd.oci.image.manifest.v1+json, 460 bytes)`,
      'found    1 referrer(s)',
      '',
      'registry.example/shop/web:1.0',
      `└─ notation  ${NOTARY}  sha256:cccccccccccc  referrers-api`,
    ].join('\n'),
  );
  t.true(
    renderReferrersTree({ ...report, tree: { subject: IMAGE, referrers: [], skipped: [] } }).endsWith(
      'found    0 referrer(s)\n\nregistry.example/shop/web:1.0',
    ),
  );
});

test('json: verdicts on the image, the SBOM and each signature node; none without a config', async (t) => {
  const { verdicts: v } = await verdicts();
  const json = referrersJson(report, v) as {
    environments: string[];
    verdicts: unknown[];
    referrers: Array<{
      descriptor: { digest: string };
      verdicts?: Array<{ environment: string; status: string; code?: string }>;
      referrers: Array<{ verdicts?: unknown[] }>;
    }>;
  };
  t.deepEqual(json.environments, ['prod', 'staging']);
  t.deepEqual(json.verdicts, [
    { environment: 'prod', status: 'verified', signer: PROD_DN },
    { environment: 'staging', status: 'verified', signer: STAGING_DN },
  ]);
  t.is(json.referrers[0]!.descriptor.digest, SIG_STAGING);
  t.deepEqual(json.referrers[0]!.verdicts, [
    {
      environment: 'prod',
      status: 'not-verified',
      signer: STAGING_DN,
      code: 'UNTRUSTED_SIGNER',
      message: 'authenticity: UNTRUSTED_SIGNER',
    },
    { environment: 'staging', status: 'verified', signer: STAGING_DN },
  ]);
  t.deepEqual(
    json.referrers[2]!.verdicts!.map((x) => [x.environment, x.status, x.code]),
    [
      ['prod', 'verified', undefined],
      ['staging', 'undecided', 'REGISTRY_UNAVAILABLE'],
    ],
  );
  t.deepEqual(json.referrers[2]!.referrers[0]!.verdicts, [
    { environment: 'prod', status: 'verified', signer: PROD_DN },
    { environment: 'staging', status: 'undecided', code: 'REGISTRY_UNAVAILABLE', reason: 'CONNECTION', message: 'connection refused' },
  ]);
  const plain = referrersJson(report) as Record<string, unknown>;
  t.false('verdicts' in plain || 'environments' in plain);
});

test('verdicts: a negative answer that never reached a signature gives the answer’s reason (no trust policy)', async (t) => {
  const engine = fakeEngine({
    [`[prod]${IMAGE}`]: result('prod', false, [], [{ code: 'NO_TRUST_POLICY', message: 'no trust policy statement applies' }]),
  });
  const out = await referrerVerdicts(
    { subject: IMAGE, referrers: [node('notation', SIG_PROD, NOTARY)], skipped: [] },
    {
      engine,
      reference: parseReference('registry.example/shop/web:1.0'),
      environments: ['prod'],
      trusts: () => ({ notation: true, cosign: true }),
      deadline: 0,
    },
  );
  t.deepEqual(out.signatures[SIG_PROD], [
    { environment: 'prod', status: 'not-verified', code: 'NO_TRUST_POLICY', message: 'no trust policy statement applies' },
  ]);
});
