// scripts/gen-tls.sh (deploy/README.md): the CA and serving certificate it generates with openssl, checked
// with node:crypto and a real TLS 1.3 handshake for the Service's DNS name; reuse and renewal of existing
// files; and the kubectl steps of --apply and --ca-from-secret, run against a fake kubectl that records
// its calls (no cluster here).

import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { promisify } from 'node:util';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { REPO_ROOT } from '../helpers/registries.js';

const run = promisify(execFile);
const SCRIPT = join(REPO_ROOT, 'scripts', 'gen-tls.sh');
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vouch-gen-tls-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function genTls(args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  return run('bash', [SCRIPT, ...args], { env: { ...process.env, ...env }, maxBuffer: 4 * 1024 * 1024 });
}

interface Material {
  ca: X509Certificate;
  cert: X509Certificate;
  caPem: string;
  certPem: string;
  keyPem: string;
}

async function readMaterial(dir: string): Promise<Material> {
  const [caPem, certPem, keyPem] = await Promise.all(['ca.crt', 'tls.crt', 'tls.key'].map((f) => readFile(join(dir, f), 'utf8')));
  return { ca: new X509Certificate(caPem!), cert: new X509Certificate(certPem!), caPem: caPem!, certPem: certPem!, keyPem: keyPem! };
}

test('gen-tls: --generate-only writes a CA and a serving certificate for the Service DNS names', async (t) => {
  const out = join(await tempDir(t), 'tls');
  const { stdout } = await genTls(['--generate-only', '--out', out]);
  t.is(stdout, '', 'nothing on stdout');
  const { ca, cert, keyPem } = await readMaterial(out);

  t.true(ca.ca);
  t.is(ca.subject, ca.issuer);
  t.true(ca.verify(ca.publicKey), 'the CA is self-signed');
  t.false(cert.ca);
  t.is(cert.subjectAltName, 'DNS:vouch.vouch-system, DNS:vouch.vouch-system.svc, DNS:vouch.vouch-system.svc.cluster.local');
  t.true(cert.checkIssued(ca), 'issued by the CA');
  t.true(cert.verify(ca.publicKey), 'signed by the CA');
  t.deepEqual(cert.keyUsage, [SERVER_AUTH]);
  t.is(cert.checkHost('vouch.vouch-system.svc'), 'vouch.vouch-system.svc');

  const key = createPrivateKey(keyPem);
  t.true(cert.checkPrivateKey(key), 'tls.key belongs to tls.crt');
  t.is(key.asymmetricKeyType, 'ec');
  t.is(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
  t.true(days >= 364 && days <= 366, `serving certificate valid ${days} days`);

  for (const file of ['ca.key', 'tls.key']) t.is((await stat(join(out, file))).mode & 0o077, 0, `${file} is private`);
});

test('gen-tls: the generated certificate serves TLS 1.3 to a client that trusts only the CA', async (t) => {
  const out = join(await tempDir(t), 'tls');
  await genTls(['--generate-only', '--out', out]);
  const { caPem, certPem, keyPem } = await readMaterial(out);
  const server = createServer({ cert: certPem, key: keyPem, minVersion: 'TLSv1.3' }, (_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  // As Gatekeeper dials it: the Provider's host name, the caBundle as the only root, TLS 1.3 minimum.
  const protocol = await new Promise<string | null>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'vouch.vouch-system.svc', ca: caPem, minVersion: 'TLSv1.3' }, () => {
      const version = socket.getProtocol();
      socket.end();
      resolve(version);
    });
    socket.on('error', reject);
  });
  t.is(protocol, 'TLSv1.3');
});

test('gen-tls: --san adds names for local use; TLS 1.3 handshakes for them with a P-256 server key', async (t) => {
  const out = join(await tempDir(t), 'tls');
  await genTls(['--generate-only', '--out', out, '--san', 'localhost', '--san', '127.0.0.1']);
  const { ca, cert, caPem, certPem, keyPem } = await readMaterial(out);
  t.is(
    cert.subjectAltName,
    'DNS:vouch.vouch-system, DNS:vouch.vouch-system.svc, DNS:vouch.vouch-system.svc.cluster.local, DNS:localhost, IP Address:127.0.0.1',
  );
  t.is(cert.publicKey.asymmetricKeyType, 'ec');
  t.is(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  t.true(cert.checkIssued(ca));
  // a TLS 1.3 handshake for each name, as a client that trusts only the CA
  const server = createServer({ cert: certPem, key: keyPem, minVersion: 'TLSv1.3' }, (_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  for (const name of ['localhost', '127.0.0.1', 'vouch.vouch-system']) {
    const protocol = await new Promise<string | null>((resolve, reject) => {
      const options = name === '127.0.0.1' ? {} : { servername: name };
      const socket = connect({ host: '127.0.0.1', port, ...options, ca: caPem, minVersion: 'TLSv1.3' }, () => {
        const version = socket.getProtocol();
        socket.end();
        resolve(version);
      });
      socket.on('error', reject);
    });
    t.is(protocol, 'TLSv1.3', name);
  }
  // a wrong --san is refused, naming the value
  const error = await t.throwsAsync(genTls(['--generate-only', '--out', out, '--san', 'not a name']));
  t.regex((error as Error & { stderr: string }).stderr, /--san: expected a DNS name or an IPv4 address, got 'not a name'/);
});

test('gen-tls: a serving certificate with an RSA key (an older run, by hand) is reissued as ECDSA P-256', async (t) => {
  const out = join(await tempDir(t), 'tls');
  await genTls(['--generate-only', '--out', out]);
  const before = await readMaterial(out);
  // the same names and CA, but an RSA-2048 key
  const csr = join(out, 'rsa.csr');
  const ext = join(out, 'ext.cnf');
  await writeFile(
    ext,
    '[v3]\nextendedKeyUsage = serverAuth\nsubjectAltName = DNS:vouch.vouch-system, DNS:vouch.vouch-system.svc, DNS:vouch.vouch-system.svc.cluster.local\n',
  );
  await run('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', join(out, 'tls.key')]);
  await run('openssl', ['req', '-new', '-key', join(out, 'tls.key'), '-subj', '/CN=vouch.vouch-system.svc', '-out', csr]);
  await run('openssl', [
    'x509', '-req', '-in', csr, '-CA', join(out, 'ca.crt'), '-CAkey', join(out, 'ca.key'), '-set_serial', '7', '-days', '200',
    '-extfile', ext, '-extensions', 'v3', '-out', join(out, 'tls.crt'),
  ]); // prettier-ignore
  t.is((await readMaterial(out)).cert.publicKey.asymmetricKeyType, 'rsa');
  const { stderr } = await genTls(['--generate-only', '--out', out]);
  t.regex(stderr, /issuing the serving certificate/);
  const after = await readMaterial(out);
  t.is(after.cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  t.is(after.ca.fingerprint256, before.ca.fingerprint256, 'the CA (the Providers caBundle) is kept');
});

test('gen-tls: a second run reuses the CA and the certificate; --force starts over', async (t) => {
  const out = join(await tempDir(t), 'tls');
  await genTls(['--generate-only', '--out', out]);
  const first = await readMaterial(out);
  const { stderr } = await genTls(['--generate-only', '--out', out]);
  t.regex(stderr, /reusing the CA/);
  t.regex(stderr, /reusing the serving certificate/);
  const second = await readMaterial(out);
  t.is(second.ca.fingerprint256, first.ca.fingerprint256);
  t.is(second.cert.fingerprint256, first.cert.fingerprint256);

  await genTls(['--force', '--generate-only', '--out', out]);
  const third = await readMaterial(out);
  t.not(third.ca.fingerprint256, first.ca.fingerprint256);
  t.true(third.cert.checkIssued(third.ca));
});

test('gen-tls: other names reissue the serving certificate under the same CA', async (t) => {
  const out = join(await tempDir(t), 'tls');
  await genTls(['--generate-only', '--out', out]);
  const first = await readMaterial(out);
  await genTls(['--generate-only', '--out', out, '--namespace', 'policy', '--service', 'signatures', '--cluster-domain', 'k8s.example']);
  const second = await readMaterial(out);
  t.is(second.ca.fingerprint256, first.ca.fingerprint256, 'the Providers caBundle stays valid');
  t.is(second.cert.subjectAltName, 'DNS:signatures.policy, DNS:signatures.policy.svc, DNS:signatures.policy.svc.k8s.example');
  t.true(second.cert.checkIssued(second.ca));
});

test('gen-tls: without --apply it prints Secret vouch-tls on stdout and the kubectl steps on stderr', async (t) => {
  const out = join(await tempDir(t), 'tls');
  const { stdout, stderr } = await genTls(['--out', out]);
  const { caPem, certPem, keyPem } = await readMaterial(out);
  const secret = parseYaml(stdout) as Record<string, any>;
  t.is(secret['kind'], 'Secret');
  t.is(secret['type'], 'kubernetes.io/tls');
  t.deepEqual(secret['metadata'], {
    name: 'vouch-tls',
    namespace: 'vouch-system',
    labels: { 'app.kubernetes.io/name': 'vouch', 'app.kubernetes.io/part-of': 'vouch' },
  });
  const decoded = (key: string) => Buffer.from(secret['data'][key], 'base64').toString('utf8');
  t.is(decoded('tls.crt'), certPem);
  t.is(decoded('tls.key'), keyPem);
  t.is(decoded('ca.crt'), caPem);
  t.true(stderr.includes(`CA=${Buffer.from(caPem).toString('base64')}\n`));
  for (const provider of ['vouch', 'vouch-mutate'])
    t.true(stderr.includes(`kubectl patch providers.externaldata.gatekeeper.sh ${provider} `));
  t.regex(stderr, /get secret gatekeeper-webhook-server-cert/);
});

/**
 * A fake kubectl: logs each call (arguments, and stdin for `apply -f -` / `create -f -`) as JSON lines,
 * answers the `get secret` calls with the given ca.crt values (base64), and `get providers…` with
 * success for the given existing Providers, NotFound for others.
 */
async function fakeKubectl(
  dir: string,
  secrets: Record<string, string>,
  providers: string[] = ['vouch', 'vouch-mutate'],
): Promise<{ path: string; calls: () => Promise<Array<{ args: string[]; stdin: string }>> }> {
  const log = join(dir, 'kubectl.log');
  const path = join(dir, 'kubectl');
  const script = `#!/usr/bin/env node
const fs = require('node:fs');
const args = process.argv.slice(2);
const secrets = ${JSON.stringify(secrets)};
const providers = ${JSON.stringify(providers)};
const stdin = args.includes('-f') ? fs.readFileSync(0, 'utf8') : '';
fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify({ args, stdin }) + '\\n');
if (args.includes('get') && args.includes('secret')) {
  const name = args[args.indexOf('secret') + 1];
  if (!(name in secrets)) { process.stderr.write('Error from server (NotFound): secrets "' + name + '" not found\\n'); process.exit(1); }
  process.stdout.write(secrets[name]);
}
if (args[0] === 'get' && args[1] === 'providers.externaldata.gatekeeper.sh') {
  if (!providers.includes(args[2])) { process.stderr.write('Error from server (NotFound): providers "' + args[2] + '" not found\\n'); process.exit(1); }
  process.stdout.write('provider.externaldata.gatekeeper.sh/' + args[2] + '\\n');
}
`;
  await writeFile(path.replace(/kubectl$/, 'kubectl.cjs'), script);
  await writeFile(path, `#!/bin/sh\nexec node ${JSON.stringify(path.replace(/kubectl$/, 'kubectl.cjs'))} "$@"\n`);
  await chmod(path, 0o755);
  return {
    path,
    calls: async () =>
      (await readFile(log, 'utf8'))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { args: string[]; stdin: string }),
  };
}

const GATEKEEPER_CA = Buffer.from('-----BEGIN CERTIFICATE-----\ngatekeeper\n-----END CERTIFICATE-----\n').toString('base64');

test('gen-tls: --apply creates both Secrets and sets both Providers caBundle', async (t) => {
  const dir = await tempDir(t);
  const kubectl = await fakeKubectl(dir, { 'gatekeeper-webhook-server-cert': GATEKEEPER_CA });
  const { stdout } = await genTls(['--apply', '--out', join(dir, 'tls')], { KUBECTL: kubectl.path });
  t.is(stdout, '');
  const { caPem } = await readMaterial(join(dir, 'tls'));
  const ca = Buffer.from(caPem).toString('base64');
  const calls = await kubectl.calls();
  t.deepEqual(
    calls.map((c) => c.args.filter((a) => !a.startsWith('{')).join(' ')),
    [
      'apply -f -',
      '-n gatekeeper-system get secret gatekeeper-webhook-server-cert -o jsonpath={.data.ca\\.crt}',
      'apply -f -',
      'get providers.externaldata.gatekeeper.sh vouch -o name',
      'patch providers.externaldata.gatekeeper.sh vouch --type merge -p',
      'get providers.externaldata.gatekeeper.sh vouch-mutate -o name',
      'patch providers.externaldata.gatekeeper.sh vouch-mutate --type merge -p',
    ],
  );
  const applied = calls.filter((c) => c.args[0] === 'apply').map((c) => parseYaml(c.stdin) as Record<string, any>);
  t.is(applied[0]!['metadata']['name'], 'vouch-tls');
  t.is(applied[0]!['data']['ca.crt'], ca);
  t.is(applied[1]!['metadata']['name'], 'gatekeeper-ca');
  t.is(applied[1]!['metadata']['namespace'], 'vouch-system');
  t.deepEqual(applied[1]!['data'], { 'ca.crt': GATEKEEPER_CA });
  for (const call of calls.filter((c) => c.args[0] === 'patch')) t.deepEqual(JSON.parse(call.args.at(-1)!), { spec: { caBundle: ca } });
});

test('gen-tls: --apply creates missing Providers as the kustomize base declares them, with their caBundle', async (t) => {
  const dir = await tempDir(t);
  // Only vouch exists (e.g. an earlier install): it is patched, vouch-mutate is created.
  const kubectl = await fakeKubectl(dir, { 'gatekeeper-webhook-server-cert': GATEKEEPER_CA }, ['vouch']);
  await genTls(['--apply', '--out', join(dir, 'tls')], { KUBECTL: kubectl.path });
  const ca = Buffer.from((await readMaterial(join(dir, 'tls'))).caPem).toString('base64');
  const calls = await kubectl.calls();
  t.deepEqual(
    calls.filter((c) => c.args[0] === 'patch').map((c) => c.args[2]),
    ['vouch'],
  );
  const created = calls.filter((c) => c.args[0] === 'create');
  t.is(created.length, 1);
  // `create`, never `apply`: a last-applied annotation naming caBundle would let the next
  // `kubectl apply -k` of the base (which leaves caBundle out) delete it.
  t.deepEqual(created[0]!.args, ['create', '-f', '-']);
  const provider = parseYaml(created[0]!.stdin) as Record<string, any>;
  const base = parseAllDocuments(await readFile(join(REPO_ROOT, 'deploy', 'base', 'provider.yaml'), 'utf8'))
    .map((d) => d.toJS() as Record<string, any>)
    .find((p) => p['metadata']['name'] === 'vouch-mutate')!;
  t.is(provider['apiVersion'], base['apiVersion']);
  t.is(provider['kind'], base['kind']);
  t.is(provider['metadata']['name'], 'vouch-mutate');
  t.is(provider['metadata']['labels']['app.kubernetes.io/component'], base['metadata']['labels']['app.kubernetes.io/component']);
  t.deepEqual(provider['spec'], { ...base['spec'], caBundle: ca });
});

test('gen-tls: --ca-from-secret --apply takes the CA from cert-manager Secret vouch-tls and generates nothing', async (t) => {
  const dir = await tempDir(t);
  const certManagerCa = Buffer.from('-----BEGIN CERTIFICATE-----\ncert-manager\n-----END CERTIFICATE-----\n').toString('base64');
  const kubectl = await fakeKubectl(dir, { 'gatekeeper-webhook-server-cert': GATEKEEPER_CA, 'vouch-tls': certManagerCa });
  await genTls(['--ca-from-secret', '--apply', '--out', join(dir, 'tls')], { KUBECTL: kubectl.path });
  const calls = await kubectl.calls();
  t.deepEqual(calls[0]!.args.slice(0, 4), ['-n', 'vouch-system', 'get', 'secret']);
  t.is(calls[0]!.args[4], 'vouch-tls');
  const applied = calls.filter((c) => c.args[0] === 'apply').map((c) => parseYaml(c.stdin) as Record<string, any>);
  t.deepEqual(
    applied.map((s) => s['metadata']['name']),
    ['gatekeeper-ca'],
  );
  const patches = calls.filter((c) => c.args[0] === 'patch');
  t.is(patches.length, 2);
  for (const call of patches) t.deepEqual(JSON.parse(call.args.at(-1)!), { spec: { caBundle: certManagerCa } });
  await t.throwsAsync(stat(join(dir, 'tls', 'ca.key')), { code: 'ENOENT' });
});

test('gen-tls: --apply fails naming the Secret when Gatekeeper is not installed', async (t) => {
  const dir = await tempDir(t);
  const kubectl = await fakeKubectl(dir, {});
  const error = await t.throwsAsync(genTls(['--apply', '--out', join(dir, 'tls')], { KUBECTL: kubectl.path }));
  t.regex((error as Error & { stderr: string }).stderr, /gatekeeper-system\/gatekeeper-webhook-server-cert/);
});

test('gen-tls: --placeholder-ca-bundle prints a throwaway CA certificate that Gatekeeper accepts', async (t) => {
  const { stdout } = await genTls(['--placeholder-ca-bundle']);
  const cert = new X509Certificate(Buffer.from(stdout.trim(), 'base64'));
  t.true(cert.ca);
  t.regex(cert.subject, /placeholder/);
});

test('gen-tls: bad arguments exit non-zero with usage', async (t) => {
  const error = await t.throwsAsync(genTls(['--days', 'soon']));
  t.regex((error as Error & { stderr: string }).stderr, /--days/);
  const unknown = await t.throwsAsync(genTls(['--frobnicate']));
  t.regex((unknown as Error & { stderr: string }).stderr, /usage: scripts\/gen-tls\.sh/);
});
