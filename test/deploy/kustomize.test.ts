// Builds the kustomizations of deploy/ with the pinned kustomize (scripts/tools.sh) and checks what
// `kubectl apply -k` would send: the expected kinds, namespaces on namespaced resources only, the image
// pinned, the trust store ConfigMaps under the names the Deployment mounts. The cert-manager component
// is built through an overlay in a temporary directory, as a user would keep one next to deploy/; the
// example overlay (deploy/overlays/example) is built as committed, and vouch loads what it mounts.
// The Providers' caBundle: absent from the base, so applying it (again) never changes a value set later,
// checked with kubectl's client-side three-way merge and with server-side apply field ownership.

import test from 'ava';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual, promisify } from 'node:util';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { EnvironmentSet, loadConfig } from '../../src/config/index.js';
import { readCertificateFile } from '../../src/trust/index.js';
import { REPO_ROOT, toolPath } from '../helpers/registries.js';
import { createTlsMaterial } from '../helpers/tls.js';

type Obj = Record<string, any>;

const run = promisify(execFile);
const DEPLOY = join(REPO_ROOT, 'deploy');
const BASE = join(DEPLOY, 'base');
const EXAMPLE = join(DEPLOY, 'overlays', 'example');
/** The one namespace label that names a namespace's vouch environment (issue 16). */
const ENVIRONMENT_LABEL = 'vouch.dev/environment';
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

// ---------------------------------------------------------------------------------------------------
// The example overlay

const named = (objects: Obj[], kind: string, name: string): Obj => {
  const found = objects.filter((o) => o['kind'] === kind && o['metadata']['name'] === name);
  if (found.length !== 1) throw new Error(`expected one ${kind}/${name}, found ${found.length}`);
  return found[0]!;
};

test('kustomize: deploy/overlays/example builds from the checkout: its trust stores, config, image digest and cert-manager', async (t) => {
  const [objects, base] = await Promise.all([build(EXAMPLE), build(DEPLOY)]);
  const certManager = ['Certificate/vouch-ca', 'Certificate/vouch-tls', 'Issuer/vouch-ca', 'Issuer/vouch-selfsigned'];
  t.deepEqual(kindsOf(objects), [...kindsOf(base), ...certManager].sort());
  checkNamespaces(t, objects, 'vouch-system');
  // The base's ConfigMaps are replaced under the same names (mounted by name), with the overlay's files.
  const config = named(objects, 'ConfigMap', 'vouch-config');
  t.deepEqual(Object.keys(config['data']).sort(), ['config.yaml', 'trustpolicy.prod.json', 'trustpolicy.staging.json']);
  for (const key of Object.keys(config['data'])) t.is(config['data'][key], await readFile(join(EXAMPLE, key), 'utf8'), key);
  for (const store of ['prod', 'staging']) {
    const data = named(objects, 'ConfigMap', `vouch-truststore-${store}`)['data'] as Record<string, string>;
    t.deepEqual(Object.keys(data), ['root-ca.pem']);
    t.notRegex(data['root-ca.pem']!, /PLACEHOLDER/);
    const certs = readCertificateFile(Buffer.from(data['root-ca.pem']!));
    t.true(certs.length >= 1 && certs.every((c) => c.isCA), `ca:${store} holds CA certificates`);
    t.true(
      new Date(new X509Certificate(data['root-ca.pem']!).validTo).getTime() > Date.now() + 365 * 86_400_000,
      `ca:${store} valid a year on`,
    );
  }
  const deployment = named(objects, 'Deployment', 'vouch');
  t.regex(deployment['spec']['template']['spec']['containers'][0]['image'], /^ghcr\.io\/vouch-dev\/vouch@sha256:[0-9a-f]{64}$/);
  t.is(deployment['spec']['replicas'], 3);
  for (const o of objects.filter((o) => o['kind'] === 'Provider')) t.false('caBundle' in o['spec'], o['metadata']['name']);
});

test("kustomize: vouch loads the example overlay's config.yaml, trust policies and example roots from the mounts", async (t) => {
  const objects = await build(EXAMPLE);
  const root = await mkdtemp(join(tmpdir(), 'vouch-example-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const tls = await createTlsMaterial();
  t.teardown(() => rm(tls.dir, { recursive: true, force: true }));
  const secrets: Record<string, Record<string, string>> = {
    'vouch-tls': { 'tls.crt': await readFile(tls.files.certFile, 'utf8'), 'tls.key': await readFile(tls.files.keyFile, 'utf8') },
    'gatekeeper-ca': { 'ca.crt': await readFile(tls.files.clientCAFile, 'utf8') },
  };
  // Absolute paths of config.yaml moved under `root`, where the mounts are written.
  const moved = (value: unknown): unknown => {
    if (typeof value === 'string' && value.startsWith('/')) return join(root, value);
    if (Array.isArray(value)) return value.map(moved);
    if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, moved(v)]));
    return value;
  };
  const pod = named(objects, 'Deployment', 'vouch')['spec']['template']['spec'];
  const container = pod['containers'][0];
  for (const mount of container['volumeMounts'] as Obj[]) {
    const volume = (pod['volumes'] as Obj[]).find((v) => v['name'] === mount['name'])!;
    const dir = join(root, mount['mountPath']);
    await mkdir(dir, { recursive: true });
    let data: Record<string, string> = {};
    if (volume['configMap']) data = { ...named(objects, 'ConfigMap', volume['configMap']['name'])['data'] };
    else if (volume['secret']) data = secrets[volume['secret']['secretName']]!;
    if (data['config.yaml'] !== undefined) data['config.yaml'] = JSON.stringify(moved(parseYaml(data['config.yaml'])));
    for (const [key, value] of Object.entries(data)) await writeFile(join(dir, key), value);
  }
  const loaded = await loadConfig(join(root, container['args'][2]));
  t.deepEqual(loaded.allowedRegistries, ['registry.example.com', '*.registry.example.com']);
  const environments = await EnvironmentSet.load(loaded, { watch: false });
  try {
    const status = environments.status();
    t.true(status.ready, JSON.stringify(status));
    t.deepEqual(environments.names(), ['prod', 'staging']);
  } finally {
    await environments.close();
  }
});

// ---------------------------------------------------------------------------------------------------
// One namespace label

test(`kustomize: every Constraint, fixture and install instruction names namespaces by ${ENVIRONMENT_LABEL}`, async (t) => {
  const constraints = (await build(join(DEPLOY, 'gatekeeper'))).filter((o) => o['kind'] === 'VouchSignedImages');
  for (const file of ['constraint.yaml', 'constraint-invalid.yaml', 'constraint-undecided-ignore.yaml', 'namespace-team-a.yaml']) {
    for (const doc of parseAllDocuments(await readFile(join(DEPLOY, 'gatekeeper', 'gator', file), 'utf8')))
      constraints.push(doc.toJS() as Obj);
  }
  t.true(constraints.length >= 7);
  for (const o of constraints) {
    const at = `${o['kind']}/${o['metadata']['name']}`;
    if (o['kind'] === 'Namespace') {
      t.deepEqual(
        Object.keys(o['metadata']['labels'] ?? {}).filter((k) => /environment/i.test(k)),
        [ENVIRONMENT_LABEL],
        at,
      );
      continue;
    }
    const selector = o['spec']['match']?.['namespaceSelector'] as Obj | undefined;
    const keys = [
      ...Object.keys(selector?.['matchLabels'] ?? {}),
      ...((selector?.['matchExpressions'] as Obj[] | undefined) ?? []).map((e) => e['key'] as string),
    ];
    t.deepEqual(
      keys.filter((k) => k !== ENVIRONMENT_LABEL && !k.startsWith('kubernetes.io/')),
      [],
      `${at}: namespaceSelector`,
    );
    const label = o['spec']['parameters']?.['environmentLabel'];
    if (label !== undefined) t.is(label, ENVIRONMENT_LABEL, `${at}: environmentLabel`);
  }
  const selecting = constraints.filter((o) => o['spec']?.['match']?.['namespaceSelector']);
  t.true(selecting.length >= 3, 'the per-environment Constraints select namespaces by the label');
  for (const doc of ['README.md', 'deploy/README.md']) {
    const text = await readFile(join(REPO_ROOT, doc), 'utf8');
    t.notRegex(text, /kubectl label (?:namespace|ns) \S+ environment=/, doc);
    t.notRegex(text, /labell?ed\s+`environment: /, doc);
  }
});

// ---------------------------------------------------------------------------------------------------
// caBundle: injected, never overwritten by an apply

type Json = Record<string, unknown>;
const isMap = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * kubectl's client-side apply for a custom resource: a three-way JSON merge patch
 * (k8s.io/apimachinery jsonmergepatch.CreateThreeWayJSONMergePatch) from the last-applied
 * configuration (`original`, absent when the object was created by something else), the new
 * configuration and the live object, applied to the live object (RFC 7386).
 */
function threeWayPatch(original: Json | undefined, modified: Json, current: Json): Json {
  // Deletions come only from original -> modified; additions and changes from current -> modified.
  return mergeDeep(only(diff(original ?? {}, modified), true), only(diff(current, modified), false));
}
/** The JSON merge patch that turns `from` into `to`. */
function diff(from: Json, to: Json): Json {
  const patch: Json = {};
  for (const k of Object.keys(from)) if (!(k in to)) patch[k] = null;
  for (const [k, v] of Object.entries(to)) {
    const was = from[k];
    if (isMap(v) && isMap(was)) {
      const inner = diff(was, v);
      if (Object.keys(inner).length > 0) patch[k] = inner;
    } else if (!isDeepStrictEqual(v, was)) patch[k] = v;
  }
  return patch;
}
/** A patch's deletions only (`true`), or everything but its deletions (`false`). */
function only(patch: Json, deletions: boolean): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(patch)) {
    if (isMap(v)) {
      const inner = only(v, deletions);
      if (Object.keys(inner).length > 0) out[k] = inner;
    } else if ((v === null) === deletions) out[k] = v;
  }
  return out;
}
function mergeDeep(a: Json, b: Json): Json {
  const out: Json = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = isMap(v) && isMap(out[k]) ? mergeDeep(out[k] as Json, v) : v;
  return out;
}
/** RFC 7386. */
function mergePatch(target: Json, patch: Json): Json {
  const out: Json = { ...target };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (isMap(v)) out[k] = mergePatch(isMap(out[k]) ? (out[k] as Json) : {}, v);
    else out[k] = v;
  }
  return out;
}
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
function clientSideApply(live: Json, config: Json): Json {
  const annotations = ((live['metadata'] as Json)['annotations'] ?? {}) as Record<string, string>;
  const original = annotations[LAST_APPLIED] ? (JSON.parse(annotations[LAST_APPLIED]) as Json) : undefined;
  const next = mergePatch(live, threeWayPatch(original, config, live));
  const metadata = next['metadata'] as Json;
  metadata['annotations'] = { ...((metadata['annotations'] as Json) ?? {}), [LAST_APPLIED]: JSON.stringify(config) };
  return next;
}

/** Leaf paths of an object ("spec.caBundle"); the unit of server-side apply's field ownership. */
const leaves = (v: unknown, at = ''): string[] =>
  isMap(v) ? Object.entries(v).flatMap(([k, x]) => leaves(x, at ? `${at}.${k}` : k)) : [at];
function getPath(o: Json, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (isMap(v) ? v[k] : undefined), o);
}
function setPath(o: Json, path: string, value: unknown): void {
  const keys = path.split('.');
  let at = o;
  for (const k of keys.slice(0, -1)) at = (at[k] = isMap(at[k]) ? at[k] : {}) as Json;
  if (value === undefined) delete at[keys.at(-1)!];
  else at[keys.at(-1)!] = value;
}
/**
 * Server-side apply (https://kubernetes.io/docs/reference/using-api/server-side-apply/): the manager
 * comes to own the fields of its configuration; a field it owned before and no longer names is removed
 * unless another manager owns it; a field another manager owns with a different value is a conflict.
 */
function serverSideApply(live: Json, owners: Map<string, Set<string>>, manager: string, config: Json): Json {
  const next = structuredClone(live);
  const now = new Set(leaves(config));
  for (const path of now) {
    for (const [other, fields] of owners) {
      if (other !== manager && fields.has(path) && !isDeepStrictEqual(getPath(live, path), getPath(config, path)))
        throw new Error(`conflict with "${other}": ${path}`);
    }
    setPath(next, path, getPath(config, path));
  }
  for (const path of owners.get(manager) ?? []) {
    const others = [...owners].some(([other, fields]) => other !== manager && fields.has(path));
    if (!now.has(path) && !others) setPath(next, path, undefined);
  }
  owners.set(manager, now);
  return next;
}

/** What Gatekeeper's webhook requires of an https Provider (frameworks pkg/externaldata isValidCABundle). */
function gatekeeperAccepts(provider: Json): boolean {
  const bundle = (provider['spec'] as Json)['caBundle'];
  if (typeof bundle !== 'string' || bundle === '') return false;
  try {
    return new X509Certificate(Buffer.from(bundle, 'base64')).ca;
  } catch {
    return false;
  }
}

/** The two Providers of a build, as gen-tls.sh creates them (kubectl create, no annotation) with `ca`. */
async function providersAfterGenTls(ca: string): Promise<{ built: Obj[]; live: Json[] }> {
  const built = (await build(BASE)).filter((o) => o['kind'] === 'Provider');
  const live = built.map((p) => {
    const created = structuredClone(p) as Json;
    (created['spec'] as Json)['caBundle'] = ca;
    return created;
  });
  return { built, live };
}

const exampleCa = async (): Promise<string> =>
  Buffer.from(await readFile(join(EXAMPLE, 'truststores', 'prod', 'root-ca.pem'), 'utf8')).toString('base64');

test('kustomize: building the base twice and applying it (client-side) never changes a caBundle set later', async (t) => {
  const ca = await exampleCa();
  const { live } = await providersAfterGenTls(ca);
  for (let p of live) {
    const name = (p['metadata'] as Json)['name'];
    for (let round = 0; round < 2; round++) {
      const config = named(await build(BASE), 'Provider', name as string) as Json;
      t.false('caBundle' in (config['spec'] as Json));
      p = clientSideApply(p, config);
      t.is((p['spec'] as Json)['caBundle'], ca, `${name}: apply ${round + 1}`);
      t.true(gatekeeperAccepts(p), `${name}: Gatekeeper's webhook accepts the update`);
      t.deepEqual(p['spec'], { ...(config['spec'] as Json), caBundle: ca });
    }
  }
});

test('kustomize: with server-side apply, the caBundle stays with the manager that set it', async (t) => {
  const ca = await exampleCa();
  const { live } = await providersAfterGenTls(ca);
  for (let p of live) {
    const name = (p['metadata'] as Json)['name'] as string;
    // gen-tls.sh created it: that manager owns every field it sent, caBundle included.
    const owners = new Map([['kubectl-create', new Set(leaves(p))]]);
    for (let round = 0; round < 2; round++) {
      p = serverSideApply(p, owners, 'kubectl', named(await build(BASE), 'Provider', name) as Json);
      t.is((p['spec'] as Json)['caBundle'], ca, `${name}: apply ${round + 1}`);
    }
    // gen-tls.sh renewing the CA later: a merge patch by another manager, the next apply keeps it.
    const renewed = Buffer.from(await readFile(join(EXAMPLE, 'truststores', 'staging', 'root-ca.pem'), 'utf8')).toString('base64');
    (p['spec'] as Json)['caBundle'] = renewed;
    owners.set('kubectl-patch', new Set(['spec.caBundle']));
    p = serverSideApply(p, owners, 'kubectl', named(await build(BASE), 'Provider', name) as Json);
    t.is((p['spec'] as Json)['caBundle'], renewed);
  }
});

test('kustomize: the apply model catches an overwrite (a base with a caBundle) and the one-time upgrade step', async (t) => {
  const ca = await exampleCa();
  const { live } = await providersAfterGenTls(ca);
  const placeholder = Buffer.from('-----BEGIN CERTIFICATE-----\nplaceholder\n-----END CERTIFICATE-----\n').toString('base64');
  const config = structuredClone(named(await build(BASE), 'Provider', 'vouch')) as Json;
  const old = structuredClone(config);
  (old['spec'] as Json)['caBundle'] = placeholder;
  // A base that carried a caBundle (as before issue 16) puts it back on every apply.
  const overwritten = clientSideApply(clientSideApply(live[0]!, old), old);
  t.is((overwritten['spec'] as Json)['caBundle'], placeholder);
  t.throws(() => serverSideApply(live[0]!, new Map([['kubectl-create', new Set(leaves(live[0]))]]), 'kubectl', old), {
    message: /conflict .*spec\.caBundle/,
  });
  // Upgrading from such a base: its last-applied configuration names caBundle, so the first apply of the
  // new base would delete it (and Gatekeeper's webhook refuses the update) ...
  const upgraded = structuredClone(overwritten);
  (upgraded['spec'] as Json)['caBundle'] = ca;
  const deleted = clientSideApply(upgraded, config);
  t.false('caBundle' in (deleted['spec'] as Json));
  t.false(gatekeeperAccepts(deleted));
  // ... unless the annotation is removed once (deploy/README.md "Upgrading"): then the value stays.
  delete ((upgraded['metadata'] as Json)['annotations'] as Json)[LAST_APPLIED];
  const kept = clientSideApply(clientSideApply(upgraded, config), config);
  t.is((kept['spec'] as Json)['caBundle'], ca);
  t.true(gatekeeperAccepts(kept));
});
