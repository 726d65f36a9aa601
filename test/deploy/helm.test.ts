// The Helm chart deploy/helm/vouch with the pinned helm (scripts/tools.sh): `helm lint` and `helm template`
// for the example values files, the values schema (generated from vouch's configuration schema) rejecting
// a typo with its path, the config checksum that rolls the pods (and that trust stores stay out of), and
// the chart rendering the same objects as the kustomize base deploy/ for the same settings.

import test from 'ava';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config/index.js';
import { renderHelmSchema, HELM_SCHEMA_FILE } from '../../scripts/build-helm-schema.js';
import { generateRoot } from '../helpers/pki.js';
import { writeDeployOverlay } from '../helpers/kustomize-overlay.js';
import { REPO_ROOT, toolPath } from '../helpers/registries.js';

type Obj = Record<string, any>;

const run = promisify(execFile);
const CHART = join(REPO_ROOT, 'deploy', 'helm', 'vouch');
const EXAMPLES = join(CHART, 'examples');
const NAMESPACE = 'vouch-system';

interface Rendered {
  objects: Obj[];
  stderr: string;
}

/** A directory with two fresh root CA certificates (PEM), for trust stores prod and staging. */
const pems = (async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vouch-helm-'));
  const files: Record<string, string> = {};
  files['garbage'] = join(dir, 'garbage.pem');
  await writeFile(files['garbage'], 'not a certificate\n');
  for (const store of ['prod', 'staging']) {
    const root = await generateRoot({ subject: `CN=${store} root,O=vouch`, key: 'ec-p256' });
    files[store] = join(dir, `${store}.pem`);
    await writeFile(files[store], `${root.certificate.toPem().trimEnd()}\n`);
  }
  return { dir, files };
})();
test.after.always(async () => rm((await pems).dir, { recursive: true, force: true }));

async function pemArgs(stores: string[]): Promise<string[]> {
  const { files } = await pems;
  return stores.flatMap((s) => ['--set-file', `trustStores.${s}.pem=${files[s]}`]);
}

async function helm(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(toolPath('helm'), args, { maxBuffer: 16 * 1024 * 1024, env: { ...process.env, HELM_CACHE_HOME: tmpdir() } });
}

/** `helm template vouch CHART -n vouch-system ARGS`, parsed. */
async function template(args: string[]): Promise<Rendered> {
  const { stdout, stderr } = await helm(['template', 'vouch', CHART, '--namespace', NAMESPACE, ...args]);
  const objects = parseAllDocuments(stdout, { uniqueKeys: true })
    .filter((doc) => doc.contents !== null)
    .map((doc, i) => {
      if (doc.errors.length > 0) throw new Error(`helm template: document ${i} does not parse: ${doc.errors[0]!.message}`);
      return doc.toJS() as Obj;
    });
  return { objects, stderr };
}

/** The error helm prints when it refuses to render (values schema, or a `fail` in the templates). */
async function templateError(args: string[]): Promise<string> {
  try {
    await template(args);
  } catch (err) {
    return String((err as { stderr?: string }).stderr ?? err);
  }
  throw new Error(`helm template ${args.join(' ')} succeeded`);
}

const find = (objects: Obj[], kind: string, name: string): Obj => {
  const o = objects.find((x) => x['kind'] === kind && x['metadata']['name'] === name);
  if (o === undefined) throw new Error(`no ${kind}/${name} in ${objects.map((x) => `${x['kind']}/${x['metadata']['name']}`).join(', ')}`);
  return o;
};
const ids = (objects: Obj[]): string[] =>
  objects.map((o) => `${o['kind']}/${o['metadata']['namespace'] ?? ''}/${o['metadata']['name']}`).sort();

const configSchema = (async () => {
  const schema = JSON.parse(await readFile(join(REPO_ROOT, 'docs', 'vouch.schema.json'), 'utf8')) as Obj;
  return new Ajv2020({ strict: false }).compile(schema);
})();

/** config.yaml of the rendered ConfigMap, checked against vouch's configuration schema. */
async function renderedConfig(t: import('ava').ExecutionContext, objects: Obj[]): Promise<Obj> {
  const text: string = find(objects, 'ConfigMap', 'vouch-config')['data']['config.yaml'];
  const config = parseYaml(text, { uniqueKeys: true }) as Obj;
  const validate = await configSchema;
  t.true(validate(config), JSON.stringify(validate.errors));
  // And vouch's own parser accepts it (cross-field rules the JSON Schema cannot say), with the
  // registry passwords' environment variables set as the pod's Secret references would.
  const env = Object.fromEntries(Object.values(config['registries'] ?? {}).map((r: any) => [r['passwordFromEnv'], 'secret']));
  // …and the plugin configuration's `{ fromEnv }` secrets, as the pod's extraEnv would.
  for (const plugins of Object.values(config['plugins']?.['config'] ?? {}) as Obj[])
    for (const settings of Object.values(plugins) as Obj[])
      for (const value of Object.values(settings)) if (typeof value === 'object' && value !== null) env[value['fromEnv']] = 'secret';
  t.notThrows(() => parseConfig(text, 'config.yaml', { env }));
  return config;
}

const checksumOf = (objects: Obj[]): string =>
  find(objects, 'Deployment', 'vouch')['spec']['template']['metadata']['annotations']['checksum/config'];

const example = (name: string): string[] => ['-f', join(EXAMPLES, `${name}.yaml`)];

test('helm: values.schema.json is generated from the config schema and up to date', async (t) => {
  t.is(await readFile(HELM_SCHEMA_FILE, 'utf8'), await renderHelmSchema(), 'run npx tsx scripts/build-helm-schema.ts');
});

test('helm: lint passes for the default values and every example', async (t) => {
  const cases: string[][] = [
    [],
    [...example('two-environments'), ...(await pemArgs(['prod', 'staging']))],
    example('existing-secrets'),
    [...example('cert-manager'), ...(await pemArgs(['prod']))],
    [...example('plugins'), ...(await pemArgs(['prod']))],
  ];
  for (const args of cases) {
    const { stdout } = await helm(['lint', CHART, '--strict', ...args]);
    t.regex(stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/, args.join(' '));
  }
});

test('helm: the default values render nothing until an environment is given (no trust, no install)', async (t) => {
  t.regex(await templateError([]), /environments: at least one environment is needed/);
});

test('helm: a typo in values fails with its path', async (t) => {
  const ex = [...example('two-environments'), ...(await pemArgs(['prod', 'staging']))];
  // In vouch's configuration (from the generated part of the schema) …
  let err = await templateError([...ex, '--set', 'config.cache.maxByte=1']);
  t.regex(err, /\/config\/cache/);
  t.regex(err, /maxByte/);
  // … a wrong type there …
  err = await templateError([...ex, '--set', 'config.server.requestTimeoutMs=fast']);
  t.regex(err, /\/config\/server\/requestTimeoutMs/);
  // … a key the chart owns (the listeners follow the container ports) …
  err = await templateError([...ex, '--set', 'config.server.address=0.0.0.0:1']);
  t.regex(err, /\/config\/server/);
  t.regex(err, /address/);
  // … and in the chart's own keys.
  err = await templateError([...ex, '--set', 'autoscaling.enable=true']);
  t.regex(err, /\/autoscaling/);
  t.regex(err, /enable/);
  err = await templateError([...ex, '--set', 'environments.prod.trustStores[0]=prod']);
  t.regex(err, /\/environments\/prod\/trustStores\/0/);
});

test('helm: bad trust settings fail the render with what and where', async (t) => {
  const ex = [...example('two-environments'), ...(await pemArgs(['prod', 'staging']))];
  t.regex(await templateError(example('two-environments')), /trustStores\.prod: give one of pem, existingConfigMap, existingSecret/);
  t.regex(
    await templateError([...ex, '--set-file', `trustStores.staging.pem=${(await pems).files['garbage']}`]),
    /trustStores\.staging\.pem: no PEM certificate/,
  );
  t.regex(
    await templateError([...ex, '--set', 'trustStores.staging.type=tsa']),
    /environments\.staging: trust store "ca:staging", but trustStores\.staging\.type is tsa/,
  );
  t.regex(await templateError([...ex, '--set', 'defaultEnvironment=dev']), /defaultEnvironment: "dev" is not one of environments/);
  t.regex(
    await templateError([...ex, '--set', 'defaultEnvironment=']),
    /defaultEnvironment: required when more than one environment is configured \(one of: prod, staging\)/,
  );
  t.regex(
    await templateError([...ex, '--set', 'constraints.enabled=true', '--set', 'constraints.perEnvironment[0]=dev']),
    /constraints\.perEnvironment: "dev"/,
  );
});

test('helm: two environments with inline trust', async (t) => {
  const { objects } = await template([...example('two-environments'), ...(await pemArgs(['prod', 'staging']))]);
  const config = await renderedConfig(t, objects);
  t.deepEqual(Object.keys(config['environments']).sort(), ['prod', 'staging']);
  t.is(config['defaultEnvironment'], 'prod');
  const { files } = await pems;
  t.is(find(objects, 'ConfigMap', 'vouch-truststore-prod')['data']['root-ca.pem'], await readFile(files['prod']!, 'utf8'));
  // staging's policy names ca:staging and ca:prod: both mounted in staging's store, prod's only in its own.
  const mounts = (find(objects, 'Deployment', 'vouch')['spec']['template']['spec']['containers'][0]['volumeMounts'] as Obj[])
    .filter((m) => m['name'].startsWith('truststore-'))
    .map((m) => `${m['name']} ${m['mountPath']}`)
    .sort();
  t.deepEqual(mounts, [
    'truststore-prod /etc/vouch/truststores/prod/x509/ca/prod',
    'truststore-prod /etc/vouch/truststores/staging/x509/ca/prod',
    'truststore-staging /etc/vouch/truststores/staging/x509/ca/staging',
  ]);
  const policy = JSON.parse(find(objects, 'ConfigMap', 'vouch-config')['data']['trustpolicy.staging.json']) as Obj;
  t.deepEqual(policy['trustPolicies'][0]['trustStores'], ['ca:staging', 'ca:prod']);
  // Without a cluster (`helm template`) no Secret can be looked up: with no tls.caBundle either, the
  // Providers are left out (Gatekeeper's webhook refuses an https Provider without caBundle, which
  // would fail the install); NOTES.txt says to run `helm upgrade` once the Secret exists (NOTES need a cluster:
  // `helm install --dry-run` contacts one even in client mode).
  t.is(
    objects.find((o) => o['kind'] === 'Provider'),
    undefined,
  );
  const { files: f } = await pems;
  const withCa = await template([
    ...example('two-environments'),
    ...(await pemArgs(['prod', 'staging'])),
    '--set-file',
    `tls.caBundle=${f['prod']}`,
  ]);
  for (const name of ['vouch', 'vouch-mutate']) {
    const spec = find(withCa.objects, 'Provider', name)['spec'];
    t.is(Buffer.from(spec['caBundle'], 'base64').toString(), await readFile(f['prod']!, 'utf8'));
    t.is(spec['url'], `https://vouch.${NAMESPACE}.svc:8443/v1/${name === 'vouch' ? 'verify' : 'mutate'}`);
    t.is(spec['timeout'], 2);
  }
});

test('helm: existing secrets, shared cache and autoscaling', async (t) => {
  const { objects } = await template(example('existing-secrets'));
  const config = await renderedConfig(t, objects);
  const spec = find(objects, 'Deployment', 'vouch')['spec'];
  t.is(spec['replicas'], undefined, 'the HPA owns the replica count');
  const hpa = find(objects, 'HorizontalPodAutoscaler', 'vouch')['spec'];
  t.deepEqual([hpa['minReplicas'], hpa['maxReplicas'], hpa['scaleTargetRef']['name']], [2, 6, 'vouch']);
  const pod = spec['template']['spec'];
  const container = pod['containers'][0];
  const volumes = new Map<string, Obj>((pod['volumes'] as Obj[]).map((v) => [v['name'], v]));
  const mountOf = (path: string): Obj | undefined =>
    (container['volumeMounts'] as Obj[]).find((m) => path.startsWith(`${m['mountPath']}/`));
  // Registry password: an env var from the Secret, named by passwordFromEnv; never in the ConfigMap.
  const registry = config['registries']['registry.example.com'];
  t.is(registry['username'], 'vouch-reader');
  t.is(registry['password'], undefined);
  const env = (container['env'] as Obj[]).find((e) => e['name'] === registry['passwordFromEnv'])!;
  t.deepEqual(env['valueFrom'], { secretKeyRef: { name: 'registry-example-com', key: 'password' } });
  // Shared cache: key and password files on the mounted Secret.
  for (const file of [config['cache']['shared']['keyFile'], config['cache']['shared']['passwordFile']]) {
    const mount = mountOf(file)!;
    t.truthy(mount, file);
    t.true(mount['readOnly']);
    t.is(mount['subPath'], undefined);
    t.is(volumes.get(mount['name'])!['secret']['secretName'], 'vouch-shared-cache');
  }
  t.is(config['cache']['shared']['url'], 'redis://redis.vouch-system.svc:6379');
  t.is(find(objects, 'NetworkPolicy', 'vouch-shared-cache')['spec']['egress'][0]['ports'][0]['port'], 6379);
  // Trust policy from an existing ConfigMap, trust stores from an existing ConfigMap and Secret.
  const policyMount = mountOf(config['environments']['prod']['trustPolicy'])!;
  t.is(volumes.get(policyMount['name'])!['configMap']['name'], 'prod-trust-policy');
  const storeRoot: string = config['environments']['prod']['trustStore'];
  t.is(volumes.get(mountOf(`${storeRoot}/x509/ca/prod/x`)!['name'])!['configMap']['name'], 'prod-root-cas');
  t.is(volumes.get(mountOf(`${storeRoot}/x509/tsa/timestamping/x`)!['name'])!['secret']['secretName'], 'tsa-roots');
  t.false(
    objects.some((o) => o['kind'] === 'ConfigMap' && o['metadata']['name'].startsWith('vouch-truststore-')),
    'existing stores are not created',
  );
});

test('helm: plugins: the image, the plugins section and its secret from the environment', async (t) => {
  const { objects } = await template([...example('plugins'), ...(await pemArgs(['prod']))]);
  const config = await renderedConfig(t, objects);
  t.is(config['plugins']['directory'], '/opt/vouch/plugins');
  t.deepEqual(config['plugins']['config']['prod']['com.example.kms']['token'], { fromEnv: 'KMS_API_TOKEN' });
  const container = find(objects, 'Deployment', 'vouch')['spec']['template']['spec']['containers'][0];
  t.is(container['image'], 'registry.example.com/platform/vouch-with-kms-plugin:1.0.0-kms.1');
  const secret = (container['env'] as Obj[]).find((e) => e['name'] === 'KMS_API_TOKEN')!;
  t.deepEqual(secret['valueFrom'], { secretKeyRef: { name: 'kms-plugin', key: 'token' } });
  t.false(JSON.stringify(find(objects, 'ConfigMap', 'vouch-config')).includes('secretKeyRef'), 'no secret value in the ConfigMap');
  // A plugin timeout at or over the request budget is refused by the chart's schema or by vouch.
  const error = await templateError([...example('plugins'), ...(await pemArgs(['prod'])), '--set', 'config.plugins.timeoutMs=70000']);
  t.regex(error, /timeoutMs/);
});

test('helm: cert-manager, constraints per environment and mutators', async (t) => {
  const { objects } = await template([...example('cert-manager'), ...(await pemArgs(['prod']))]);
  await renderedConfig(t, objects);
  const cert = find(objects, 'Certificate', 'vouch-tls')['spec'];
  t.is(cert['secretName'], 'vouch-tls');
  t.true(cert['dnsNames'].includes(`vouch.${NAMESPACE}.svc`));
  t.is(cert['issuerRef']['name'], 'vouch-ca');
  t.is(find(objects, 'Issuer', 'vouch-ca')['spec']['ca']['secretName'], find(objects, 'Certificate', 'vouch-ca')['spec']['secretName']);
  const constraint = find(objects, 'VouchSignedImages', 'vouch-prod');
  t.is(constraint['metadata']['namespace'], undefined);
  t.deepEqual(constraint['spec']['match']['namespaceSelector'], { matchLabels: { 'vouch.dev/environment': 'prod' } });
  t.deepEqual(constraint['spec']['match']['excludedNamespaces'], ['kube-system', 'gatekeeper-system', NAMESPACE]);
  t.is(constraint['spec']['parameters']['provider'], 'vouch');
  const assigns = objects.filter((o) => o['kind'] === 'Assign');
  t.is(assigns.length, 7);
  for (const a of assigns) t.is(a['spec']['parameters']['assign']['externalData']['provider'], 'vouch-mutate');
});

test('helm: config changes roll the pods (checksum), trust store changes do not', async (t) => {
  const { files } = await pems;
  const base = [...example('two-environments'), ...(await pemArgs(['prod', 'staging']))];
  const before = await template(base);
  const config = await template([...base, '--set', 'config.cache.maxBytes=1000000']);
  const trust = await template([...base, '--set-file', `trustStores.prod.pem=${files['staging']}`]);
  t.regex(checksumOf(before.objects), /^[0-9a-f]{64}$/);
  t.not(checksumOf(config.objects), checksumOf(before.objects));
  t.notDeepEqual(find(trust.objects, 'ConfigMap', 'vouch-truststore-prod'), find(before.objects, 'ConfigMap', 'vouch-truststore-prod'));
  t.is(checksumOf(trust.objects), checksumOf(before.objects));
  // The same render twice: the same checksum (no map-order noise).
  t.is(checksumOf((await template(base)).objects), checksumOf(before.objects));
});

// ---- the chart and the kustomize base render the same objects ----

/** Labels and annotations only Helm adds. */
const HELM_LABELS = ['app.kubernetes.io/instance', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/version', 'helm.sh/chart'];

function normalise(o: Obj): Obj {
  const n = structuredClone(o);
  const strip = (meta: Obj | undefined): void => {
    if (meta === undefined) return;
    for (const l of HELM_LABELS) delete meta['labels']?.[l];
    delete meta['annotations']?.['checksum/config'];
    if (meta['annotations'] !== undefined && Object.keys(meta['annotations']).length === 0) delete meta['annotations'];
  };
  strip(n['metadata']);
  strip(n['spec']?.['template']?.['metadata']);
  if (n['kind'] === 'Provider') delete n['spec']['caBundle']; // the base's placeholder / injected later; checked above
  if (n['kind'] === 'ConfigMap' && n['metadata']['name'] === 'vouch-config') {
    // Compare what vouch reads: the parsed configuration and trust policies, not comments and layout.
    n['data'] = Object.fromEntries(
      Object.entries(n['data'] as Record<string, string>).map(([k, v]) => [k, k.endsWith('.json') ? JSON.parse(v) : parseYaml(v)]),
    );
  }
  if (n['kind'] === 'Deployment') {
    const pod = n['spec']['template']['spec'];
    const byName = (a: Obj, b: Obj): number => `${a['name']} ${a['mountPath']}`.localeCompare(`${b['name']} ${b['mountPath']}`);
    pod['volumes'].sort(byName);
    pod['containers'][0]['volumeMounts'].sort(byName);
  }
  return n;
}

/** `kustomize build` of an overlay of deploy/ with `components`, the trust stores holding the test certificates. */
async function kustomizeOverlay(t: import('ava').ExecutionContext, components: string[]): Promise<Obj[]> {
  const { files } = await pems;
  const overlay = await writeDeployOverlay(t, components, {
    withoutChart: true,
    // The base's trust store files, holding the test certificates the chart gets too.
    prepare: async (deploy) => {
      for (const store of ['prod', 'staging']) await cp(files[store]!, join(deploy, 'base', 'truststores', store, 'root-ca.pem'));
    },
  });
  const { stdout } = await run(toolPath('kustomize'), ['build', overlay], { maxBuffer: 16 * 1024 * 1024 });
  return parseAllDocuments(stdout, { uniqueKeys: true }).map((d) => d.toJS() as Obj);
}

async function sameObjects(t: import('ava').ExecutionContext, kustomized: Obj[], rendered: Obj[]): Promise<void> {
  t.deepEqual(ids(rendered), ids(kustomized));
  for (const k of kustomized) {
    const h = rendered.find((o) => o['kind'] === k['kind'] && o['metadata']['name'] === k['metadata']['name']);
    if (h === undefined) continue;
    const hn = normalise(h);
    // The chart labels the Providers app.kubernetes.io/component=external-data-provider, as the base does
    // from issue 16 on (gen-tls.sh selects them by it); an older base has no such label.
    if (k['kind'] === 'Provider' && k['metadata']['labels']?.['app.kubernetes.io/component'] === undefined) {
      delete hn['metadata']['labels']['app.kubernetes.io/component'];
    }
    t.deepEqual(hn, normalise(k), `${k['kind']}/${k['metadata']['name']}`);
  }
}

/** The CA for the Providers' caBundle (the base's is injected by gen-tls.sh; compared without it). */
async function caArgs(): Promise<string[]> {
  return ['--set-file', `tls.caBundle=${(await pems).files['prod']}`];
}

test('helm: the chart renders the same objects as the kustomize base for the same settings', async (t) => {
  const kustomized = await kustomizeOverlay(t, []);
  const args = [...example('two-environments'), ...(await pemArgs(['prod', 'staging'])), ...(await caArgs())];
  await sameObjects(t, kustomized, (await template(args)).objects);
  // The comparison sees the specs: one setting apart, the Deployments differ.
  const other = await template([...args, '--set', 'replicaCount=3']);
  t.notDeepEqual(normalise(find(other.objects, 'Deployment', 'vouch')), normalise(find(kustomized, 'Deployment', 'vouch')));
});

test('helm: with shared cache, autoscaling and cert-manager, the same objects as the base with those components', async (t) => {
  const kustomized = await kustomizeOverlay(t, ['shared-cache', 'autoscaling', 'cert-manager']);
  const args = [...example('two-environments'), ...(await pemArgs(['prod', 'staging'])), ...(await caArgs())];
  const on = ['sharedCache.enabled=true', 'autoscaling.enabled=true', 'tls.mode=certManager'].flatMap((v) => ['--set', v]);
  await sameObjects(t, kustomized, (await template([...args, ...on])).objects);
});

test('helm: constraints and mutators are those of deploy/gatekeeper', async (t) => {
  const { objects } = await template([
    ...example('two-environments'),
    ...(await pemArgs(['prod', 'staging'])),
    ...['constraints.enabled=true', 'constraints.perEnvironment={prod,staging}', 'mutation.enabled=true'].flatMap((v) => ['--set', v]),
  ]);
  // Constraint vouch-prod is deploy/gatekeeper/constraints/prod.yaml (staging.yaml holds two, one of them a warn variant).
  const file = parseAllDocuments(await readFile(join(REPO_ROOT, 'deploy', 'gatekeeper', 'constraints', 'prod.yaml'), 'utf8'))
    .map((d) => d.toJS() as Obj)
    .find((o) => o['metadata']['name'] === 'vouch-prod')!;
  const chart = find(objects, 'VouchSignedImages', 'vouch-prod');
  t.deepEqual(chart['spec']['match']['namespaceSelector'], { matchLabels: { 'vouch.dev/environment': 'prod' } });
  const withoutSelector = (o: Obj): Obj => {
    const spec = structuredClone(o['spec']);
    delete spec['match']['namespaceSelector'];
    return spec;
  };
  t.deepEqual(withoutSelector(chart), withoutSelector(file));
  t.is(find(objects, 'VouchSignedImages', 'vouch-staging')['spec']['parameters']['environment'], 'staging');
  // The Assign mutators: kustomize build of deploy/gatekeeper/mutation.
  const { stdout } = await run(toolPath('kustomize'), ['build', join(REPO_ROOT, 'deploy', 'gatekeeper', 'mutation')]);
  const mutators = parseAllDocuments(stdout).map((d) => d.toJS() as Obj);
  t.deepEqual(ids(objects.filter((o) => o['kind'] === 'Assign')), ids(mutators));
  for (const m of mutators) t.deepEqual(find(objects, 'Assign', m['metadata']['name'])['spec'], m['spec'], m['metadata']['name']);
});

test('helm: monitoring renders the alerts, ServiceMonitor and dashboard of deploy/monitoring (files/ are exact copies)', async (t) => {
  for (const file of ['prometheusrule.yaml', 'grafana-dashboard.json']) {
    t.is(
      await readFile(join(CHART, 'files', file), 'utf8'),
      await readFile(join(REPO_ROOT, 'deploy', 'monitoring', file), 'utf8'),
      `deploy/helm/vouch/files/${file} differs from deploy/monitoring/${file}: copy it again`,
    );
  }
  const args = [...example('two-environments'), ...(await pemArgs(['prod', 'staging'])), ...(await caArgs())];
  const off = (await template(args)).objects;
  t.falsy(off.find((o) => o['kind'] === 'PrometheusRule' || o['kind'] === 'ServiceMonitor'));
  const on = ['monitoring.prometheusRule.enabled=true', 'monitoring.serviceMonitor.enabled=true', 'monitoring.dashboard.enabled=true'];
  const kustomized = await kustomizeOverlay(t, ['monitoring']);
  await sameObjects(t, kustomized, (await template([...args, ...on.flatMap((v) => ['--set', v])])).objects);
  const { objects } = await template([
    ...args,
    ...on.flatMap((v) => ['--set', v]),
    '--set',
    'monitoring.prometheusRule.labels.release=kube-prometheus-stack',
  ]);
  t.is(find(objects, 'PrometheusRule', 'vouch')['metadata']['labels']['release'], 'kube-prometheus-stack');
  const dashboard = find(objects, 'ConfigMap', 'vouch-grafana-dashboard');
  t.deepEqual(
    JSON.parse(dashboard['data']['vouch.json']),
    JSON.parse(await readFile(join(REPO_ROOT, 'deploy', 'monitoring', 'grafana-dashboard.json'), 'utf8')),
  );
  t.regex(await templateError([...args, '--set', 'monitoring.serviceMonitor.interval=often']), /interval/);
});
