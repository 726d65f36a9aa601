import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { pino } from 'pino';
import { PROTO_FILE, ProviderGrpcServer } from '../../../src/server/grpc.js';
import { ProviderMetrics } from '../../../src/server/metrics.js';
import type { ProviderBackend } from '../../../src/server/provider-protocol.js';
import type { KeyResult } from '../../../src/verify/index.js';

const seen: string[][] = [];
const callers: Array<string | undefined> = [];
const backend: ProviderBackend = {
  async verify(keys, { caller }) {
    seen.push(keys);
    callers.push(caller);
    return keys.map((key): KeyResult =>
      key.includes('bad')
        ? { key, error: { code: 'INVALID_REFERENCE', message: 'nope' } }
        : {
            key,
            value: {
              verified: true,
              environment: 'prod',
              reference: `${key}@sha256:${'b'.repeat(64)}`,
              digest: `sha256:${'b'.repeat(64)}`,
              signatures: [
                {
                  type: 'notation',
                  digest: `sha256:${'c'.repeat(64)}`,
                  verified: true,
                  trustPolicy: 'p',
                  level: 'permissive',
                  signer: 'CN=x',
                  signingTime: '2026-01-01T00:00:00.000Z',
                  reasons: [
                    {
                      code: 'EXPIRED',
                      message: 'expiry: the signature expired at …',
                      check: 'expiry',
                      detail: 'the signature expired at …',
                    },
                  ],
                  warnings: [],
                },
                {
                  type: 'cosign',
                  digest: `sha256:${'d'.repeat(64)}`,
                  verified: true,
                  signer: `sha256:${'e'.repeat(64)}`,
                  reasons: [],
                },
              ],
              reasons: [],
              warnings: [],
            },
          },
    );
  },
  async mutate() {
    return [];
  },
};

test('grpc: Verify answers one result per reference in order, with the environment applied; health is SERVING', async (t) => {
  const server = new ProviderGrpcServer({
    backend,
    address: '127.0.0.1:0',
    requestTimeoutMs: 2000,
    maxKeys: 5,
    logger: pino({ level: 'silent' }),
    metrics: new ProviderMetrics({ defaultMetrics: false }),
  });
  const { address } = await server.listen();
  t.teardown(() => server.close());

  const definition = grpc.loadPackageDefinition(protoLoader.loadSync(PROTO_FILE, { defaults: true })) as unknown as {
    vouch: { v1: { Verifier: grpc.ServiceClientConstructor } };
  };
  const client = new definition.vouch.v1.Verifier(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    verify: (req: unknown, cb: (err: grpc.ServiceError | null, res: { results: Array<Record<string, unknown>> }) => void) => void;
  };
  t.teardown(() => client.close());
  const verify = (req: unknown) =>
    new Promise<{ results: Array<Record<string, unknown>> }>((resolve, reject) =>
      client.verify(req, (err, res) => (err ? reject(err) : resolve(res))),
    );

  const response = await verify({ environment: 'prod', references: ['r.example/a:1', 'bad ref'] });
  t.deepEqual(seen.at(-1), ['[prod]r.example/a:1', '[prod]bad ref']);
  t.is(response.results.length, 2);
  t.true(response.results[0]?.['verified']);
  t.is((response.results[0]?.['signatures'] as Array<Record<string, unknown>>)[0]?.['trustPolicy'], 'p');
  // Reasons keep the failed check and its detail (proto Reason fields 3 and 4).
  t.deepEqual((response.results[0]?.['signatures'] as Array<{ reasons: unknown[] }>)[0]?.reasons, [
    { code: 'EXPIRED', message: 'expiry: the signature expired at …', check: 'expiry', detail: 'the signature expired at …' },
  ]);
  // A cosign report: its type and key signer; no trust policy or signing time (proto3 defaults), no
  // plugin decision nor undecided reason (unset message fields).
  t.deepEqual((response.results[0]?.['signatures'] as Array<Record<string, unknown>>)[1], {
    type: 'cosign',
    digest: `sha256:${'d'.repeat(64)}`,
    verified: true,
    trustPolicy: '',
    signer: `sha256:${'e'.repeat(64)}`,
    signingTime: '',
    reasons: [],
    plugin: null,
    undecided: null,
  });
  t.false(response.results[1]?.['verified']);
  // error is a Reason too; check and detail are empty (proto3 defaults) for an error.
  t.deepEqual(response.results[1]?.['error'], { code: 'INVALID_REFERENCE', message: 'nope', check: '', detail: '' });

  await verify({ references: ['r.example/a:1'] });
  t.deepEqual(seen.at(-1), ['r.example/a:1']);
  // The route goes to the engine as the caller; its observer counts the key outcomes (src/app).
  t.deepEqual(callers, ['grpc:Verify', 'grpc:Verify']);

  const tooMany = await t.throwsAsync(verify({ references: ['a', 'b', 'c', 'd', 'e', 'f'] }));
  t.is((tooMany as grpc.ServiceError).code, grpc.status.RESOURCE_EXHAUSTED);

  const health = grpc.loadPackageDefinition(protoLoader.loadSync(healthProtoPath, { enums: String })) as unknown as {
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
  };
  const healthClient = new health.grpc.health.v1.Health(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    check: (req: unknown, cb: (err: grpc.ServiceError | null, res: { status: string }) => void) => void;
  };
  t.teardown(() => healthClient.close());
  const status = await new Promise<{ status: string }>((resolve, reject) =>
    healthClient.check({ service: 'vouch.v1.Verifier' }, (err, res) => (err ? reject(err) : resolve(res))),
  );
  t.is(status.status, 'SERVING');
});
