// Every object vouch ships for a cluster, validated offline against the schemas the API server would apply
// (test/helpers/schema-validation.ts: kubectl-validate with Kubernetes 1.30's built-in schemas, Gatekeeper v3.20.1's,
// cert-manager's and prometheus-operator's CRDs, and each Constraint kind's CRD generated from its template): the
// kustomize base, the Gatekeeper kustomizations, overlays with each component, the example overlays, the Helm chart
// with every example values file, and the monitoring manifests. A final test proves the check can fail.

import test, { type ExecutionContext } from 'ava';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { writeDeployOverlay } from '../helpers/kustomize-overlay.js';
import { generateRoot } from '../helpers/pki.js';
import { readmeBlocks, runScript } from '../helpers/readme.js';
import { REPO_ROOT, toolPath } from '../helpers/registries.js';
import {
  KUBERNETES_VERSION,
  constraintCrd,
  matchSchema,
  parseManifests,
  toolsBin,
  validateObjects,
  type SchemaResult,
} from '../helpers/schema-validation.js';

type Obj = Record<string, any>;

const run = promisify(execFile);
const DEPLOY = join(REPO_ROOT, 'deploy');
const CHART = join(DEPLOY, 'helm', 'vouch');
const MONITORING = join(DEPLOY, 'monitoring');
const COMPONENTS = ['cert-manager', 'shared-cache', 'autoscaling'] as const;

async function kustomize(dir: string): Promise<Obj[]> {
  const { stdout } = await run(toolPath('kustomize'), ['build', dir], { maxBuffer: 16 * 1024 * 1024 });
  return parseManifests(stdout, `kustomize build ${relative(REPO_ROOT, dir) || dir}`);
}

/** Asserts that there is something to check and that every object passed, listing every error of every object. */
function assertValid(t: ExecutionContext, objects: Obj[], results: SchemaResult[], what: string): void {
  t.true(objects.length > 0, `${what}: no objects to validate`);
  t.is(results.length, objects.length, `${what}: one result per object`);
  const failures = results.filter((r) => r.errors.length > 0).map((r) => `${r.object}\n    ${r.errors.join('\n    ')}`);
  t.deepEqual(failures, [], `${what}: objects rejected by their schemas`);
  t.log(`${what}: ${results.length} objects valid`);
}

/** The Gatekeeper ConstraintTemplate, for Constraints rendered without it (Helm values, overlays). */
async function vouchTemplate(): Promise<Obj> {
  return parseYaml(await readFile(join(DEPLOY, 'gatekeeper', 'template.yaml'), 'utf8')) as Obj;
}

/** A temporary overlay of a copy of deploy/ (kustomize refuses overlays inside their base, and absolute paths). */
function overlay(t: ExecutionContext, components: readonly string[]): Promise<string> {
  return writeDeployOverlay(t, components);
}

test('schemas: the kustomize base deploy/ is valid Kubernetes 1.30 and Gatekeeper Provider objects', async (t) => {
  const objects = await kustomize(DEPLOY);
  t.true(
    objects.some((o) => o['kind'] === 'Provider'),
    'the Provider is among the objects checked',
  );
  assertValid(t, objects, await validateObjects(objects, { origin: 'deploy/' }), 'deploy/');
});

test('schemas: deploy/gatekeeper/ (template, Constraints against the generated Constraint CRD, SyncSet)', async (t) => {
  const objects = await kustomize(join(DEPLOY, 'gatekeeper'));
  t.true(objects.filter((o) => o['apiVersion'] === 'constraints.gatekeeper.sh/v1beta1').length > 0, 'Constraints checked');
  // The generated Constraint CRD is itself a valid CRD (kubectl-validate checks CRDs with the API server's own rules).
  const crd = constraintCrd(
    objects.find((o) => o['kind'] === 'ConstraintTemplate')!,
    await matchSchema(),
  );
  t.is(crd['spec']['names']['kind'], 'VouchSignedImages');
  objects.push(crd);
  assertValid(t, objects, await validateObjects(objects, { origin: 'deploy/gatekeeper/' }), 'deploy/gatekeeper/');
});

test('schemas: deploy/gatekeeper/mutation/ and the Gatekeeper Config of sync/config.yaml', async (t) => {
  const objects = await kustomize(join(DEPLOY, 'gatekeeper', 'mutation'));
  t.true(objects.some((o) => o['kind'] === 'Assign'));
  assertValid(t, objects, await validateObjects(objects, { origin: 'deploy/gatekeeper/mutation/' }), 'mutation');
  // sync/config.yaml is the alternative to the SyncSet (Gatekeeper's Config), applied by hand: not in a kustomization.
  const configFile = join(DEPLOY, 'gatekeeper', 'sync', 'config.yaml');
  const config = parseManifests(await readFile(configFile, 'utf8'), 'deploy/gatekeeper/sync/config.yaml');
  t.true(config.some((o) => o['kind'] === 'Config'));
  assertValid(t, config, await validateObjects(config, { origin: 'sync/config.yaml' }), 'sync/config.yaml');
});

/** The kustomize Components under deploy/components/ (those named in the brief and any added since). */
async function components(): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(join(DEPLOY, 'components'), { withFileTypes: true })) {
    const file = join(DEPLOY, 'components', entry.name, 'kustomization.yaml');
    if (entry.isDirectory() && existsSync(file) && (parseYaml(await readFile(file, 'utf8')) as Obj)?.['kind'] === 'Component') {
      found.push(entry.name);
    }
  }
  return found.sort();
}

test('schemas: an overlay of deploy/ with each component, and with all of them', async (t) => {
  const all = await components();
  for (const c of COMPONENTS) t.true(all.includes(c), `deploy/components/${c} exists`);
  for (const set of [...all.map((c) => [c]), all]) {
    const objects = await kustomize(await overlay(t, set));
    if (set.includes('cert-manager')) t.true(objects.some((o) => o['kind'] === 'Certificate'));
    if (set.includes('autoscaling')) t.true(objects.some((o) => o['kind'] === 'HorizontalPodAutoscaler'));
    const what = `overlay with ${set.join(' + ')}`;
    assertValid(t, objects, await validateObjects(objects, { origin: what }), what);
  }
});

/** Directories under deploy/overlays/ holding a kustomization that builds (not a Component). */
async function overlayDirs(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const sub = join(dir, entry.name);
    const file = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].map((f) => join(sub, f)).find(existsSync);
    if (file && (parseYaml(await readFile(file, 'utf8')) as Obj)?.['kind'] !== 'Component') found.push(sub);
    found.push(...(await overlayDirs(sub)));
  }
  return found;
}

test('schemas: every overlay under deploy/overlays/', async (t) => {
  const root = join(DEPLOY, 'overlays');
  if (!existsSync(root)) {
    t.log('deploy/overlays/ is absent in this checkout: no example overlays to validate');
    t.pass();
    return;
  }
  const dirs = await overlayDirs(root);
  t.true(dirs.length > 0, 'deploy/overlays/ holds at least one overlay');
  const template = await vouchTemplate();
  for (const dir of dirs) {
    const objects = await kustomize(dir);
    const what = relative(REPO_ROOT, dir);
    assertValid(t, objects, await validateObjects(objects, { origin: what, templates: [template] }), what);
  }
});

test('schemas: helm template deploy/helm/vouch with every values file in examples/, every optional part on', async (t) => {
  if (!existsSync(join(CHART, 'Chart.yaml'))) {
    t.log('deploy/helm/vouch is absent in this checkout: the chart is not validated here (it is once merged)');
    t.pass();
    return;
  }
  const helm = toolsBin('helm');
  const examples = join(CHART, 'examples');
  const valuesFiles = existsSync(examples)
    ? (await readdir(examples))
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()
        .map((f) => join(examples, f))
    : [];
  t.true(valuesFiles.length > 0, 'deploy/helm/vouch/examples/ holds values files');
  const template = await vouchTemplate();
  // The defaults render nothing on purpose (no environment, no trust): each example gets example roots for
  // its inline trust stores and a CA for the Providers' caBundle (else the chart leaves the Providers out).
  const root = await generateRoot({ subject: 'CN=schema check root,O=vouch' });
  const pemDir = await mkdtemp(join(tmpdir(), 'vouch-schemas-pem-'));
  t.teardown(() => rm(pemDir, { recursive: true, force: true }));
  const pemFile = join(pemDir, 'root.pem');
  await writeFile(pemFile, `${root.certificate.toPem().trimEnd()}\n`);
  // helm keeps its cache and config under HOME: a private one, so nothing of the user's is read or written.
  const home = await mkdtemp(join(tmpdir(), 'vouch-schemas-helm-'));
  t.teardown(() => rm(home, { recursive: true, force: true }));
  for (const values of valuesFiles) {
    const what = `helm template -f ${relative(REPO_ROOT, values)}`;
    // The CRD groups are announced as installed, so templates that check .Capabilities render those objects too.
    const args = ['template', 'vouch', CHART, '--namespace', 'vouch-system', '--kube-version', `${KUBERNETES_VERSION}.0`];
    for (const api of [
      'cert-manager.io/v1',
      'monitoring.coreos.com/v1',
      'externaldata.gatekeeper.sh/v1beta1',
      'templates.gatekeeper.sh/v1',
      'mutations.gatekeeper.sh/v1',
      'syncset.gatekeeper.sh/v1alpha1',
      'constraints.gatekeeper.sh/v1beta1',
      'autoscaling/v2',
    ]) {
      args.push('--api-versions', api);
    }
    args.push('--values', values, '--set-file', `tls.caBundle=${pemFile}`);
    const stores = (parseYaml(await readFile(values, 'utf8')) as { trustStores?: Record<string, { pem?: string }> }).trustStores ?? {};
    for (const [name, store] of Object.entries(stores))
      if (store.pem !== undefined) args.push('--set-file', `trustStores.${name}.pem=${pemFile}`);
    for (const part of ['monitoring.prometheusRule.enabled', 'monitoring.serviceMonitor.enabled', 'monitoring.dashboard.enabled']) {
      args.push('--set', `${part}=true`);
    }
    const { stdout } = await run(helm, args, {
      maxBuffer: 16 * 1024 * 1024,
      env: {
        ...process.env,
        HOME: home,
        XDG_CACHE_HOME: join(home, 'cache'),
        XDG_CONFIG_HOME: join(home, 'config'),
        XDG_DATA_HOME: join(home, 'data'),
      },
    });
    const objects = parseManifests(stdout, what);
    assertValid(t, objects, await validateObjects(objects, { origin: what, templates: [template] }), what);
  }
});

test('schemas: the Kubernetes manifests in deploy/monitoring/ (PrometheusRule)', async (t) => {
  if (!existsSync(MONITORING)) {
    t.log('deploy/monitoring/ is absent in this checkout: no PrometheusRule to validate');
    t.pass();
    return;
  }
  const objects: Obj[] = [];
  if (existsSync(join(MONITORING, 'kustomization.yaml'))) {
    objects.push(...(await kustomize(MONITORING)));
  } else {
    for (const file of (await readdir(MONITORING)).filter((f) => /\.ya?ml$/.test(f)).sort()) {
      objects.push(...parseManifests(await readFile(join(MONITORING, file), 'utf8'), `deploy/monitoring/${file}`));
    }
  }
  t.true(
    objects.some((o) => o['kind'] === 'PrometheusRule'),
    'deploy/monitoring/ holds a PrometheusRule',
  );
  assertValid(t, objects, await validateObjects(objects, { origin: 'deploy/monitoring/' }), 'deploy/monitoring/');
});

test('schemas: the validator rejects broken objects and names the offending field', async (t) => {
  const base = await kustomize(DEPLOY);
  const template = await vouchTemplate();
  const deployment = structuredClone(base.find((o) => o['kind'] === 'Deployment')!);
  const provider = structuredClone(base.find((o) => o['kind'] === 'Provider')!);
  const gatekeeper = await kustomize(join(DEPLOY, 'gatekeeper'));
  const constraint = structuredClone(gatekeeper.find((o) => o['apiVersion'] === 'constraints.gatekeeper.sh/v1beta1')!);

  const broken: { object: Obj; field: RegExp }[] = [];
  // native kind: a string where an integer belongs, and a misspelt field (strict field validation)
  const d1 = structuredClone(deployment);
  d1['spec']['replicas'] = 'two';
  broken.push({ object: d1, field: /spec\.replicas/ });
  const d2 = structuredClone(deployment);
  d2['spec']['template']['spec']['containers'][0]['imagePullPolicyy'] = 'Always';
  broken.push({ object: d2, field: /imagePullPolicyy/ });
  // Gatekeeper's Provider CRD: timeout is an integer (seconds)
  const p1 = structuredClone(provider);
  p1['spec']['timeout'] = '3s';
  broken.push({ object: p1, field: /spec\.timeout/ });
  // the Constraint CRD generated from the template: exemptImages is an array of strings; match.kinds a list
  const c1 = structuredClone(constraint);
  c1['spec']['parameters']['exemptImages'] = 'registry.k8s.io/pause:*';
  broken.push({ object: c1, field: /spec\.parameters\.exemptImages/ });
  const c2 = structuredClone(constraint);
  c2['spec']['match']['kinds'] = 'Pod';
  broken.push({ object: c2, field: /spec\.match\.kinds/ });
  // cert-manager's Certificate CRD
  broken.push({
    object: {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name: 'broken', namespace: 'vouch-system' },
      spec: { secretName: 'x', issuerRef: { name: 'ca' }, duration: 5, dnsNames: ['vouch'] },
    },
    field: /spec\.duration/,
  });
  // prometheus-operator's PrometheusRule CRD: groups[].rules[] need `expr`
  broken.push({
    object: {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: 'broken', namespace: 'vouch-system' },
      spec: { groups: [{ name: 'vouch', rules: [{ alert: 'X', for: '5m', exprr: 'up == 0' }] }] },
    },
    field: /spec\.groups\[0\]\.rules\[0\]/,
  });
  // YAML 1.1, as kubectl reads it: an unquoted `yes` is a boolean, not a label value
  const [yes] = parseManifests('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels:\n    on: yes\n', 'yaml 1.1');
  broken.push({ object: yes!, field: /labels/ });
  // a kind no schema describes is an error, not a pass
  broken.push({ object: { apiVersion: 'example.com/v1', kind: 'Nope', metadata: { name: 'x' } }, field: /./ });

  // Controls in the same run: the unmodified objects pass.
  const controls = [deployment, provider, constraint];
  const results = await validateObjects([...controls, ...broken.map((b) => b.object)], { origin: 'negative', templates: [template] });
  for (const [i, control] of controls.entries()) t.deepEqual(results[i]!.errors, [], `control ${control['kind']} is valid`);
  for (const [i, b] of broken.entries()) {
    const r = results[controls.length + i]!;
    t.true(r.errors.length > 0, `${r.object} is rejected`);
    t.true(
      r.errors.some((e) => b.field.test(e)),
      `${r.object}: an error names ${b.field}: ${r.errors.join(' | ')}`,
    );
  }
  t.log(
    results
      .slice(controls.length)
      .map((r) => `${r.object}: ${r.errors.join(' | ')}`)
      .join('\n'),
  );
});

/**
 * Runs requests through tools/gatekeeper-harness (Gatekeeper v3.20.1's own constraint client) and returns each
 * request's error ('' when accepted), in order. The harness answers one JSON line per request and exits on EOF.
 */
function harness(requests: Record<string, unknown>[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(toolPath('gatekeeper-harness'), ['-no-client-auth'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const answers = stdout
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { id: number; error?: string });
      if (code !== 0 || answers.length !== requests.length) {
        reject(new Error(`gatekeeper-harness exited ${code} after ${answers.length}/${requests.length} answers: ${stderr}`));
        return;
      }
      resolve(requests.map((_, i) => answers.find((a) => a.id === i + 1)?.error ?? ''));
    });
    child.stdin.end(requests.map((r, i) => JSON.stringify({ id: i + 1, ...r })).join('\n') + '\n');
  });
}

test('schemas: the generated Constraint CRD accepts and rejects what Gatekeeper v3.20.1 itself does', async (t) => {
  const gatekeeper = await kustomize(join(DEPLOY, 'gatekeeper'));
  const template = gatekeeper.find((o) => o['kind'] === 'ConstraintTemplate')!;
  const shipped = gatekeeper.filter((o) => o['apiVersion'] === 'constraints.gatekeeper.sh/v1beta1');
  const variant = (name: string, edit: (c: Obj) => void): Obj => {
    const c = structuredClone(shipped[0]!);
    c['metadata']['name'] = name;
    edit(c);
    return c;
  };
  // Type and enum errors: both must reject. (Unknown fields are not compared: the API server rejects them under
  // kubectl's strict field validation, while Gatekeeper's client validates types only.)
  const broken = [
    variant('exempt-not-array', (c) => (c['spec']['parameters']['exemptImages'] = 'registry.k8s.io/pause:*')),
    variant('kinds-not-array', (c) => (c['spec']['match']['kinds'] = 'Pod')),
    variant('undecided-not-in-enum', (c) => (c['spec']['parameters']['undecided'] = 'maybe')),
    variant('action-not-string', (c) => (c['spec']['enforcementAction'] = 5)),
    variant('excluded-not-array', (c) => (c['spec']['match']['excludedNamespaces'] = 'kube-system')),
  ];
  const constraints = [...shipped, ...broken];
  const dir = await mkdtemp(join(tmpdir(), 'vouch-schemas-gk-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'template.json'), JSON.stringify(template));
  const requests: Record<string, unknown>[] = [{ op: 'template', path: join(dir, 'template.json') }];
  for (const [i, c] of constraints.entries()) {
    await writeFile(join(dir, `c${i}.json`), JSON.stringify(c));
    requests.push({ op: 'constraint', path: join(dir, `c${i}.json`) });
  }
  const [templateError, ...gatekeeperErrors] = await harness(requests);
  t.is(templateError, '', 'Gatekeeper accepts the template');
  const results = await validateObjects(constraints, { origin: 'cross-check', templates: [template] });
  for (const [i, c] of constraints.entries()) {
    const name = c['metadata']['name'] as string;
    const expectValid = i < shipped.length;
    t.is(gatekeeperErrors[i] === '', expectValid, `Gatekeeper on ${name}: ${gatekeeperErrors[i]}`);
    t.is(results[i]!.errors.length === 0, expectValid, `kubectl-validate on ${name}: ${results[i]!.errors.join(' | ')}`);
  }
  t.log(broken.map((c, i) => `${c['metadata']['name']}: ${gatekeeperErrors[shipped.length + i]}`).join('\n'));
});

test('schemas: the README block that checks the manifests by hand passes, and fails on a broken manifest', async (t) => {
  const [block] = await readmeBlocks('schema-check');
  const dir = await mkdtemp(join(tmpdir(), 'vouch-schemas-readme-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const script = join(dir, 'check.sh');
  await writeFile(script, `set -euo pipefail\n${block!.body}`);
  const env = { ...process.env, TMPDIR: dir, HTTPS_PROXY: 'http://127.0.0.1:9', HTTP_PROXY: 'http://127.0.0.1:9' };
  const ok = await runScript(script, REPO_ROOT, env, 60_000);
  t.is(ok.code, 0, ok.stdout + ok.stderr);
  t.regex(ok.stdout, /vouch\.yaml.*OK/);
  // The same command on a manifest with a broken Deployment fails and names the field.
  const broken = join(dir, 'broken.sh');
  await writeFile(
    broken,
    `set -euo pipefail\n${block!.body.replace(/^(\.tools\/bin\/kustomize build deploy\/) > (.*)$/m, "$1 | sed 's/^  replicas: [0-9]*$/  replicas: two/' > $2")}`,
  );
  const bad = await runScript(broken, REPO_ROOT, env, 60_000);
  t.not(bad.code, 0, 'the broken manifest is rejected');
  t.regex(bad.stdout + bad.stderr, /spec\.replicas/);
});
