// Decision cases for the compiled shared decision (rego/decision): input and the violations expected, as
// "image CODE". Used by decision-parity.test.ts (opa eval vs WASM) and decision-schema.test.ts (JSON Schemas).
const API = 'ghcr.io/acme/api:1.4';
const WORKER = 'ghcr.io/acme/worker@sha256:9b2e4c0d3f7a1b6e8d5c2a9f0e3b7d1c4a6f8e2b5d9c0a3f7e1b4d8c2a6f9e0b';
const PAUSE = 'registry.k8s.io/pause:3.9';
const params = { namespaceEnvironments: { payments: 'prod' }, exemptImages: ['registry.k8s.io/*'] };

const verified = (image: string) => ({
  verified: true,
  environment: 'prod',
  reference: image,
  digest: 'sha256:4d2c',
  trustPolicy: 'prod-images',
  signatures: [{ type: 'notation', verified: true, signer: 'CN=release, O=Acme', signingTime: '2026-01-01T00:00:00Z', reasons: [] }],
  reasons: [],
  warnings: [],
});

const denied = (code: string, message: string, signers: string[] = []) => ({
  verified: false,
  environment: 'prod',
  reference: API,
  signatures: signers.map((signer) => ({ type: 'notation', verified: false, signer, reasons: [{ code, message }] })),
  reasons: [{ code, message, check: code === 'EXPIRED' ? 'expiry' : undefined, detail: message }],
});

const pod = (containers: Record<string, Array<{ name: string; image: string }>>) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'api', namespace: 'payments' },
  spec: containers,
});

export interface DecisionCase {
  name: string;
  input: Record<string, unknown>;
  expect: string[];
}

export const decisionCases: DecisionCase[] = [
  {
    name: 'allowed',
    input: {
      object: pod({ containers: [{ name: 'app', image: API }] }),
      parameters: params,
      responses: { [`[prod]${API}`]: verified(API) },
    },
    expect: [],
  },
  {
    name: 'unsigned',
    input: {
      object: pod({ containers: [{ name: 'app', image: API }] }),
      parameters: params,
      responses: { [`[prod]${API}`]: denied('NO_SIGNATURE', 'no Notary Project signature refers to sha256:4d2c') },
    },
    expect: [`${API} NO_SIGNATURE`],
  },
  {
    name: 'untrusted with several signers',
    input: {
      object: pod({ containers: [{ name: 'app', image: API }] }),
      parameters: params,
      responses: { [`[prod]${API}`]: denied('UNTRUSTED_SIGNER', 'no trusted signer', ['CN=b', 'CN=a "quoted"', 'CN=c\\d', 'CN=é\u0001']) },
    },
    expect: [`${API} UNTRUSTED_SIGNER`],
  },
  {
    name: 'expired',
    input: {
      object: pod({ containers: [{ name: 'app', image: API }] }),
      parameters: params,
      responses: { [`[prod]${API}`]: denied('EXPIRED', 'the signature expired', ['CN=release']) },
    },
    expect: [`${API} EXPIRED`],
  },
  {
    name: 'undecided errors (gRPC object, HTTP string)',
    input: {
      object: pod({
        containers: [
          { name: 'app', image: API },
          { name: 'worker', image: WORKER },
        ],
      }),
      parameters: params,
      responses: {
        [`[prod]${API}`]: { verified: false, error: { code: 'REGISTRY_UNAVAILABLE', message: 'connection refused' } },
        [`[prod]${WORKER}`]: { error: 'REGISTRY_NOT_ALLOWED: registry ghcr.io is not allowed' },
      },
    },
    expect: [`${API} REGISTRY_UNAVAILABLE`, `${WORKER} REGISTRY_NOT_ALLOWED`],
  },
  {
    name: 'systemError with undecided keys',
    input: {
      object: pod({
        containers: [
          { name: 'app', image: API },
          { name: 'worker', image: WORKER },
        ],
      }),
      parameters: params,
      responses: { [`[prod]${WORKER}`]: verified(WORKER) },
      systemError: JSON.stringify({
        message: 'vouch could not decide 1 key',
        undecided: [{ key: `[prod]${API}`, error: 'DEADLINE_EXCEEDED: later' }],
      }),
    },
    expect: [`${API} DEADLINE_EXCEEDED`],
  },
  {
    name: 'systemError: a plugin gave no usable answer (PLUGIN_ERROR is a known, undecided code)',
    input: {
      object: pod({ containers: [{ name: 'app', image: API }] }),
      parameters: params,
      responses: {},
      systemError: JSON.stringify({
        message: 'vouch could not decide 1 key',
        undecided: [{ key: `[prod]${API}`, error: 'PLUGIN_ERROR: plugin com.example.kms: verify-signature timed out' }],
      }),
    },
    expect: [`${API} PLUGIN_ERROR`],
  },
  {
    name: 'exempt, mixed, init and ephemeral containers',
    input: {
      object: pod({
        initContainers: [{ name: 'init', image: PAUSE }],
        containers: [{ name: 'app', image: API }],
        ephemeralContainers: [{ name: 'debug', image: WORKER }],
      }),
      parameters: params,
      responses: { [`[prod]${API}`]: verified(API), [`[prod]${WORKER}`]: denied('NO_SIGNATURE', 'none') },
    },
    expect: [`${WORKER} NO_SIGNATURE`],
  },
  {
    name: 'Deployment template, environment from namespace labels',
    input: {
      object: {
        kind: 'Deployment',
        metadata: { name: 'api' },
        spec: { template: { spec: { containers: [{ name: 'app', image: API }] } } },
      },
      parameters: { environmentLabel: 'vouch.dev/env' },
      namespace: 'shop',
      namespaceLabels: { 'vouch.dev/env': 'staging' },
      responses: { [`[staging]${API}`]: denied('NO_TRUST_POLICY', 'no statement applies') },
    },
    expect: [`${API} NO_TRUST_POLICY`],
  },
  {
    name: 'CronJob template',
    input: {
      object: {
        kind: 'CronJob',
        metadata: { name: 'nightly', namespace: 'payments' },
        spec: {
          jobTemplate: {
            spec: { template: { spec: { initContainers: [{ name: 'i', image: WORKER }], containers: [{ name: 'c', image: API }] } } },
          },
        },
      },
      parameters: params,
      responses: { [`[prod]${API}`]: verified(API) },
    },
    expect: [`${WORKER} NO_ANSWER`],
  },
  {
    name: 'missing environment (default environment, bare keys)',
    input: {
      object: pod({ containers: [{ name: 'app', image: API }] }),
      responses: { [API]: denied('REVOKED', 'certificate revoked', ['CN=x']) },
    },
    expect: [`${API} REVOKED`],
  },
  {
    name: 'other systemError denies every image',
    input: {
      object: pod({ containers: [{ name: 'app', image: API }] }),
      parameters: params,
      responses: {},
      systemError: 'connection refused',
    },
    expect: [`${API} SYSTEM_ERROR`],
  },
  {
    name: 'malformed responses',
    input: {
      object: pod({
        containers: [
          { name: 'app', image: API },
          { name: 7 as unknown as string, image: WORKER },
        ],
      }),
      parameters: { ...params, exemptImages: 'not a list' },
      responses: { [`[prod]${API}`]: { verified: 'true', reasons: 'none' }, [`[prod]${WORKER}`]: [1, { a: 2 }] },
    },
    expect: [`${API} NOT_VERIFIED`, `${WORKER} NOT_VERIFIED`],
  },
  {
    name: 'malformed input',
    input: { object: { kind: 'Pod', spec: { containers: 'x' } }, parameters: [1], responses: 'x', systemError: 5, namespaceLabels: 'x' },
    expect: [],
  },
  { name: 'empty input', input: {}, expect: [] },
];
