// Trust policies and trust stores mounted from Kubernetes ConfigMaps/Secrets: the atomic writer's
// links are followed, every other symlink is still refused (notation-go parity).
import test from 'ava';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { VouchError } from '../../../src/core/index.js';
import { FileTrustStore, readOciTrustPolicyFile, volumeFileTarget } from '../../../src/trust/index.js';
import { writeKubernetesVolume } from '../../helpers/kubernetes-volume.js';
import { NOTATION_VECTORS } from '../../helpers/fixtures.js';

const STORE = path.join(NOTATION_VECTORS, 'notation-go/truststore/x509/ca/valid-trust-store');
const POLICY = (name: string) =>
  JSON.stringify({
    version: '1.0',
    trustPolicies: [
      { name, registryScopes: ['*'], signatureVerification: { level: 'strict' }, trustStores: ['ca:prod'], trustedIdentities: ['*'] },
    ],
  });

async function tempDir(t: import('ava').ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vouch-volume-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('volume: a ConfigMap-mounted trust store is read through its links and follows updates', async (t) => {
  const root = await tempDir(t);
  const storeDir = path.join(root, 'x509', 'ca', 'prod');
  await writeKubernetesVolume(storeDir, { 'root.pem': await readFile(path.join(STORE, 'NotationTestRoot.pem')) });
  const store = new FileTrustStore(root, { recheckIntervalMs: 0 });
  const first = await store.getCertificates('ca', 'prod');
  t.is(first.length, 1);

  // the kubelet swaps in a new payload with two certificates
  await writeKubernetesVolume(storeDir, {
    'root.pem': await readFile(path.join(STORE, 'NotationTestRoot.pem')),
    'globalsign.crt': await readFile(path.join(STORE, 'GlobalSignRootCA.crt')),
  });
  t.is((await store.getCertificates('ca', 'prod')).length, 2);
});

test('volume: other symlinks stay refused, inside a volume directory or not', async (t) => {
  const root = await tempDir(t);
  const outside = path.join(root, 'elsewhere.pem');
  await writeFile(outside, await readFile(path.join(STORE, 'NotationTestRoot.pem')));

  // a volume directory with an extra link that leaves it
  const volumeStore = path.join(root, 'x509', 'ca', 'volume');
  await writeKubernetesVolume(volumeStore, { 'root.pem': await readFile(path.join(STORE, 'NotationTestRoot.pem')) });
  await symlink(outside, path.join(volumeStore, 'extra.pem'));
  // a plain directory with a link shaped like a volume's, but no `..data`
  const plainStore = path.join(root, 'x509', 'ca', 'plain');
  await mkdir(plainStore, { recursive: true });
  await symlink('..data/root.pem', path.join(plainStore, 'root.pem'));
  // `..data` pointing out of the directory
  const escaping = path.join(root, 'x509', 'ca', 'escaping');
  await mkdir(escaping, { recursive: true });
  await symlink(root, path.join(escaping, '..data'));
  await symlink('..data/elsewhere.pem', path.join(escaping, 'elsewhere.pem'));

  const store = new FileTrustStore(root, { recheckIntervalMs: 0 });
  for (const name of ['volume', 'plain', 'escaping']) {
    const error = await t.throwsAsync(store.getCertificates('ca', name), { instanceOf: VouchError });
    t.is(error.code, 'INVALID_CONFIG', name);
    t.regex(error.message, /not a regular file/, name);
  }
  t.is(await volumeFileTarget(escaping, 'elsewhere.pem'), undefined);
  t.truthy(await volumeFileTarget(volumeStore, 'root.pem'));
});

test('volume: a trust policy mounted from a ConfigMap is read; a symlink elsewhere is refused', async (t) => {
  const dir = await tempDir(t);
  const volume = path.join(dir, 'config');
  await writeKubernetesVolume(volume, { 'trustpolicy.json': POLICY('prod-images') });
  t.is((await readOciTrustPolicyFile(path.join(volume, 'trustpolicy.json'))).statements[0]?.name, 'prod-images');

  await writeFile(path.join(dir, 'real.json'), POLICY('other'));
  await symlink(path.join(dir, 'real.json'), path.join(dir, 'linked.json'));
  const error = await t.throwsAsync(readOciTrustPolicyFile(path.join(dir, 'linked.json')), { instanceOf: VouchError });
  t.is(error.code, 'INVALID_CONFIG');
  t.regex(error.message, /symlinks are not supported/);
});
