// Builds the kustomizations of deploy/ with the pinned kustomize (scripts/tools.sh) and checks what
// `kubectl apply -k` would send: the expected kinds, namespaces on namespaced resources only, the image
// pinned, the trust store ConfigMaps under the names the Deployment mounts. The cert-manager component
// is built through an overlay in a temporary directory, as a user would keep one next to deploy/.

import test from 'ava';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT, toolPath } from '../helpers/registries.js';

type Obj = Record<string, any>;

const run = promisify(execFile);
const DEPLOY = join(REPO_ROOT, 'deploy');
/** Kinds that are cluster-scoped (kustomize cannot know it for Gatekeeper's CRDs). */
const CLUSTER_SCOPED = new Set(['Namespace', 'Provider', 'ConstraintTemplate', 'VouchSignedImages', 'SyncSet', 'Assign']);

/** `kustomize build DIR`, parsed; fails with kustomize's message. */
async function build(dir: string): Promise<Obj[]> {
  const { stdout } = await run(toolPath('kustomize'), ['build', dir], { maxBuffer: 16 * 1024 * 1024 });
  return parseAllDocuments(stdout, { uniqueKeys: true }).map((doc, i) => {
    if ('empty' in doc || doc.errors.length > 0) throw new Error(`kustomize build ${dir}: document ${i} does not parse`);
    return doc.toJS() as Obj;
  });
}

const kindsOf = (objects: Obj[]): string[] => objects.map((o) => `${o['kind']}/${o['metadata']['name']}`).sort();

function checkNamespaces(t: import('ava').ExecutionContext, objects: Obj[], namespace: string): void {
  for (const o of objects) {
    const at = `${o['kind']}/${o['metadata']['name']}`;
    if (CLUSTER_SCOPED.has(o['kind'])) t.is(o['metadata']['namespace'], undefined, `${at} is cluster-scoped`);
    else t.is(o['metadata']['namespace'], o['kind'] === 'Config' ? 'gatekeeper-system' : namespace, at);
  }
}

test('kustomize: deploy/ builds the provider with its namespace, image tag and trust store ConfigMaps', async (t) => {
  const objects = await build(DEPLOY);
  t.deepEqual(kindsOf(objects), [
    'ConfigMap/vouch-config',
    'ConfigMap/vouch-truststore-prod',
    'ConfigMap/vouch-truststore-staging',
    'Deployment/vouch',
    'Namespace/vouch-system',
    'NetworkPolicy/vouch',
    'PodDisruptionBudget/vouch',
    'Provider/vouch',
    'Provider/vouch-mutate',
    'Service/vouch',
    'ServiceAccount/vouch',
  ]);
  checkNamespaces(t, objects, 'vouch-system');
  for (const o of objects) t.is(o['metadata']['labels']?.['app.kubernetes.io/name'], 'vouch', `${o['kind']}/${o['metadata']['name']}`);
  const deployment = objects.find((o) => o['kind'] === 'Deployment')!;
  const container = deployment['spec']['template']['spec']['containers'][0];
  t.regex(container['image'], /^ghcr\.io\/vouch-dev\/vouch(?::[\w.-]+|@sha256:[0-9a-f]{64})$/);
  t.not(container['image'], 'ghcr.io/vouch-dev/vouch', 'the image is pinned');
  // labels are added to the pod template, the selector stays as written
  t.is(deployment['spec']['template']['metadata']['labels']['app.kubernetes.io/part-of'], 'vouch');
  t.deepEqual(Object.keys(deployment['spec']['selector']['matchLabels']).sort(), ['app.kubernetes.io/component', 'app.kubernetes.io/name']);
  // the mounted ConfigMaps exist under the names the volumes use (no hash suffix)
  const configMaps = new Set(objects.filter((o) => o['kind'] === 'ConfigMap').map((o) => o['metadata']['name']));
  for (const volume of deployment['spec']['template']['spec']['volumes'] as Obj[]) {
    if (volume['configMap']) t.true(configMaps.has(volume['configMap']['name']), volume['name']);
  }
  const store = objects.find((o) => o['metadata']['name'] === 'vouch-truststore-prod')!;
  t.deepEqual(Object.keys(store['data']), ['root-ca.pem']);
});

test('kustomize: an overlay with the cert-manager component adds the issuers and certificates', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vouch-kustomize-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // kustomize refuses an overlay inside its base, and absolute paths: copy deploy/ next to the overlay.
  await cp(DEPLOY, join(dir, 'deploy'), { recursive: true });
  await mkdir(join(dir, 'overlay'));
  await writeFile(
    join(dir, 'overlay', 'kustomization.yaml'),
    [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources: [../deploy]',
      'components: [../deploy/components/cert-manager]',
      '',
    ].join('\n'),
  );
  const objects = await build(join(dir, 'overlay'));
  const added = kindsOf(objects).filter((k) => /^(Issuer|Certificate)\//.test(k));
  t.deepEqual(added, ['Certificate/vouch-ca', 'Certificate/vouch-tls', 'Issuer/vouch-ca', 'Issuer/vouch-selfsigned']);
  checkNamespaces(t, objects, 'vouch-system');
  const serving = objects.find((o) => o['kind'] === 'Certificate' && o['metadata']['name'] === 'vouch-tls')!;
  t.is(serving['spec']['secretName'], 'vouch-tls');
  const provider = objects.find((o) => o['kind'] === 'Provider' && o['metadata']['name'] === 'vouch')!;
  t.true((serving['spec']['dnsNames'] as string[]).includes(new URL(provider['spec']['url']).hostname));
});

test('kustomize: deploy/gatekeeper/ builds the template, the Constraints and the Namespace sync', async (t) => {
  const objects = await build(join(DEPLOY, 'gatekeeper'));
  t.deepEqual(kindsOf(objects), [
    'ConstraintTemplate/vouchsignedimages',
    'SyncSet/vouch-namespaces',
    'VouchSignedImages/vouch-by-namespace-label',
    'VouchSignedImages/vouch-prod',
    'VouchSignedImages/vouch-staging',
    'VouchSignedImages/vouch-staging-undecided',
  ]);
  checkNamespaces(t, objects, 'vouch-system');
  const template = objects.find((o) => o['kind'] === 'ConstraintTemplate')!;
  t.is(template['spec']['crd']['spec']['names']['kind'], 'VouchSignedImages');
});

test('kustomize: deploy/gatekeeper/mutation/ builds seven cluster-scoped Assign mutators', async (t) => {
  const objects = await build(join(DEPLOY, 'gatekeeper', 'mutation'));
  t.is(objects.length, 7);
  t.true(objects.every((o) => o['kind'] === 'Assign' && o['apiVersion'] === 'mutations.gatekeeper.sh/v1'));
  checkNamespaces(t, objects, 'vouch-system');
});
