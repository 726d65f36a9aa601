// Generates deploy/helm/vouch/values.schema.json, the JSON Schema Helm validates the chart's values against
// (https://helm.sh/docs/topics/charts/#schema-files) before rendering: an unknown key or a wrong type fails
// `helm install`, `helm upgrade`, `helm template` and `helm lint` with its path.
//
//   npx tsx scripts/build-helm-schema.ts           # write it
//   npx tsx scripts/build-helm-schema.ts --check   # compare instead of writing; exit 1 when stale
//
// `config` (the rest of vouch's configuration file) is vouch's own configuration schema (src/config, the
// zod schema behind docs/vouch.schema.json) minus the keys the chart writes itself: the listeners and TLS
// file paths (tied to the container ports and the mounted Secrets), environments and defaultEnvironment
// (chart keys with the same names: they also say what to mount) and cache.shared (sharedCache: it mounts
// the key Secret). sharedCache.config is cache.shared without its file paths; environment names follow the
// configuration's own rule. The chart's other keys are described here.
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import { configJsonSchema } from '../src/config/index.js';

type Schema = Record<string, any>;

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const HELM_SCHEMA_FILE = join(ROOT, 'deploy', 'helm', 'vouch', 'values.schema.json');

/** Keys of vouch's configuration the chart writes itself (path → the chart key that sets it). */
export const CHART_OWNED_CONFIG_KEYS: Readonly<Record<string, string>> = {
  'server.address': 'fixed: 0.0.0.0:8443 (container port https)',
  'server.grpcAddress': 'fixed: 0.0.0.0:9443 (container port grpc)',
  'server.healthAddress': 'fixed: 0.0.0.0:8080 (container port health)',
  'server.tls': 'tls, gatekeeperCA (mounted Secrets)',
  environments: 'environments',
  defaultEnvironment: 'defaultEnvironment',
  'cache.shared': 'sharedCache',
};

const clone = <T>(value: T): T => structuredClone(value);

function drop(schema: Schema, path: string): void {
  const parts = path.split('.');
  let node = schema;
  for (const part of parts.slice(0, -1)) node = node['properties'][part];
  const last = parts.at(-1)!;
  if (node['properties']?.[last] === undefined) throw new Error(`config schema has no ${path}: update CHART_OWNED_CONFIG_KEYS`);
  delete node['properties'][last];
  if (Array.isArray(node['required'])) {
    node['required'] = node['required'].filter((k: string) => k !== last);
    if (node['required'].length === 0) delete node['required'];
  }
}

const obj = (properties: Schema, extra: Schema = {}): Schema => ({ type: 'object', properties, additionalProperties: false, ...extra });
const str = (description?: string, extra: Schema = {}): Schema => ({ type: 'string', ...(description ? { description } : {}), ...extra });
const bool = (description?: string): Schema => ({ type: 'boolean', ...(description ? { description } : {}) });
const int = (minimum: number, description?: string, extra: Schema = {}): Schema => ({
  type: 'integer',
  minimum,
  ...(description ? { description } : {}),
  ...extra,
});
/** Kubernetes-typed values (resources, tolerations, …): the API server validates them. */
const k8sObject = (description: string): Schema => ({ type: 'object', description });
const k8sArray = (description: string): Schema => ({ type: 'array', items: { type: 'object' }, description });
const stringMap = (description: string): Schema => ({ type: 'object', additionalProperties: { type: 'string' }, description });

// A Kubernetes object name (RFC 1123 subdomain) and a ConfigMap/Secret key.
const K8S_NAME = { minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' };
const K8S_KEY = { minLength: 1, maxLength: 253, pattern: '^[-._a-zA-Z0-9]+$' };
// Trust store names end up in volume names (truststore-<name>, at most 63 characters) and directory names.
const STORE_NAME = { maxLength: 52, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' };
// Notary Project trust store reference "<type>:<name>"
// (https://github.com/notaryproject/specifications/blob/v1.1.0/specs/trust-store-trust-policy.md#trust-store).
const STORE_TYPES = ['ca', 'signingAuthority', 'tsa'];

/** The values schema as an object. */
export function helmValuesSchema(): Schema {
  const vouch = clone(configJsonSchema()) as Schema;
  const envSchema = vouch['properties']['environments'];
  const sharedSchema = clone(vouch['properties']['cache']['properties']['shared']) as Schema;
  const config = clone(vouch);
  delete config['$schema'];
  delete config['title'];
  for (const path of Object.keys(CHART_OWNED_CONFIG_KEYS)) drop(config, path);
  config['description'] =
    "vouch's configuration file (docs/vouch.schema.json) without the keys the chart writes: " +
    Object.entries(CHART_OWNED_CONFIG_KEYS)
      .map(([k, v]) => `${k} (${v})`)
      .join(', ');
  for (const key of ['keyFile', 'passwordFile']) drop({ properties: { s: sharedSchema } }, `s.${key}`);
  sharedSchema['description'] = 'cache.shared of the configuration without keyFile and passwordFile (mounted from existingSecret).';

  const trustPolicy: Schema = {
    type: 'object',
    description: 'A Notary Project trust policy document (written to the config ConfigMap as JSON).',
    required: ['version', 'trustPolicies'],
    properties: { version: { type: 'string' }, trustPolicies: { type: 'array', minItems: 1, items: { type: 'object' } } },
  };
  const environment = obj(
    {
      trustPolicy,
      trustPolicyConfigMap: obj(
        { name: str('Existing ConfigMap.', K8S_NAME), key: str('Its key holding the trust policy JSON.', K8S_KEY) },
        { required: ['name', 'key'] },
      ),
      trustStores: {
        type: 'array',
        description: 'Trust stores to mount, "<type>:<name>" (default: those the inline trustPolicy names).',
        items: { type: 'string', pattern: `^(${STORE_TYPES.join('|')}):[a-z0-9]([-a-z0-9]*[a-z0-9])?$` },
      },
    },
    { oneOf: [{ required: ['trustPolicy'] }, { required: ['trustPolicyConfigMap'] }] },
  );
  const trustStore = obj(
    {
      type: { enum: STORE_TYPES, default: 'ca' },
      pem: str('Inline PEM certificates (the chart makes ConfigMap <fullname>-truststore-<name>).'),
      existingConfigMap: str('Existing ConfigMap whose keys are PEM certificate files.', K8S_NAME),
      existingSecret: str('Existing Secret whose keys are PEM certificate files.', K8S_NAME),
    },
    { required: ['type'] },
  );

  const schema: Schema = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'vouch Helm chart values',
    description: 'Generated by scripts/build-helm-schema.ts from the chart keys and src/config (vouch.schema.json): do not edit.',
    type: 'object',
    additionalProperties: false,
    properties: {
      // Helm passes a parent chart's `global` to subcharts.
      global: { type: 'object' },
      fullnameOverride: str('Resource name prefix (default vouch).', { maxLength: 52, pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$' }),
      namespace: obj({ create: bool('Create the release namespace with these labels.'), labels: stringMap('Namespace labels.') }),
      image: obj({
        repository: str(undefined, { minLength: 1 }),
        tag: str('Default: the chart appVersion.'),
        digest: str('sha256:<hex>; wins over tag.', { pattern: '^(sha256:[a-f0-9]{64})?$' }),
        pullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] },
      }),
      imagePullSecrets: k8sArray('LocalObjectReference list.'),
      replicaCount: int(1, 'Replicas when autoscaling is off.'),
      resources: k8sObject('Container resources.'),
      maxOldSpaceSizeMb: int(64, 'V8 heap limit (NODE_OPTIONS), inside the memory limit.'),
      podAnnotations: stringMap('Extra pod annotations.'),
      podLabels: stringMap('Extra pod labels.'),
      nodeSelector: stringMap('Pod nodeSelector.'),
      tolerations: k8sArray('Pod tolerations.'),
      priorityClassName: str(),
      extraEnv: k8sArray('Extra EnvVar entries of the vouch container.'),
      environments: {
        type: 'object',
        description: envSchema['description'],
        propertyNames: envSchema['propertyNames'],
        additionalProperties: environment,
      },
      defaultEnvironment: str('Environment for keys without a prefix; default: the only one.'),
      trustStores: {
        type: 'object',
        propertyNames: { type: 'string', ...STORE_NAME },
        additionalProperties: trustStore,
      },
      registryCredentials: {
        type: 'object',
        description: 'Registry host → credentials from an existing Secret (passed as registries.<host>.passwordFromEnv).',
        additionalProperties: obj(
          { username: str(undefined, { minLength: 1 }), existingSecret: str(undefined, K8S_NAME), passwordKey: str(undefined, K8S_KEY) },
          { required: ['username', 'existingSecret'] },
        ),
      },
      config,
      tls: obj({
        mode: { enum: ['secret', 'certManager'] },
        secretName: str('Secret with tls.crt and tls.key (and ca.crt).', K8S_NAME),
        caBundle: str("PEM of the serving certificate's CA, for the Providers' caBundle."),
        certManager: obj({ duration: str(), renewBefore: str(), caDuration: str() }),
      }),
      gatekeeperCA: obj({ secretName: str("Secret with Gatekeeper's CA, ca.crt (mTLS).", K8S_NAME) }),
      gatekeeperNamespace: str(undefined, K8S_NAME),
      providers: obj({
        enabled: bool(),
        verifyName: str(undefined, K8S_NAME),
        mutateName: str(undefined, K8S_NAME),
        timeoutSeconds: int(1, 'Whole seconds, inside the webhook timeout (3 s).', { maximum: 30 }),
      }),
      pdb: obj({ enabled: bool(), minAvailable: { type: ['integer', 'string'] } }),
      networkPolicy: obj({ enabled: bool(), extraEgress: k8sArray('NetworkPolicyEgressRule list.') }),
      autoscaling: obj({
        enabled: bool(),
        minReplicas: int(1),
        maxReplicas: int(1),
        targetCPUUtilizationPercentage: int(1, undefined, { maximum: 100 }),
        scaleDownStabilizationSeconds: int(0, undefined, { maximum: 3600 }),
      }),
      monitoring: obj({
        prometheusRule: obj({ enabled: bool(), labels: stringMap('Extra labels (e.g. the release label your Prometheus selects).') }),
        serviceMonitor: obj({
          enabled: bool(),
          labels: stringMap('Extra labels (e.g. the release label your Prometheus selects).'),
          interval: str('Scrape interval.', { pattern: '^[0-9]+(ms|s|m|h)$' }),
        }),
        dashboard: obj({
          enabled: bool(),
          labels: stringMap('Extra labels of the dashboard ConfigMap.'),
          folder: str('grafana_folder annotation.'),
        }),
      }),
      sharedCache: obj({
        enabled: bool(),
        existingSecret: str('Secret with the HMAC key (and the Redis password).', K8S_NAME),
        hmacKey: str(undefined, K8S_KEY),
        passwordKey: str(undefined, { pattern: '^[-._a-zA-Z0-9]*$' }),
        config: sharedSchema,
        networkPolicyTo: k8sArray('NetworkPolicyPeer list: where Redis is.'),
        port: int(1, undefined, { maximum: 65535 }),
      }),
      constraints: obj({
        enabled: bool(),
        enforcementAction: { enum: ['deny', 'dryrun', 'warn'] },
        perEnvironment: { type: 'array', items: envSchema['propertyNames'], uniqueItems: true },
        exemptImages: { type: 'array', items: { type: 'string' } },
        undecided: { enum: ['violation', 'ignore', 'only'] },
        excludedNamespaces: { type: 'array', items: str(undefined, K8S_NAME) },
      }),
      mutation: obj({
        enabled: bool(),
        failurePolicy: { enum: ['Fail', 'Ignore'] },
        excludedNamespaces: { type: 'array', items: str(undefined, K8S_NAME) },
      }),
    },
  };
  return schema;
}

/** The file's expected content. */
export async function renderHelmSchema(): Promise<string> {
  const options = (await prettier.resolveConfig(HELM_SCHEMA_FILE)) ?? {};
  return prettier.format(JSON.stringify(helmValuesSchema(), null, 2), { ...options, filepath: HELM_SCHEMA_FILE });
}

async function main(argv: string[]): Promise<number> {
  const expected = await renderHelmSchema();
  if (argv.includes('--check')) {
    const actual = await readFile(HELM_SCHEMA_FILE, 'utf8').catch(() => '');
    if (actual === expected) return 0;
    process.stderr.write(`${HELM_SCHEMA_FILE} is stale: run npx tsx scripts/build-helm-schema.ts\n`);
    return 1;
  }
  await writeFile(HELM_SCHEMA_FILE, expected);
  process.stdout.write(`wrote ${HELM_SCHEMA_FILE}\n`);
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
