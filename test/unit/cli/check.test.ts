// `vouch check`'s manifest reading (src/cli/manifests.ts) and its answers from a /v1/verify or gRPC
// reply (src/cli/verifiers.ts), and check() with the real compiled decision and a fake vouch. Real
// servers and registries: test/e2e/check.test.ts.

import test from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { VouchError } from '../../../src/core/index.js';
import { parseManifests, readManifests } from '../../../src/cli/manifests.js';
import { answerFromGrpc, answersFromProviderResponse, parseItemError, type Answer, type KeyVerifier } from '../../../src/cli/verifiers.js';
import { check, DECISION_FILE } from '../../../src/cli/commands/check.js';
import { loadPolicyFile } from '../../../src/policy/index.js';
import { main } from '../../../src/cli/main.js';

const deployment = (name: string, image: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  template:
    spec:
      containers:
        - name: app
          image: ${image}
`;

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s) }, out, err };
}

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vouch-check-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('manifests: multi-document YAML keeps every object with its document index; non-Kubernetes documents are skipped', (t) => {
  const text = [
    '# a comment\nnot: kubernetes',
    deployment('a', 'registry.example/a:1'),
    'just a string',
    '- a\n- list',
    '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}\n',
    'kind: NoApiVersion',
    '',
    deployment('b', 'registry.example/b:1'),
  ].join('\n---\n');
  const objects = parseManifests(text, 'chart.yaml');
  t.deepEqual(
    objects.map((o) => [o.source, o.document, o.object['kind'], (o.object['metadata'] as { name: string }).name]),
    [
      ['chart.yaml', 2, 'Deployment', 'a'],
      ['chart.yaml', 5, 'Pod', 'p'],
      ['chart.yaml', 8, 'Deployment', 'b'],
    ],
  );
});

test('manifests: List kinds are expanded, with the index of each item', (t) => {
  const text = `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata: {name: one}
  - not an object
  - apiVersion: apps/v1
    kind: DaemonSet
    metadata: {name: two}
---
apiVersion: apps/v1
kind: DeploymentList
items:
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: three}
`;
  const objects = parseManifests(text, '-');
  t.deepEqual(
    objects.map((o) => [o.document, o.item, o.object['kind']]),
    [
      [1, 0, 'Pod'],
      [1, 2, 'DaemonSet'],
      [2, 0, 'Deployment'],
    ],
  );
});

test('manifests: a YAML syntax error names the file, the line and column, and the document', (t) => {
  const text = `${deployment('a', 'x:1')}---\napiVersion: v1\nkind: Pod\nspec:\n  containers: [\n  - name: c\n`;
  const error = t.throws(() => parseManifests(text, 'bad.yaml'), { instanceOf: VouchError });
  t.is(error.code, 'INVALID_INPUT');
  t.regex(error.message, /^bad\.yaml:16:3: document 2: /);
});

test('manifests: directories are read recursively in name order, only *.yaml, *.yml and *.json', async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'sub', 'deeper'), { recursive: true });
  await writeFile(join(dir, 'b.yaml'), deployment('b', 'x:1'));
  await writeFile(join(dir, 'a.yml'), deployment('a', 'x:1'));
  await writeFile(join(dir, 'sub', 'deeper', 'c.json'), JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'c' } }));
  await writeFile(join(dir, 'sub', 'notes.txt'), deployment('ignored', 'x:1'));
  await writeFile(join(dir, 'sub', 'README.md'), 'kind: Pod\napiVersion: v1\n');
  const objects = await readManifests([dir]);
  t.deepEqual(
    objects.map((o) => [o.source.slice(dir.length + 1), (o.object['metadata'] as { name: string }).name]),
    [
      ['a.yml', 'a'],
      ['b.yaml', 'b'],
      [join('sub', 'deeper', 'c.json'), 'c'],
    ],
  );
});

test('manifests: "-" reads stdin, beside files', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'one.yaml'), deployment('file', 'x:1'));
  const stdin = Readable.from([Buffer.from(deployment('piped', 'y:1').slice(0, 20)), deployment('piped', 'y:1').slice(20)]);
  const objects = await readManifests([join(dir, 'one.yaml'), '-'], { stdin });
  t.deepEqual(
    objects.map((o) => [o.source === '-' ? '-' : 'file', (o.object['metadata'] as { name: string }).name]),
    [
      ['file', 'file'],
      ['-', 'piped'],
    ],
  );
});

test('manifests: input beyond the size limit and missing files are INVALID_INPUT', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'big.yaml'), deployment('big', 'x:1'));
  const big = await t.throwsAsync(readManifests([join(dir, 'big.yaml')], { maxBytes: 50 }), { instanceOf: VouchError });
  t.is(big.code, 'INVALID_INPUT');
  t.is(big.reason, 'SIZE_LIMIT');
  const piped = await t.throwsAsync(readManifests(['-'], { stdin: Readable.from(['x'.repeat(40), 'y'.repeat(40)]), maxBytes: 50 }), {
    instanceOf: VouchError,
  });
  t.is(piped.reason, 'SIZE_LIMIT');
  const missing = await t.throwsAsync(readManifests([join(dir, 'nope.yaml')]), { instanceOf: VouchError });
  t.is(missing.code, 'INVALID_INPUT');
  t.true(missing.message.startsWith(join(dir, 'nope.yaml')));
});

test('manifests: alias bombs are refused, not expanded', (t) => {
  const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 12; i++)
    levels.push(
      `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9)
        .fill(`*${String.fromCharCode(96 + i)}`)
        .join(',')}]`,
    );
  const text = `apiVersion: v1\nkind: ConfigMap\n${levels.join('\n')}\n`;
  const error = t.throws(() => parseManifests(text, 'bomb.yaml'), { instanceOf: VouchError });
  t.is(error.code, 'INVALID_INPUT');
});

test('answers: /v1/verify items, undecided keys from systemError, and any other systemError', (t) => {
  const value = { verified: true, environment: 'prod', reference: 'r@sha256:1', signatures: [], reasons: [] };
  const body = {
    apiVersion: 'externaldata.gatekeeper.sh/v1beta1',
    kind: 'ProviderResponse',
    response: {
      items: [
        { key: '[prod]a:1', value },
        { key: '[prod]b:1', error: 'INVALID_REFERENCE: not a reference' },
      ],
      systemError: JSON.stringify({ message: 'undecided', undecided: [{ key: '[prod]c:1', error: 'REGISTRY_UNAVAILABLE: refused' }] }),
    },
  };
  t.deepEqual(answersFromProviderResponse(body), {
    responses: {
      '[prod]a:1': value,
      '[prod]b:1': { error: { code: 'INVALID_REFERENCE', message: 'not a reference' } },
      '[prod]c:1': { error: { code: 'REGISTRY_UNAVAILABLE', message: 'refused' } },
    },
  });
  t.deepEqual(answersFromProviderResponse({ response: { systemError: 'boom' } }), { responses: {}, systemError: 'boom' });
  t.deepEqual(parseItemError('no code here'), { code: 'PROVIDER_ERROR', message: 'no code here' });
});

test('answers: a gRPC VerifyResult becomes the VerificationResult JSON, or its error', (t) => {
  const result = {
    verified: false,
    environment: 'prod',
    reference: 'r',
    digest: '',
    signatures: [],
    reasons: [{ code: 'NOT_FOUND', message: 'm' }],
  };
  t.deepEqual(answerFromGrpc({ ...result, error: null }), {
    verified: false,
    environment: 'prod',
    reference: 'r',
    signatures: [],
    reasons: [{ code: 'NOT_FOUND', message: 'm' }],
  });
  t.deepEqual(answerFromGrpc({ ...result, error: { code: 'DEADLINE_EXCEEDED', message: 'late' } }), {
    error: { code: 'DEADLINE_EXCEEDED', message: 'late' },
  });
});

test('cli: check usage errors exit 2 and bad manifests exit 2 naming the file', async (t) => {
  const dir = await tempDir(t);
  const c = capture();
  t.is(await main(['check'], c.io), 2);
  t.is(await main(['check', '-f', 'x.yaml'], c.io), 2);
  t.is(await main(['check', '-f', 'x.yaml', '--server', 'ftp://x'], c.io), 2);
  t.is(await main(['check', '-f', 'x.yaml', '--server', 'grpc://x', '--output', 'xml'], c.io), 2);
  t.is(await main(['check', '-f', 'x.yaml', '--server', 'https://x', '--namespace-env', 'noequals'], c.io), 2);
  t.is(await main(['check', '-f', 'x.yaml', '--server', 'https://x', '--config', 'c.yaml'], c.io), 2);
  await writeFile(join(dir, 'bad.yaml'), 'apiVersion: v1\nkind: Pod\nspec: [\n');
  const bad = capture();
  t.is(await main(['check', '-f', join(dir, 'bad.yaml'), '--server', 'http://127.0.0.1:9'], bad.io), 2);
  t.regex(
    bad.err.join('\n'),
    new RegExp(`INVALID_INPUT: ${join(dir, 'bad.yaml').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: document 1: `),
  );
});

test('check: the real compiled decision with a fake vouch: verdicts per image, undecided answers, Lists and exempt images', async (t) => {
  const decision = await loadPolicyFile(DECISION_FILE, { timeoutMs: 10_000 });
  t.teardown(() => decision.close());
  const asked: string[][] = [];
  const verifier: KeyVerifier = {
    async verify(keys) {
      asked.push([...keys]);
      const answers: Record<string, Answer> = {};
      for (const key of keys) {
        if (key.includes('signed'))
          answers[key] = {
            verified: !key.includes('unsigned'),
            environment: 'prod',
            reference: key,
            signatures: [],
            reasons: key.includes('unsigned') ? [{ code: 'NO_SIGNATURE', message: 'no signature' }] : [],
          };
        else answers[key] = { error: { code: 'REGISTRY_UNAVAILABLE', message: 'connection refused' } };
      }
      return { responses: answers };
    },
    close: async () => {},
  };
  const objects = parseManifests(
    `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata: {name: p, namespace: shop}
    spec:
      initContainers: [{name: init, image: "r.example/unsigned:1"}]
      containers: [{name: app, image: "r.example/signed:1"}, {name: debug, image: "r.example/debug/sh:1"}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec: {jobTemplate: {spec: {template: {spec: {containers: [{name: job, image: "r.example/down:1"}]}}}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
`,
    'm.yaml',
  );
  const rows = await check(
    objects,
    { namespaceEnvironments: { shop: 'prod' }, environment: 'staging', exemptImages: ['r.example/debug/*'] },
    undefined,
    verifier,
    decision,
    Date.now() + 10_000,
  );
  // One request for all objects, exempt images never asked about.
  t.deepEqual(asked, [['[prod]r.example/signed:1', '[prod]r.example/unsigned:1', '[staging]r.example/down:1']]);
  t.deepEqual(
    rows.map((r) => [`${r.kind}/${r.name}`, r.item, r.container, r.environment, r.verdict, r.code]),
    [
      ['Pod/p', 0, 'app', 'prod', 'ADMITTED', undefined],
      ['Pod/p', 0, 'init', 'prod', 'DENIED', 'NO_SIGNATURE'],
      ['CronJob/nightly', undefined, 'job', 'staging', 'UNDECIDED', 'REGISTRY_UNAVAILABLE'],
    ],
  );
  t.true(rows[1]!.message!.includes('init container "init"'), rows[1]!.message);
  t.true(rows[2]!.message!.endsWith('(REGISTRY_UNAVAILABLE)'), rows[2]!.message);
});

test('cli: check --parameters takes a Constraint; all images exempt asks nothing; vouch unreachable is a system error, undecided (exit 1)', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'app.yaml'), deployment('app', 'r.example/tools/app:1'));
  await writeFile(
    join(dir, 'constraint.yaml'),
    'apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: VouchSignedImages\nmetadata: {name: prod}\nspec:\n  parameters:\n    environment: prod\n    exemptImages: ["r.example/tools/*"]\n',
  );
  await writeFile(join(dir, 'params.yaml'), 'environment: prod\n');
  // Port 9 on loopback: nothing listens (discard), so the connection is refused.
  const closed = 'http://127.0.0.1:9';
  const exempt = capture();
  t.is(await main(['check', '-f', join(dir, 'app.yaml'), '--server', closed, '--parameters', join(dir, 'constraint.yaml')], exempt.io), 0);
  t.regex(exempt.out.join('\n'), /1 object\(s\), 0 image\(s\)/);

  const down = capture();
  t.is(
    await main(
      ['check', '-f', join(dir, 'app.yaml'), '--server', closed, '--parameters', join(dir, 'params.yaml'), '--output', 'json'],
      down.io,
    ),
    1,
  );
  const rows = JSON.parse(down.out.join('\n')) as Array<{ verdict: string; code: string; environment: string }>;
  t.deepEqual(
    rows.map((r) => [r.verdict, r.code, r.environment]),
    [['UNDECIDED', 'SYSTEM_ERROR', 'prod']],
  );
  const badParameters = capture();
  await writeFile(join(dir, 'list.yaml'), '- a\n');
  t.is(await main(['check', '-f', join(dir, 'app.yaml'), '--server', closed, '--parameters', join(dir, 'list.yaml')], badParameters.io), 2);
});
