// Static checks of the Kubernetes manifests in deploy/ (deploy/README.md): every YAML document parses,
// every resource has the fields its kind needs, and the pieces fit together — volumes name ConfigMaps
// and Secrets that exist, the Service and the Providers reach the container's ports, the paths in the
// embedded vouch config.yaml lie under the Deployment's mounts, the trust policies name mounted trust
// stores, and the Gatekeeper Constraints and mutators use only what the template and Providers offer.
// The embedded configuration is also loaded by vouch's own loader from the layout the pod would see.

import test from 'ava';
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix, relative } from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { DEFAULT_REQUEST_TIMEOUT_MS, EnvironmentSet, loadConfig } from '../../src/config/index.js';
import { parseOciTrustPolicy, readCertificateFile, referencedTrustStores } from '../../src/trust/index.js';
import { REPO_ROOT } from '../helpers/registries.js';
import { generateRoot } from '../helpers/pki.js';
import { createTlsMaterial } from '../helpers/tls.js';

// ---------------------------------------------------------------------------------------------------
// Loading

// Manifests are untyped YAML; each check reads only the fields it asserts on.
type Obj = Record<string, any>;

interface Doc {
  /** Path relative to the repository root. */
  file: string;
  /** Index of the document in its file (0-based, counting empty documents). */
  index: number;
  value: Obj;
}

const DEPLOY = join(REPO_ROOT, 'deploy');
/** The kustomize base; deploy/kustomization.yaml only names it, overlays/ build on it. */
const BASE = join(DEPLOY, 'base');
/**
 * Paths under deploy/ that are not Kubernetes manifests: directories other checks own (Helm templates
 * are not plain YAML) and the example overlay's vouch config.yaml, data of its configMapGenerator
 * (test/deploy/kustomize.test.ts loads it with vouch's loader).
 */
const NOT_MANIFESTS = new Set([join(DEPLOY, 'helm'), join(DEPLOY, 'monitoring'), join(DEPLOY, 'overlays', 'example', 'config.yaml')]);
/** Secrets the manifests use but do not declare: scripts/gen-tls.sh (or cert-manager) creates them. */
const EXTERNAL_SECRETS = new Set(['vouch-tls', 'gatekeeper-ca']);
const SYSTEM_NAMESPACES = ['kube-system', 'gatekeeper-system', 'vouch-system'];
const CONSTRAINT_PARAMETERS = ['provider', 'environment', 'namespaceEnvironments', 'environmentLabel', 'exemptImages', 'undecided'];
const UNDECIDED = ['violation', 'ignore', 'only'];

async function yamlFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!NOT_MANIFESTS.has(path)) out.push(...(await yamlFiles(path)));
    } else if (/\.ya?ml$/.test(entry.name) && !NOT_MANIFESTS.has(path)) out.push(path);
  }
  return out.sort();
}

/** Parses every document of a file; errors (syntax, duplicate keys) name the file and the document. */
function parseDocs(file: string, text: string): { docs: Doc[]; errors: string[] } {
  const rel = relative(REPO_ROOT, file);
  const docs: Doc[] = [];
  const errors: string[] = [];
  parseAllDocuments(text, { uniqueKeys: true, prettyErrors: true }).forEach((doc, index) => {
    if ('empty' in doc) return;
    for (const error of [...doc.errors, ...doc.warnings]) errors.push(`${rel}: document ${index}: ${error.message}`);
    if (doc.errors.length > 0) return;
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return;
    if (typeof value !== 'object' || Array.isArray(value)) {
      errors.push(`${rel}: document ${index}: not a mapping`);
      return;
    }
    docs.push({ file: rel, index, value: value as Obj });
  });
  return { docs, errors };
}

const files = await yamlFiles(DEPLOY);
const parsed = await Promise.all(files.map(async (file) => parseDocs(file, await readFile(file, 'utf8'))));
const allDocs = parsed.flatMap((p) => p.docs);
const parseErrors = parsed.flatMap((p) => p.errors);

const where = (doc: Doc): string => `${doc.file}#${doc.index} (${doc.value['kind']} ${doc.value['metadata']?.['name'] ?? '?'})`;

/**
 * The resources a kustomization produces, read statically: its `resources` (files and directories),
 * its components' resources, and the ConfigMaps of its configMapGenerator (data from the files).
 */
async function kustomizationResources(dir: string): Promise<Doc[]> {
  const kustomization = parseYaml(await readFile(join(dir, 'kustomization.yaml'), 'utf8')) as Obj;
  const out: Doc[] = [];
  for (const entry of [...((kustomization['resources'] as string[]) ?? []), ...((kustomization['components'] as string[]) ?? [])]) {
    const path = join(dir, entry);
    if (existsSync(join(path, 'kustomization.yaml'))) out.push(...(await kustomizationResources(path)));
    else out.push(...allDocs.filter((d) => d.file === relative(REPO_ROOT, path)));
  }
  for (const [i, generator] of ((kustomization['configMapGenerator'] as Obj[]) ?? []).entries()) {
    const data: Record<string, string> = {};
    for (const spec of (generator['files'] as string[]) ?? []) {
      const [key, source] = spec.includes('=') ? (spec.split('=', 2) as [string, string]) : [basename(spec), spec];
      data[key] = await readFile(join(dir, source), 'utf8');
    }
    out.push({
      file: relative(REPO_ROOT, join(dir, 'kustomization.yaml')),
      index: -1 - i,
      value: {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: generator['name'], namespace: generator['namespace'] },
        data,
        generatorOptions: generator['options'],
      },
    });
  }
  return out;
}

const base = await kustomizationResources(DEPLOY);
const gatekeeper = await kustomizationResources(join(DEPLOY, 'gatekeeper'));
const mutation = await kustomizationResources(join(DEPLOY, 'gatekeeper', 'mutation'));
const baseKustomization = parseYaml(await readFile(join(BASE, 'kustomization.yaml'), 'utf8')) as Obj;

function only(docs: Doc[], kind: string, name?: string): Doc {
  const found = docs.filter((d) => d.value['kind'] === kind && (name === undefined || d.value['metadata']?.['name'] === name));
  if (found.length !== 1) throw new Error(`expected exactly one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0]!;
}
const ofKind = (docs: Doc[], kind: string): Doc[] => docs.filter((d) => d.value['kind'] === kind);

const deployment = only(base, 'Deployment', 'vouch').value;
const podSpec: Obj = deployment['spec']['template']['spec'];
const container: Obj = podSpec['containers'][0];
const podLabels: Record<string, string> = deployment['spec']['template']['metadata']['labels'];
const configMap = only(base, 'ConfigMap', 'vouch-config').value;
const configText: string = configMap['data']['config.yaml'];
const config = parseYaml(configText, { uniqueKeys: true }) as Obj;
const service = only(base, 'Service', 'vouch').value;
const providers = ofKind(base, 'Provider').map((d) => d.value);

const containerPort = (name: string): number | undefined =>
  (container['ports'] as Obj[]).find((p) => p['name'] === name)?.['containerPort'] as number | undefined;
const portOf = (address: string): number => Number(address.slice(address.lastIndexOf(':') + 1));
const matches = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
const mounts = (): Obj[] => container['volumeMounts'] as Obj[];
const volume = (name: string): Obj | undefined => (podSpec['volumes'] as Obj[]).find((v) => v['name'] === name);
/** The mount whose directory holds `path` (the longest such mount). */
function mountFor(path: string): Obj | undefined {
  return mounts()
    .filter((m) => path.startsWith(`${m['mountPath']}/`))
    .sort((a, b) => b['mountPath'].length - a['mountPath'].length)[0];
}

// ---------------------------------------------------------------------------------------------------
// Every document

test('manifests: every YAML document under deploy/ parses, without duplicate keys', (t) => {
  t.true(files.length > 10, `found only ${files.length} YAML files`);
  t.deepEqual(parseErrors, []);
});

test('manifests: every document has apiVersion, kind and metadata.name', (t) => {
  const problems: string[] = [];
  for (const doc of allDocs) {
    const { apiVersion, kind, metadata } = doc.value;
    if (typeof apiVersion !== 'string' || apiVersion === '') problems.push(`${where(doc)}: no apiVersion`);
    if (typeof kind !== 'string' || kind === '') problems.push(`${where(doc)}: no kind`);
    // kustomizations and gator suites are not cluster resources
    if (['Kustomization', 'Component', 'Suite'].includes(kind)) continue;
    if (typeof metadata?.['name'] !== 'string' || metadata['name'] === '') problems.push(`${where(doc)}: no metadata.name`);
  }
  t.deepEqual(problems, []);
});

test('manifests: the base kustomization lists every manifest in deploy/base/ and nothing twice', async (t) => {
  const listed = (baseKustomization['resources'] as string[]).filter((r) => /\.ya?ml$/.test(r));
  const present = (await readdir(BASE)).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
  t.deepEqual([...listed].sort(), present.sort());
  const ids = base.map((d) => `${d.value['kind']}/${d.value['metadata']?.['namespace'] ?? ''}/${d.value['metadata']?.['name']}`);
  t.deepEqual(
    ids.filter((id, i) => ids.indexOf(id) !== i),
    [],
  );
});

test('manifests: namespaced resources of the base name vouch-system, cluster-scoped ones no namespace', (t) => {
  const clusterScoped = new Set(['Namespace', 'Provider']);
  for (const doc of base) {
    const namespace = doc.value['metadata']?.['namespace'];
    if (clusterScoped.has(doc.value['kind'])) t.is(namespace, undefined, where(doc));
    else t.is(namespace, 'vouch-system', where(doc));
  }
  t.is(only(base, 'Namespace').value['metadata']['name'], 'vouch-system');
});

test('manifests: no private key is committed under deploy/', async (t) => {
  for (const file of files) t.false((await readFile(file, 'utf8')).includes('PRIVATE KEY'), relative(REPO_ROOT, file));
});

// ---------------------------------------------------------------------------------------------------
// Deployment

test('manifests: the Deployment runs 2 hardened replicas of the vouch image', (t) => {
  t.is(deployment['spec']['replicas'], 2);
  t.deepEqual(deployment['spec']['selector']['matchLabels'], {
    'app.kubernetes.io/name': 'vouch',
    'app.kubernetes.io/component': 'provider',
  });
  t.true(matches(deployment['spec']['selector']['matchLabels'], podLabels), 'selector matches the pod template labels');

  t.is(podSpec['automountServiceAccountToken'], false);
  const serviceAccount = only(base, 'ServiceAccount', podSpec['serviceAccountName']).value;
  t.is(serviceAccount['automountServiceAccountToken'], false);

  const pod = podSpec['securityContext'];
  t.is(pod['runAsNonRoot'], true);
  t.is(pod['runAsUser'], 10001);
  t.is(pod['seccompProfile']['type'], 'RuntimeDefault');
  const sc = container['securityContext'];
  t.is(sc['runAsNonRoot'], true);
  t.is(sc['runAsUser'], 10001);
  t.is(sc['readOnlyRootFilesystem'], true);
  t.is(sc['allowPrivilegeEscalation'], false);
  t.deepEqual(sc['capabilities']['drop'], ['ALL']);
  t.is(sc['capabilities']['add'], undefined);
  t.is(sc['seccompProfile']['type'], 'RuntimeDefault');

  t.is(container['image'], 'ghcr.io/vouch-dev/vouch');
  const image = (baseKustomization['images'] as Obj[]).find((i) => i['name'] === container['image']);
  t.truthy(image?.['newTag'] ?? image?.['digest'], 'kustomization.yaml pins the image');
  t.deepEqual(container['args'], ['serve', '--config', '/etc/vouch/config/config.yaml']);
  t.is((container['env'] as Obj[]).find((e) => e['name'] === 'NODE_ENV')?.['value'], 'production');

  const anti = podSpec['affinity']['podAntiAffinity']['preferredDuringSchedulingIgnoredDuringExecution'] as Obj[];
  t.true(anti.some((term) => term['podAffinityTerm']['topologyKey'] === 'kubernetes.io/hostname'));
  t.true(anti.every((term) => matches(term['podAffinityTerm']['labelSelector']['matchLabels'], podLabels)));
  for (const spread of (podSpec['topologySpreadConstraints'] as Obj[]) ?? [])
    t.true(matches(spread['labelSelector']['matchLabels'], podLabels));
});

test('manifests: the container has ports https 8443, grpc 9443, health 8080, probes on health and bounded resources', (t) => {
  t.is(containerPort('https'), 8443);
  t.is(containerPort('grpc'), 9443);
  t.is(containerPort('health'), 8080);
  t.is(container['livenessProbe']['httpGet']['path'], '/healthz');
  t.is(container['readinessProbe']['httpGet']['path'], '/readyz');
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    if (container[probe] === undefined) continue;
    // the HTTPS port requires a client certificate the kubelet cannot present
    t.is(container[probe]['httpGet']['port'], 'health', probe);
    t.is(container[probe]['httpGet']['scheme'] ?? 'HTTP', 'HTTP', probe);
  }
  for (const kind of ['requests', 'limits']) {
    t.truthy(container['resources'][kind]['cpu'], `resources.${kind}.cpu`);
    t.truthy(container['resources'][kind]['memory'], `resources.${kind}.memory`);
  }
});

test('manifests: the grace period outlasts the preStop pause plus one request budget', (t) => {
  const requestTimeoutMs: number = Math.max(
    config['server']['requestTimeoutMs'] ?? DEFAULT_REQUEST_TIMEOUT_MS,
    config['server']['mutateTimeoutMs'] ?? 0,
  );
  const preStopMs = (container['lifecycle']?.['preStop']?.['sleep']?.['seconds'] ?? 0) * 1000;
  t.true(podSpec['terminationGracePeriodSeconds'] * 1000 > preStopMs + requestTimeoutMs);
});

test('manifests: volumes name ConfigMaps and Secrets that exist, every mount a declared volume, no subPath', (t) => {
  const configMaps = new Set(ofKind(base, 'ConfigMap').map((d) => d.value['metadata']['name']));
  const secrets = new Set(ofKind(base, 'Secret').map((d) => d.value['metadata']['name']));
  const volumes = podSpec['volumes'] as Obj[];
  for (const v of volumes) {
    if (v['configMap']) t.true(configMaps.has(v['configMap']['name']), `volume ${v['name']}: ConfigMap ${v['configMap']['name']}`);
    if (v['secret']) {
      const name = v['secret']['secretName'];
      t.true(secrets.has(name) || EXTERNAL_SECRETS.has(name), `volume ${v['name']}: Secret ${name}`);
    }
    t.true(
      mounts().some((m) => m['name'] === v['name']),
      `volume ${v['name']} is mounted`,
    );
  }
  for (const m of mounts()) {
    t.truthy(volume(m['name']), `volumeMount ${m['name']} names a volume`);
    // subPath mounts never see updates of the ConfigMap or Secret
    t.is(m['subPath'], undefined, `volumeMount ${m['name']}`);
    if (m['mountPath'] !== '/tmp') t.is(m['readOnly'], true, `volumeMount ${m['name']}`);
  }
  t.truthy(volume(mountFor('/tmp/x')?.['name'])?.['emptyDir'], '/tmp is an emptyDir');
  // Trust store ConfigMaps keep their names, so edits update the mounted files in place.
  for (const doc of ofKind(base, 'ConfigMap').filter((d) => d.index < 0)) {
    t.is(doc.value['generatorOptions']?.['disableNameSuffixHash'], true, doc.value['metadata']['name']);
  }
});

test('manifests: the trust store placeholders are refused by vouch until replaced', (t) => {
  for (const doc of ofKind(base, 'ConfigMap').filter((d) => /^vouch-truststore-/.test(d.value['metadata']['name']))) {
    for (const [key, text] of Object.entries(doc.value['data'] as Record<string, string>)) {
      t.regex(text, /PLACEHOLDER/, `${doc.value['metadata']['name']}/${key}`);
      t.throws(() => readCertificateFile(Buffer.from(text)), undefined, `${doc.value['metadata']['name']}/${key} is not a certificate`);
    }
  }
});

// ---------------------------------------------------------------------------------------------------
// Service, PodDisruptionBudget, NetworkPolicy

test('manifests: the Service selects the pods and targets named container ports', (t) => {
  t.is(service['spec']['type'] ?? 'ClusterIP', 'ClusterIP');
  t.true(matches(service['spec']['selector'], podLabels));
  const ports = service['spec']['ports'] as Obj[];
  const byName = Object.fromEntries(ports.map((p) => [p['name'], p]));
  t.deepEqual(
    ports.map((p) => p['name']),
    ['https', 'grpc', 'metrics'],
  );
  t.is(byName['https']['port'], 8443);
  t.is(byName['grpc']['port'], 9443);
  t.is(byName['metrics']['port'], 8080);
  for (const p of ports) {
    const target = p['targetPort'];
    t.is(typeof target, 'string', `port ${p['name']}: targetPort by name`);
    t.not(containerPort(target), undefined, `port ${p['name']}: targetPort ${target} is a container port`);
  }
  t.is(byName['https']['targetPort'], 'https');
  t.is(byName['metrics']['targetPort'], 'health');
});

test('manifests: the PodDisruptionBudget keeps one pod and selects the pods', (t) => {
  const pdb = only(base, 'PodDisruptionBudget').value;
  t.is(pdb['spec']['minAvailable'], 1);
  t.true(matches(pdb['spec']['selector']['matchLabels'], podLabels));
});

test('manifests: the NetworkPolicy admits Gatekeeper to https, anyone to health, and lets vouch reach DNS and registries', (t) => {
  const policy = only(base, 'NetworkPolicy').value;
  t.true(matches(policy['spec']['podSelector']['matchLabels'], podLabels));
  t.deepEqual(policy['spec']['policyTypes'], ['Ingress', 'Egress']);
  const ingress = policy['spec']['ingress'] as Obj[];
  const rule = (port: string | number) =>
    ingress.find((r) => (r['ports'] as Obj[]).some((p) => p['port'] === port || containerPort(String(p['port'])) === port));
  const https = rule('https');
  t.deepEqual(https?.['from'], [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'gatekeeper-system' } } }]);
  t.not(rule('health'), undefined);
  t.is(rule('health')?.['from'], undefined, 'health and metrics from anywhere (kubelet, Prometheus)');
  for (const r of ingress) {
    for (const p of r['ports'] as Obj[]) {
      if (typeof p['port'] === 'string') t.not(containerPort(p['port']), undefined, `ingress port ${p['port']} is a container port`);
    }
  }
  const egressPorts = (policy['spec']['egress'] as Obj[]).flatMap((r) => (r['ports'] as Obj[]).map((p) => `${p['protocol']}/${p['port']}`));
  for (const needed of ['UDP/53', 'TCP/53', 'TCP/443']) t.true(egressPorts.includes(needed), needed);
});

// ---------------------------------------------------------------------------------------------------
// Providers

/**
 * Gatekeeper's webhook timeouts (seconds): the validating webhook's default in Gatekeeper's chart
 * (`validatingWebhookTimeoutSeconds: 3`) and the mutating timeout deploy/README.md asks for (the chart's
 * default is 1 s). They carry the API server -> Gatekeeper hop too.
 */
const WEBHOOK_TIMEOUT_S = { vouch: 3, 'vouch-mutate': 3 } as const;
/** What vouch's answer needs inside the Provider's timeout: a new TLS connection per call, a busy pod. */
const MIN_MARGIN_MS = 400;

test('manifests: the Providers call the Service over HTTPS at /v1/verify and /v1/mutate, within vouch budget', (t) => {
  t.deepEqual(providers.map((p) => p['metadata']['name']).sort(), ['vouch', 'vouch-mutate']);
  const httpsPort = (service['spec']['ports'] as Obj[]).find((p) => p['targetPort'] === 'https')!['port'];
  const host = `${service['metadata']['name']}.${service['metadata']['namespace']}.svc`;
  for (const provider of providers) {
    const name = provider['metadata']['name'];
    t.is(provider['apiVersion'], 'externaldata.gatekeeper.sh/v1beta1');
    const url = new URL(provider['spec']['url']);
    t.is(url.protocol, 'https:', name);
    t.is(url.hostname, host, name);
    t.is(Number(url.port), httpsPort, name);
    t.is(url.pathname, name === 'vouch' ? '/v1/verify' : '/v1/mutate');
  }
});

test('manifests: timeouts nest: vouch budget < Provider timeout < webhook timeout, with margins', (t) => {
  const server = config['server'];
  const verifyBudget: number = server['requestTimeoutMs'] ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const budgets: Record<string, number> = { vouch: verifyBudget, 'vouch-mutate': server['mutateTimeoutMs'] ?? verifyBudget };
  for (const provider of providers) {
    const name: 'vouch' | 'vouch-mutate' = provider['metadata']['name'];
    const timeout = provider['spec']['timeout'];
    t.true(Number.isInteger(timeout) && timeout >= 1, `${name}: spec.timeout is whole seconds`);
    // A hung or unreachable vouch must fail Gatekeeper's call (the template denies: fail closed) before
    // the API server gives up on the webhook (then the failure policy, by default Ignore, decides).
    t.true(timeout < WEBHOOK_TIMEOUT_S[name], `${name}: timeout ${timeout} s vs webhook ${WEBHOOK_TIMEOUT_S[name]} s`);
    // vouch answers undecided keys itself, before Gatekeeper's deadline.
    t.true(
      timeout * 1000 - budgets[name]! >= MIN_MARGIN_MS,
      `${name}: budget ${budgets[name]} ms leaves less than ${MIN_MARGIN_MS} ms of the Provider's ${timeout} s`,
    );
  }
  // the config states the budget (the ConfigMap is where an operator changes it)
  t.is(server['requestTimeoutMs'], DEFAULT_REQUEST_TIMEOUT_MS);
  t.true(server['keepAliveTimeoutMs'] <= 10_000, 'idle connections from Gatekeeper go soon');
  t.true(Number.isInteger(server['maxConnections']));
});

test('manifests: the base leaves the Providers caBundle out, so applying it never overwrites the injected value', (t) => {
  t.is(providers.length, 2);
  for (const provider of providers) {
    // Gatekeeper's webhook refuses an https Provider without caBundle (frameworks pkg/externaldata
    // cache.go isValidCABundle), so the Providers are created by scripts/gen-tls.sh or an overlay patch,
    // and kubectl selects them out of the first apply by this label (deploy/README.md "Install").
    t.false('caBundle' in provider['spec'], provider['metadata']['name']);
    t.is(provider['metadata']['labels']?.['app.kubernetes.io/component'], 'external-data-provider');
  }
});

// ---------------------------------------------------------------------------------------------------
// vouch config.yaml and trust policies

test('manifests: config.yaml listens on the container ports', (t) => {
  const server = config['server'];
  t.is<number | undefined, number | undefined>(portOf(server['address']), containerPort('https'));
  t.is<number | undefined, number | undefined>(portOf(server['grpcAddress']), containerPort('grpc'));
  t.is<number | undefined, number | undefined>(portOf(server['healthAddress']), containerPort('health'));
});

test('manifests: every file config.yaml names lies under a mount that provides it', (t) => {
  const tls = config['server']['tls'];
  const expectFile = (path: string, what: string) => {
    t.true(posix.isAbsolute(path), `${what}: ${path} is absolute`);
    const mount = mountFor(path);
    t.truthy(mount, `${what}: ${path} is under a mount`);
    if (!mount) return;
    const v = volume(mount['name'])!;
    const key = path.slice(mount['mountPath'].length + 1);
    if (v['secret']) {
      const items = v['secret']['items'] as Obj[] | undefined;
      if (items)
        t.true(
          items.some((i) => i['path'] === key),
          `${what}: Secret ${v['secret']['secretName']} projects ${key}`,
        );
      else t.true(EXTERNAL_SECRETS.has(v['secret']['secretName']), what);
    } else if (v['configMap']) {
      const cm = only(base, 'ConfigMap', v['configMap']['name']).value;
      t.true(key in cm['data'], `${what}: ConfigMap ${v['configMap']['name']} has ${key}`);
    } else {
      t.fail(`${what}: ${path} is on volume ${v['name']}, which is neither a ConfigMap nor a Secret`);
    }
  };
  expectFile(tls['certFile'], 'server.tls.certFile');
  expectFile(tls['keyFile'], 'server.tls.keyFile');
  expectFile(tls['clientCAFile'], 'server.tls.clientCAFile');
  t.is(volume(mountFor(tls['clientCAFile'])!['name'])!['secret']['secretName'], 'gatekeeper-ca');
  t.is(volume(mountFor(tls['certFile'])!['name'])!['secret']['secretName'], 'vouch-tls');
  t.is(mountFor(container['args'][2])?.['name'], 'config', '--config is in the config volume');
  const environments = Object.entries(config['environments'] as Record<string, Obj>);
  t.deepEqual(environments.map(([name]) => name).sort(), ['prod', 'staging']);
  t.true(config['defaultEnvironment'] in config['environments']);
  for (const [name, env] of environments) {
    expectFile(env['trustPolicy'], `environments.${name}.trustPolicy`);
    t.true(posix.isAbsolute(env['trustStore']), `environments.${name}.trustStore`);
  }
});

test('manifests: the trust policies are Notary Project documents whose trust stores are mounted ConfigMaps', (t) => {
  for (const [name, env] of Object.entries(config['environments'] as Record<string, Obj>)) {
    const key = basename(env['trustPolicy']);
    const text: string = configMap['data'][key];
    const json = JSON.parse(text) as Obj;
    t.is(json['version'], '1.0', key);
    // vouch's own parser: the validation notation applies (scopes, levels, identities)
    const policy = parseOciTrustPolicy(text, key);
    if (name === 'prod') for (const statement of policy.statements) t.is(statement.level.name, 'strict', statement.name);
    for (const ref of referencedTrustStores(policy)) {
      const dir = posix.join(env['trustStore'], 'x509', ref.type, ref.name);
      const mount = mounts().find((m) => m['mountPath'] === dir);
      t.truthy(mount, `environment ${name}: trust store ${ref.type}:${ref.name} is mounted at ${dir}`);
      const cm = volume(mount?.['name'])?.['configMap']?.['name'];
      t.truthy(cm && ofKind(base, 'ConfigMap').some((d) => d.value['metadata']['name'] === cm), `${dir} comes from a ConfigMap`);
    }
  }
  t.true(configMap['data']['trustpolicy.prod.json'].includes('"ca:prod"'));
  t.true(configMap['data']['trustpolicy.staging.json'].includes('"ca:staging"'));
});

/** Kubernetes' atomic writer: files are links to `..data/<key>`, `..data` links to a timestamped directory. */
async function writeVolume(dir: string, data: Record<string, string>, layout: 'files' | 'kubelet'): Promise<void> {
  await mkdir(dir, { recursive: true });
  if (layout === 'files') {
    for (const [key, value] of Object.entries(data)) await writeFile(join(dir, key), value);
    return;
  }
  const stamp = '..2026_01_01_00_00_00.000000001';
  await mkdir(join(dir, stamp));
  for (const [key, value] of Object.entries(data)) await writeFile(join(dir, stamp, key), value);
  await symlink(stamp, join(dir, '..data'));
  for (const key of Object.keys(data)) await symlink(join('..data', key), join(dir, key));
}

/**
 * Writes what the pod would see under `root` (every mount of the Deployment, filled from the
 * manifests; trust stores with a test root instead of the placeholders, Secrets with test TLS
 * material) and returns the path of config.yaml, whose absolute paths are moved under `root`.
 */
async function podFilesystem(root: string, layout: 'files' | 'kubelet'): Promise<string> {
  const tls = await createTlsMaterial();
  const anchor = (await generateRoot({ key: 'ec-p256', subject: 'CN=deploy test root,O=vouch,ST=WA,C=US' })).certificate.toPem();
  const secrets: Record<string, Record<string, string>> = {
    'vouch-tls': {
      'tls.crt': await readFile(tls.files.certFile, 'utf8'),
      'tls.key': await readFile(tls.files.keyFile, 'utf8'),
      'ca.crt': await readFile(tls.files.clientCAFile, 'utf8'),
    },
    'gatekeeper-ca': { 'ca.crt': await readFile(tls.files.clientCAFile, 'utf8') },
  };
  await rm(tls.dir, { recursive: true, force: true });
  const moved = (value: unknown): unknown => {
    if (typeof value === 'string' && value.startsWith('/')) return join(root, value);
    if (Array.isArray(value)) return value.map(moved);
    if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, moved(v)]));
    return value;
  };
  for (const m of mounts()) {
    const v = volume(m['name'])!;
    const dir = join(root, m['mountPath']);
    let data: Record<string, string>;
    if (v['configMap']) {
      data = { ...only(base, 'ConfigMap', v['configMap']['name']).value['data'] };
      if (v['configMap']['name'] === 'vouch-config') data['config.yaml'] = JSON.stringify(moved(config));
      if (/^vouch-truststore-/.test(v['configMap']['name'])) for (const key of Object.keys(data)) data[key] = anchor;
    } else if (v['secret']) {
      const all = secrets[v['secret']['secretName']]!;
      const items = (v['secret']['items'] as Obj[] | undefined) ?? Object.keys(all).map((key) => ({ key, path: key }));
      data = Object.fromEntries(items.map((i) => [i['path'], all[i['key']]!]));
    } else {
      await mkdir(dir, { recursive: true });
      continue;
    }
    await writeVolume(dir, data, layout);
  }
  return join(root, container['args'][2]);
}

for (const layout of ['files', 'kubelet'] as const) {
  const title =
    layout === 'files'
      ? "manifests: vouch's loader accepts the embedded config.yaml and loads every environment from the mounted paths"
      : 'manifests: vouch loads its trust material from the kubelet layout of ConfigMap and Secret volumes (..data symlinks)';
  test(title, async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'vouch-deploy-'));
    t.teardown(() => rm(root, { recursive: true, force: true }));
    const file = await podFilesystem(root, layout);
    const loaded = await loadConfig(file);
    t.is(loaded.server.address.port, 8443);
    t.is(loaded.server.grpcAddress?.port, 9443);
    t.is(loaded.server.healthAddress?.port, 8080);
    t.is(loaded.server.tls?.clientCAFile, join(root, config['server']['tls']['clientCAFile']));
    t.is(loaded.defaultEnvironment, 'prod');
    const environments = await EnvironmentSet.load(loaded, { watch: false });
    try {
      const status = environments.status();
      t.true(status.ready, JSON.stringify(status));
      t.deepEqual(environments.names(), ['prod', 'staging']);
    } finally {
      await environments.close();
    }
  });
}

// ---------------------------------------------------------------------------------------------------
// Gatekeeper: Constraints, data sync, mutation

const templateFile = join(DEPLOY, 'gatekeeper', 'template.yaml');
const constraints = allDocs.filter((d) => d.file.startsWith('deploy/gatekeeper/constraints/'));
const environmentNames = Object.keys(config['environments'] as Obj);

test('manifests: the Constraints are VouchSignedImages with known parameters, environments and the system namespaces excluded', (t) => {
  t.true(constraints.length >= 4);
  for (const doc of constraints) {
    const c = doc.value;
    const at = where(doc);
    t.is(c['apiVersion'], 'constraints.gatekeeper.sh/v1beta1', at);
    t.is(c['kind'], 'VouchSignedImages', at);
    t.true(['deny', 'dryrun', 'warn'].includes(c['spec']['enforcementAction'] ?? 'deny'), at);
    const params = c['spec']['parameters'] as Obj;
    t.deepEqual(
      Object.keys(params).filter((k) => !CONSTRAINT_PARAMETERS.includes(k)),
      [],
      at,
    );
    t.true(
      providers.some((p) => p['metadata']['name'] === params['provider'] && p['spec']['url'].endsWith('/v1/verify')),
      `${at}: provider`,
    );
    if (params['environment'] !== undefined) t.true(environmentNames.includes(params['environment']), `${at}: environment`);
    for (const env of Object.values((params['namespaceEnvironments'] as Record<string, string>) ?? {}))
      t.true(environmentNames.includes(env), at);
    if (params['environmentLabel'] !== undefined) t.is(typeof params['environmentLabel'], 'string', at);
    t.true(Array.isArray(params['exemptImages'] ?? []) && (params['exemptImages'] ?? []).every((g: unknown) => typeof g === 'string'), at);
    t.true(UNDECIDED.includes(params['undecided'] ?? 'violation'), `${at}: undecided`);
    const match = c['spec']['match'];
    for (const ns of SYSTEM_NAMESPACES) t.true((match['excludedNamespaces'] as string[]).includes(ns), `${at}: excludes ${ns}`);
    const kinds = new Set(
      (match['kinds'] as Obj[]).flatMap((k) =>
        (k['kinds'] as string[]).flatMap((kind) => (k['apiGroups'] as string[]).map((g) => `${g}/${kind}`)),
      ),
    );
    for (const kind of [
      '/Pod',
      '/ReplicationController',
      'apps/Deployment',
      'apps/ReplicaSet',
      'apps/StatefulSet',
      'apps/DaemonSet',
      'batch/Job',
      'batch/CronJob',
    ]) {
      t.true(kinds.has(kind), `${at}: matches ${kind}`);
    }
  }
  const byName = Object.fromEntries(constraints.map((d) => [d.value['metadata']['name'], d.value['spec']]));
  t.is(byName['vouch-prod']['parameters']['undecided'], 'violation');
  t.deepEqual(byName['vouch-prod']['match']['namespaceSelector'], { matchLabels: { 'vouch.dev/environment': 'prod' } });
  t.is(byName['vouch-staging']['enforcementAction'], 'deny');
  t.is(byName['vouch-staging']['parameters']['undecided'], 'ignore');
  t.is(byName['vouch-staging-undecided']['enforcementAction'], 'warn');
  t.is(byName['vouch-staging-undecided']['parameters']['undecided'], 'only');
  t.is(byName['vouch-by-namespace-label']['parameters']['environmentLabel'], 'vouch.dev/environment');
});

test('manifests: every Constraint is applied by deploy/gatekeeper/, with Namespace sync for environmentLabel', (t) => {
  const applied = new Set(gatekeeper.map((d) => `${d.file}#${d.index}`));
  for (const doc of constraints) t.true(applied.has(`${doc.file}#${doc.index}`), where(doc));
  const syncsNamespaces = gatekeeper.some(
    (d) =>
      (d.value['kind'] === 'SyncSet' &&
        (d.value['spec']['gvks'] as Obj[]).some((g) => g['group'] === '' && g['version'] === 'v1' && g['kind'] === 'Namespace')) ||
      (d.value['kind'] === 'Config' &&
        (d.value['spec']['sync']['syncOnly'] as Obj[]).some(
          (g) => g['group'] === '' && g['version'] === 'v1' && g['kind'] === 'Namespace',
        )),
  );
  t.true(syncsNamespaces, 'a SyncSet or Config syncs v1 Namespace');
  const config = only(allDocs, 'Config', 'config').value;
  t.is(config['apiVersion'], 'config.gatekeeper.sh/v1alpha1');
  t.is(config['metadata']['namespace'], 'gatekeeper-system');
});

test('manifests: the Constraints use only parameters the generated template declares', async (t) => {
  t.true(existsSync(templateFile), 'deploy/gatekeeper/template.yaml (generated by scripts/build-rego.ts) exists');
  const template = only(
    allDocs.filter((d) => d.file === relative(REPO_ROOT, templateFile)),
    'ConstraintTemplate',
  ).value;
  t.is(template['metadata']['name'], 'vouchsignedimages');
  t.is(template['spec']['crd']['spec']['names']['kind'], 'VouchSignedImages');
  const schema = template['spec']['crd']['spec']['validation']['openAPIV3Schema']['properties'] as Obj;
  t.deepEqual(Object.keys(schema).sort(), [...CONSTRAINT_PARAMETERS].sort());
  t.deepEqual(schema['undecided']['enum'], UNDECIDED);
  for (const doc of constraints) {
    for (const [key, value] of Object.entries(doc.value['spec']['parameters'] as Obj)) {
      const type = schema[key]['type'];
      const actual = Array.isArray(value) ? 'array' : typeof value;
      t.is(actual, type, `${where(doc)}: ${key}`);
    }
  }
});

test('manifests: the Assign mutators pin every container image through Provider vouch-mutate', (t) => {
  const assigns = ofKind(mutation, 'Assign');
  const mutate = providers.find((p) => p['metadata']['name'] === 'vouch-mutate');
  t.true(new URL(mutate?.['spec']['url']).pathname === '/v1/mutate');
  const covered = new Set<string>();
  for (const doc of assigns) {
    const a = doc.value;
    const at = where(doc);
    t.is(a['apiVersion'], 'mutations.gatekeeper.sh/v1', at);
    t.deepEqual(
      a['spec']['parameters']['assign'],
      { externalData: { provider: 'vouch-mutate', dataSource: 'ValueAtLocation', failurePolicy: 'Fail' } },
      at,
    );
    const location: string = a['spec']['location'];
    t.regex(
      location,
      /^spec\.(?:jobTemplate\.spec\.)?(?:template\.spec\.)?(?:containers|initContainers|ephemeralContainers)\[name:\*\]\.image$/,
      at,
    );
    for (const ns of SYSTEM_NAMESPACES)
      t.true((a['spec']['match']['excludedNamespaces'] as string[]).includes(ns), `${at}: excludes ${ns}`);
    // applyTo and match name the same kinds
    const applyTo = (a['spec']['applyTo'] as Obj[]).flatMap((e) =>
      (e['kinds'] as string[]).flatMap((k) => (e['groups'] as string[]).map((g) => `${g}/${k}`)),
    );
    const matchKinds = (a['spec']['match']['kinds'] as Obj[]).flatMap((e) =>
      (e['kinds'] as string[]).flatMap((k) => (e['apiGroups'] as string[]).map((g) => `${g}/${k}`)),
    );
    t.deepEqual([...applyTo].sort(), [...matchKinds].sort(), at);
    for (const kind of applyTo) covered.add(`${kind} ${location}`);
  }
  const expected = [
    ...['containers', 'initContainers', 'ephemeralContainers'].map((f) => `/Pod spec.${f}[name:*].image`),
    ...['apps/Deployment', 'apps/ReplicaSet', 'apps/StatefulSet', 'apps/DaemonSet', 'batch/Job', '/ReplicationController'].flatMap((k) =>
      ['containers', 'initContainers'].map((f) => `${k} spec.template.spec.${f}[name:*].image`),
    ),
    ...['containers', 'initContainers'].map((f) => `batch/CronJob spec.jobTemplate.spec.template.spec.${f}[name:*].image`),
  ];
  t.deepEqual([...covered].sort(), expected.sort());
  // every Assign under deploy/gatekeeper/mutation/ is in its kustomization
  t.is(assigns.length, allDocs.filter((d) => d.value['kind'] === 'Assign').length);
});

test('manifests: cert-manager issues vouch-tls for the names the Providers dial', (t) => {
  const certificates = allDocs.filter((d) => d.file.startsWith('deploy/components/cert-manager/') && d.value['kind'] === 'Certificate');
  const serving = only(certificates, 'Certificate', 'vouch-tls').value;
  t.is(serving['spec']['secretName'], 'vouch-tls');
  const host = new URL(providers[0]!['spec']['url']).hostname;
  t.is(host, 'vouch.vouch-system.svc');
  t.deepEqual(serving['spec']['dnsNames'], [host, 'vouch.vouch-system', `${host}.cluster.local`]);
  t.is(serving['spec']['commonName'], host);
  // cheap handshakes: Gatekeeper makes a full one per call (same key type as scripts/gen-tls.sh)
  t.deepEqual(serving['spec']['privateKey'], { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' });
  t.is(serving['spec']['issuerRef']['kind'], 'Issuer');
  const issuer = only(allDocs, 'Issuer', serving['spec']['issuerRef']['name']).value;
  const ca = certificates.find((d) => d.value['spec']['secretName'] === issuer['spec']['ca']['secretName'])?.value;
  t.true(ca?.['spec']['isCA'], 'the Issuer signs with a CA certificate that cert-manager issues');
  for (const doc of allDocs.filter((d) => d.file.startsWith('deploy/components/cert-manager/') && d.value['kind'] !== 'Component')) {
    t.is(doc.value['metadata']['namespace'], 'vouch-system', where(doc));
  }
});

test('manifests: deploy/ has the files deploy/README.md describes', (t) => {
  for (const path of [
    'kustomization.yaml',
    'base/kustomization.yaml',
    'base/namespace.yaml',
    'base/configmap.yaml',
    'base/deployment.yaml',
    'base/service.yaml',
    'base/pdb.yaml',
    'base/networkpolicy.yaml',
    'base/provider.yaml',
    'overlays/example/kustomization.yaml',
    'components/cert-manager/certificate.yaml',
    'gatekeeper/kustomization.yaml',
    'gatekeeper/mutation/kustomization.yaml',
  ]) {
    t.true(existsSync(join(DEPLOY, path)), path);
  }
  t.true(existsSync(join(dirname(DEPLOY), 'scripts', 'gen-tls.sh')));
});
