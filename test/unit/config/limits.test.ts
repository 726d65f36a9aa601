// `limits:` (extension): the bounds on background work and policy evaluation, validated like `cache:` (integers in range,
// unknown keys refused with the path of the key).

import test from 'ava';
import { VouchError } from '../../../src/core/index.js';
import { DEFAULT_LIMITS, parseConfig } from '../../../src/config/index.js';

const REGISTRY_REQUESTS = { maxInFlight: 16, maxRetries: 3, maxRetryAfterMs: 30_000, maxRetryWaitMs: 10_000 };

const FILE = '/etc/vouch/config.yaml';
const MINIMAL = `
environments:
  prod:
    trustPolicy: trustpolicy.json
    trustStore: truststore
`;

function rejects(t: import('ava').ExecutionContext, text: string, path: string, what: RegExp): void {
  const error = t.throws(() => parseConfig(text, FILE, { env: {} }), { instanceOf: VouchError });
  t.is(error?.code, 'INVALID_CONFIG');
  const start = `${FILE}:`;
  const line = error?.message.split('\n').find((l) => l.startsWith(start) && /^[^ ]+:\d+:\d+: /.test(l) && l.includes(`: ${path}: `));
  t.true(line !== undefined, `expected a line ${FILE}:L:C: ${path}: …, got: ${error?.message}`);
  t.regex(line ?? '', what);
}

test('limits: defaults when absent', (t) => {
  const config = parseConfig(MINIMAL, FILE, { env: {} });
  t.deepEqual(config.limits, { ...DEFAULT_LIMITS });
  t.deepEqual(config.limits, {
    concurrencyPerRegistry: 8,
    maxConcurrent: 64,
    maxPendingPerRegistry: 256,
    maxPending: 2048,
    policyTimeoutMs: 500,
    registryRequests: REGISTRY_REQUESTS,
  });
});

test('limits: every key can be set; the others keep their defaults', (t) => {
  const all = parseConfig(
    `${MINIMAL}limits:\n  concurrencyPerRegistry: 4\n  maxConcurrent: 32\n  maxPendingPerRegistry: 64\n  maxPending: 512\n  policyTimeoutMs: 2000\n`,
    FILE,
    { env: {} },
  );
  t.deepEqual(all.limits, {
    concurrencyPerRegistry: 4,
    maxConcurrent: 32,
    maxPendingPerRegistry: 64,
    maxPending: 512,
    policyTimeoutMs: 2000,
    registryRequests: REGISTRY_REQUESTS,
  });
  const one = parseConfig(`${MINIMAL}limits: { maxPending: 100000 }\n`, FILE, { env: {} });
  t.deepEqual(one.limits, {
    concurrencyPerRegistry: 8,
    maxConcurrent: 64,
    maxPendingPerRegistry: 256,
    maxPending: 100_000,
    policyTimeoutMs: 500,
    registryRequests: REGISTRY_REQUESTS,
  });
  const bounds = parseConfig(`${MINIMAL}limits: { maxConcurrent: 1 }\n`, FILE, { env: {} });
  t.is(bounds.limits.maxConcurrent, 1);
  t.is(parseConfig(`${MINIMAL}limits: { maxConcurrent: 4096 }\n`, FILE, { env: {} }).limits.maxConcurrent, 4096);
  for (const ms of [1, 10_000]) {
    t.is(parseConfig(`${MINIMAL}limits: { policyTimeoutMs: ${ms} }\n`, FILE, { env: {} }).limits.policyTimeoutMs, ms);
  }
  const empty = parseConfig(`${MINIMAL}limits: {}\n`, FILE, { env: {} });
  t.deepEqual(empty.limits, { ...DEFAULT_LIMITS });
});

test('limits: registryRequests (429 pacing and retries) can be set key by key', (t) => {
  const all = parseConfig(
    `${MINIMAL}limits:\n  registryRequests:\n    maxInFlight: 4\n    maxRetries: 0\n    maxRetryAfterMs: 5000\n    maxRetryWaitMs: 1000\n`,
    FILE,
    { env: {} },
  );
  t.deepEqual(all.limits.registryRequests, { maxInFlight: 4, maxRetries: 0, maxRetryAfterMs: 5000, maxRetryWaitMs: 1000 });
  const one = parseConfig(`${MINIMAL}limits: { registryRequests: { maxRetries: 10 } }\n`, FILE, { env: {} });
  t.deepEqual(one.limits.registryRequests, { ...REGISTRY_REQUESTS, maxRetries: 10 });
  t.is(one.limits.maxPending, 2048);
});

const invalid: Array<[string, string, string, RegExp]> = [
  ['unknown key', 'limits: { maxpending: 1 }', 'limits.maxpending', /unknown key \(did you mean maxPending\?\)/],
  ['not a mapping', 'limits: 5', 'limits', /expected a mapping, got the number 5/],
  ['no value', 'limits:\n  maxPending:', 'limits.maxPending', /has no value/],
  ['zero', 'limits: { maxPending: 0 }', 'limits.maxPending', /must be from 1 to 1000000, got 0/],
  ['negative', 'limits: { maxPendingPerRegistry: -1 }', 'limits.maxPendingPerRegistry', /must be from 1 to 1000000/],
  ['too big', 'limits: { maxPending: 1000001 }', 'limits.maxPending', /must be from 1 to 1000000/],
  ['concurrency too big', 'limits: { concurrencyPerRegistry: 257 }', 'limits.concurrencyPerRegistry', /must be from 1 to 256/],
  ['fraction', 'limits: { concurrencyPerRegistry: 2.5 }', 'limits.concurrencyPerRegistry', /expected an integer from 1 to 256/],
  ['string', 'limits: { maxPending: "2048" }', 'limits.maxPending', /expected an integer from 1 to 1000000, got the string "2048"/],
  ['maxConcurrent zero', 'limits: { maxConcurrent: 0 }', 'limits.maxConcurrent', /must be from 1 to 4096, got 0/],
  ['maxConcurrent too big', 'limits: { maxConcurrent: 4097 }', 'limits.maxConcurrent', /must be from 1 to 4096, got 4097/],
  ['maxConcurrent fraction', 'limits: { maxConcurrent: 1.5 }', 'limits.maxConcurrent', /expected an integer from 1 to 4096/],
  ['policyTimeoutMs zero', 'limits: { policyTimeoutMs: 0 }', 'limits.policyTimeoutMs', /must be from 1 to 10000, got 0/],
  ['policyTimeoutMs too big', 'limits: { policyTimeoutMs: 10001 }', 'limits.policyTimeoutMs', /must be from 1 to 10000, got 10001/],
  ['policyTimeoutMs fraction', 'limits: { policyTimeoutMs: 2.5 }', 'limits.policyTimeoutMs', /expected an integer from 1 to 10000/],
  [
    'policyTimeoutMs misspelt',
    'limits: { policyTimeOutMs: 10 }',
    'limits.policyTimeOutMs',
    /unknown key \(did you mean policyTimeoutMs\?\)/,
  ],
  [
    'maxInFlight zero',
    'limits: { registryRequests: { maxInFlight: 0 } }',
    'limits.registryRequests.maxInFlight',
    /must be from 1 to 1024, got 0/,
  ],
  [
    'maxRetries too big',
    'limits: { registryRequests: { maxRetries: 11 } }',
    'limits.registryRequests.maxRetries',
    /must be from 0 to 10, got 11/,
  ],
  [
    'maxRetryAfterMs negative',
    'limits: { registryRequests: { maxRetryAfterMs: -1 } }',
    'limits.registryRequests.maxRetryAfterMs',
    /must be from 0 to 3600000/,
  ],
  ['registryRequests unknown key', 'limits: { registryRequests: { retries: 1 } }', 'limits.registryRequests.retries', /unknown key/],
  ['maxConcurrent misspelt', 'limits: { maxconcurrent: 8 }', 'limits.maxconcurrent', /unknown key \(did you mean maxConcurrent\?\)/],
];

for (const [what, yaml, path, message] of invalid) {
  test(`limits: ${what} is an error naming ${path}`, (t) => {
    rejects(t, `${MINIMAL}${yaml}\n`, path, message);
  });
}
