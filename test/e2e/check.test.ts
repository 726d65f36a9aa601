// End to end for the hosts outside Kubernetes: `vouch check` (in-process with --config, and against
// a running `vouch serve` over HTTPS and gRPC with mTLS), the Node example host
// (examples/node-host: gRPC + the compiled WASM decision) and the OPA helper
// (examples/opa-http-send: http.send to /v1/verify, with the real `opa eval`), all on images signed
// with vouch's own signer and pushed to a real registry (olareg).

import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { main } from '../../src/cli/main.js';
import { RegistryClient } from '../../src/oci/index.js';
import { REPO_ROOT, startReferrersRegistry, toolPath, type RunningRegistry } from '../helpers/registries.js';
import { createTlsMaterial, type TlsMaterial } from '../helpers/tls.js';
import { createWorkspace, pushImage, signAndPush, SIGNERS, trustedIdentity, uniqueId, type Workspace } from './support/fixtures.js';
import { startVouch, type VouchProcess } from './support/vouch-process.js';

const run = promisify(execFile);
const RUN = uniqueId();

let registry: RunningRegistry;
let tls: TlsMaterial;
let ws: Workspace;
let vouch: VouchProcess;
let configFile: string;
const files: Record<string, string> = {};
const image: Record<string, string> = {};

function deployment(name: string, containers: Array<[string, string]>) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'shop' },
    spec: { template: { spec: { containers: containers.map(([n, i]) => ({ name: n, image: i })) } } },
  };
}

test.before(async () => {
  [registry, tls, ws] = await Promise.all([startReferrersRegistry(), createTlsMaterial(), createWorkspace()]);
  const client = new RegistryClient({ hosts: { [registry.host]: { plainHttp: true } } });
  try {
    const repo = client.repository(registry.host, `check-${RUN}/app`);
    const prod = { privateKey: ws.identities.prod.privateKey, certificateChain: ws.identities.prod.certificateChain };
    await signAndPush(repo, await pushImage(repo, 'signed'), prod);
    await signAndPush(repo, await pushImage(repo, 'sidecar'), prod);
    await pushImage(repo, 'unsigned');
    for (const tag of ['signed', 'sidecar', 'unsigned']) image[tag] = `${registry.host}/check-${RUN}/app:${tag}`;
  } finally {
    await client.close();
  }
  await ws.writePolicy('prod', [
    { name: 'prod', registryScopes: ['*'], trustStores: ['ca:prod'], trustedIdentities: [trustedIdentity(SIGNERS.prod)] },
  ]);
  await ws.writePolicy('staging', [
    { name: 'staging', registryScopes: ['*'], trustStores: ['ca:staging'], trustedIdentities: [trustedIdentity(SIGNERS.staging)] },
  ]);
  configFile = await ws.writeConfig({
    server: { address: '127.0.0.1:0', grpcAddress: '127.0.0.1:0', tls: tls.files, requestTimeoutMs: 5000 },
    defaultEnvironment: 'staging',
    environments: {
      prod: { trustPolicy: ws.trustPolicy('prod'), trustStore: ws.trustStore('prod') },
      staging: { trustPolicy: ws.trustPolicy('staging'), trustStore: ws.trustStore('staging') },
    },
    registries: { [registry.host]: { plainHttp: true } },
  });
  files['clientCert'] = join(ws.dir, 'client.crt');
  files['clientKey'] = join(ws.dir, 'client.key');
  await writeFile(files['clientCert'], tls.clientOptions.cert);
  await writeFile(files['clientKey'], tls.clientOptions.key);
  const write = async (name: string, doc: unknown) => {
    files[name] = join(ws.dir, name);
    await writeFile(files[name], typeof doc === 'string' ? doc : JSON.stringify(doc));
  };
  const mixed = deployment('mixed', [
    ['app', image['signed']!],
    ['tool', image['unsigned']!],
  ]);
  const signed = deployment('signed', [
    ['app', image['signed']!],
    ['sidecar', image['sidecar']!],
  ]);
  await write('mixed.yaml', `${stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } })}---\n${stringify(mixed)}`);
  await write('signed.yaml', stringify(signed));
  await write('mixed.json', mixed);
  await write('signed.json', signed);
  vouch = await startVouch({ configFile, tls });
});

test.after.always(async () => {
  await vouch?.stop();
  await registry?.stop();
  await ws?.remove();
});

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s) }, out, err };
}

interface Row {
  kind: string;
  name: string;
  container: string;
  image: string;
  environment: string;
  verdict: string;
  code?: string;
  message?: string;
}

const TLS_FLAGS = () => ['--ca-file', tls.files.clientCAFile, '--cert-file', files['clientCert']!, '--key-file', files['clientKey']!];

/** The three ways of `vouch check`: in-process, HTTPS /v1/verify and gRPC Verify, both with mTLS. */
const MODES: Record<string, () => string[]> = {
  'in-process (--config)': () => ['--config', configFile],
  'HTTPS (--server https://)': () => ['--server', vouch.url, ...TLS_FLAGS()],
  'gRPC (--server grpcs://)': () => ['--server', `grpcs://${vouch.grpcAddress}`, ...TLS_FLAGS()],
};

async function check(args: string[]): Promise<{ code: number; rows: Row[]; err: string }> {
  const c = capture();
  const code = await main(['check', ...args, '--output', 'json'], c.io);
  const err = c.err.join('\n');
  if (c.out.length === 0) throw new Error(`vouch check exited ${code} without output: ${err}`);
  return { code, rows: JSON.parse(c.out.join('\n')) as Row[], err };
}

const summary = (rows: Row[]) =>
  rows.map((r) => `${r.kind}/${r.name} ${r.container} ${r.image} ${r.environment} ${r.verdict} ${r.code ?? ''}`).sort();

for (const [mode, flags] of Object.entries(MODES)) {
  test(`check ${mode}: a signed and an unsigned image → exit 1, one denial; all signed → exit 0`, async (t) => {
    const mixed = await check(['-f', files['mixed.yaml']!, '--env', 'prod', ...flags()]);
    t.is(mixed.code, 1, mixed.err);
    t.deepEqual(summary(mixed.rows), [
      `Deployment/mixed app ${image['signed']} prod ADMITTED `,
      `Deployment/mixed tool ${image['unsigned']} prod DENIED NO_SIGNATURE`,
    ]);
    const denial = mixed.rows.find((r) => r.verdict === 'DENIED')!;
    t.true(denial.message!.includes(`image "${image['unsigned']}" in container "tool"`), denial.message);
    t.true(denial.message!.endsWith('(NO_SIGNATURE)'), denial.message);

    const signed = await check(['-f', files['signed.yaml']!, '--env', 'prod', ...flags()]);
    t.is(signed.code, 0, signed.err);
    t.deepEqual(
      signed.rows.map((r) => r.verdict),
      ['ADMITTED', 'ADMITTED'],
    );

    // The environment from the parameters: shop → prod; without any, vouch's defaultEnvironment
    // (staging), whose trust store does not hold the prod signer.
    const byNamespace = await check(['-f', files['signed.yaml']!, '--namespace-env', 'shop=prod', ...flags()]);
    t.is(byNamespace.code, 0, byNamespace.err);
    const byDefault = await check(['-f', files['signed.yaml']!, ...flags()]);
    t.is(byDefault.code, 1);
    t.deepEqual(new Set(byDefault.rows.map((r) => `${r.environment} ${r.code}`)), new Set(['staging UNTRUSTED_SIGNER']));
  });
}

test('check: the table names each image on one line, and stdin works through the real binary', async (t) => {
  const c = capture();
  t.is(await main(['check', '-f', files['mixed.yaml']!, '--env', 'prod', '--config', configFile], c.io), 1);
  const lines = c.out.join('\n').split('\n');
  t.regex(lines[0]!, /^KIND\/NAME +CONTAINER +IMAGE +ENV +VERDICT +CODE\/MESSAGE$/);
  t.is(lines.filter((l) => l.includes(' DENIED ')).length, 1);
  t.true(lines.some((l) => l.startsWith('Deployment/mixed') && l.includes(image['unsigned']!) && l.includes('NO_SIGNATURE: ')));

  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli.ts', 'check', '-f', '-', '--env', 'prod', '--server', vouch.url, ...TLS_FLAGS()],
    {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  child.stdin.end(`${stringify(deployment('piped', [['app', image['unsigned']!]]))}`);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.is(code, 1, out);
  t.regex(out, /Deployment\/piped +app .* DENIED +NO_SIGNATURE: /);
});

test('examples/node-host: gRPC answers and the compiled WASM decision give the same verdicts', async (t) => {
  const host = (file: string) =>
    run(
      process.execPath,
      [
        'examples/node-host/check-object.mjs',
        '--address',
        vouch.grpcAddress,
        '--ca',
        tls.files.clientCAFile,
        '--cert',
        files['clientCert']!,
        '--key',
        files['clientKey']!,
        '--env',
        'prod',
        file,
      ],
      { cwd: REPO_ROOT },
    ).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );
  const mixed = await host(files['mixed.json']!);
  t.is(mixed.code, 1, mixed.stderr);
  const violations = JSON.parse(mixed.stdout) as Array<{ msg: string; details: { image: string; code: string; container: string } }>;
  t.deepEqual(
    violations.map((v) => [v.details.image, v.details.container, v.details.code]),
    [[image['unsigned'], 'tool', 'NO_SIGNATURE']],
  );
  const signed = await host(files['signed.json']!);
  t.is(signed.code, 0, signed.stderr);
  t.deepEqual(JSON.parse(signed.stdout), []);
});

test('examples/opa-http-send: the real opa eval calls vouch with http.send and denies the unsigned image', async (t) => {
  const data = join(ws.dir, 'vouch-http-data.json');
  await writeFile(
    data,
    JSON.stringify({
      vouch_http: {
        settings: {
          url: vouch.url,
          tls_ca_cert_file: tls.files.clientCAFile,
          tls_client_cert_file: files['clientCert'],
          tls_client_key_file: files['clientKey'],
          timeout: '10s',
        },
        parameters: { namespaceEnvironments: { shop: 'prod' } },
      },
    }),
  );
  const opa = async (input: string) => {
    const { stdout } = await run(
      toolPath('opa'),
      [
        'eval',
        '--capabilities',
        'rego/capabilities.json',
        '-d',
        'rego/lib',
        '-d',
        'examples/opa-http-send',
        '-d',
        data,
        '-i',
        input,
        '--format',
        'json',
        'data.vouch.http.deny',
      ],
      { cwd: REPO_ROOT },
    );
    return (JSON.parse(stdout) as { result: Array<{ expressions: Array<{ value: string[] }> }> }).result[0]!.expressions[0]!.value;
  };
  const mixed = await opa(files['mixed.json']!);
  t.is(mixed.length, 1);
  t.true(mixed[0]!.includes(`image "${image['unsigned']}" in container "tool"`), mixed[0]);
  t.true(mixed[0]!.endsWith('(NO_SIGNATURE)'), mixed[0]);
  t.deepEqual(await opa(files['signed.json']!), []);
});
