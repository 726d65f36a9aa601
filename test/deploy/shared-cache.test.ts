// The optional components deploy/components/shared-cache (cache.shared on Redis: config, HMAC key
// Secret mounted as a file, NetworkPolicy egress) and deploy/components/autoscaling (an HPA), built with
// the pinned kustomize through an overlay in a temporary directory, as a user keeps one next to deploy/.

import test from 'ava';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { writeDeployOverlay } from '../helpers/kustomize-overlay.js';
import { REPO_ROOT, toolPath } from '../helpers/registries.js';

type Obj = Record<string, any>;

const run = promisify(execFile);
const DEPLOY = join(REPO_ROOT, 'deploy');

async function buildOverlay(t: import('ava').ExecutionContext, components: string[]): Promise<Obj[]> {
  const overlay = await writeDeployOverlay(t, components);
  const { stdout } = await run(toolPath('kustomize'), ['build', overlay], { maxBuffer: 16 * 1024 * 1024 });
  return parseAllDocuments(stdout, { uniqueKeys: true }).map((doc) => doc.toJS() as Obj);
}

const find = (objects: Obj[], kind: string, name: string): Obj | undefined =>
  objects.find((o) => o['kind'] === kind && o['metadata']['name'] === name);

async function baseConfigMap(): Promise<Obj> {
  const docs = parseAllDocuments(await readFile(join(DEPLOY, 'base', 'configmap.yaml'), 'utf8')).map((d) => d.toJS() as Obj);
  return docs.find((d) => d['metadata']?.['name'] === 'vouch-config')!;
}

test('shared-cache component: config.yaml is the base one plus cache.shared, valid against the schema', async (t) => {
  const objects = await buildOverlay(t, ['shared-cache']);
  const configMap = find(objects, 'ConfigMap', 'vouch-config')!;
  const base = await baseConfigMap();
  const text: string = configMap['data']['config.yaml'];
  // Everything before the shared block is the base's file: the copy cannot drift.
  const at = text.indexOf('  # Shared result cache');
  t.true(at > 0);
  t.is(text.slice(0, at), base['data']['config.yaml']);
  // The other files of the ConfigMap (trust policies) are the base's.
  t.deepEqual(Object.keys(configMap['data']).sort(), Object.keys(base['data']).sort());
  t.is(configMap['data']['trustpolicy.prod.json'], base['data']['trustpolicy.prod.json']);
  const config = parseYaml(text, { uniqueKeys: true }) as Obj;
  const schema = JSON.parse(await readFile(join(REPO_ROOT, 'docs', 'vouch.schema.json'), 'utf8')) as Obj;
  const validate = new Ajv2020({ strict: false }).compile(schema);
  t.true(validate(config), JSON.stringify(validate.errors));
  t.regex(config['cache']['shared']['url'], /^rediss?:\/\//);
  t.is(config['cache']['maxBytes'], parseYaml(base['data']['config.yaml'])['cache']['maxBytes']);
});

test('shared-cache component: the HMAC key Secret is mounted where keyFile points, read-only', async (t) => {
  const objects = await buildOverlay(t, ['shared-cache']);
  const config = parseYaml(find(objects, 'ConfigMap', 'vouch-config')!['data']['config.yaml']) as Obj;
  const keyFile: string = config['cache']['shared']['keyFile'];
  const spec = find(objects, 'Deployment', 'vouch')!['spec']['template']['spec'];
  const container = spec['containers'][0];
  const mount = (container['volumeMounts'] as Obj[]).find((m) => m['mountPath'] === dirname(keyFile));
  t.truthy(mount, `a mount at ${dirname(keyFile)}`);
  t.true(mount!['readOnly']);
  t.is(mount!['subPath'], undefined, 'no subPath: a rotated Secret reaches the pod');
  const volume = (spec['volumes'] as Obj[]).find((v) => v['name'] === mount!['name'])!;
  t.is(volume['secret']['secretName'], 'vouch-shared-cache');
  t.is(volume['secret']['defaultMode'], 0o440);
  // The base's mounts and volumes are all still there.
  for (const name of ['config', 'tls', 'gatekeeper-ca', 'truststore-prod', 'tmp']) {
    t.truthy(
      (spec['volumes'] as Obj[]).find((v) => v['name'] === name),
      name,
    );
  }
  t.false(JSON.stringify(objects).includes('PRIVATE KEY'));
});

test('shared-cache component: a NetworkPolicy lets the provider pods reach Redis on 6379', async (t) => {
  const objects = await buildOverlay(t, ['shared-cache']);
  const policy = find(objects, 'NetworkPolicy', 'vouch-shared-cache')!;
  t.is(policy['metadata']['namespace'], 'vouch-system');
  const podLabels = find(objects, 'Deployment', 'vouch')!['spec']['template']['metadata']['labels'];
  for (const [k, v] of Object.entries(policy['spec']['podSelector']['matchLabels'] as Record<string, string>)) t.is(podLabels[k], v);
  t.deepEqual(policy['spec']['policyTypes'], ['Egress']);
  t.deepEqual(policy['spec']['egress'][0]['ports'], [{ port: 6379, protocol: 'TCP' }]);
  const url = new URL((parseYaml(find(objects, 'ConfigMap', 'vouch-config')!['data']['config.yaml']) as Obj)['cache']['shared']['url']);
  t.is(url.port, '6379');
});

test('autoscaling component: an HPA of at least 2 replicas scales the Deployment, which no longer fixes replicas', async (t) => {
  const objects = await buildOverlay(t, ['shared-cache', 'autoscaling']);
  const hpa = find(objects, 'HorizontalPodAutoscaler', 'vouch')!;
  t.is(hpa['apiVersion'], 'autoscaling/v2');
  t.is(hpa['metadata']['namespace'], 'vouch-system');
  t.deepEqual(hpa['spec']['scaleTargetRef'], { apiVersion: 'apps/v1', kind: 'Deployment', name: 'vouch' });
  const pdb = find(objects, 'PodDisruptionBudget', 'vouch')!;
  t.true(hpa['spec']['minReplicas'] > pdb['spec']['minAvailable'], 'a drain never leaves no replica');
  t.true(hpa['spec']['maxReplicas'] >= hpa['spec']['minReplicas']);
  const deployment = find(objects, 'Deployment', 'vouch')!;
  t.is(deployment['spec']['replicas'], undefined);
  // CPU utilisation needs a CPU request to be measured against.
  t.truthy(deployment['spec']['template']['spec']['containers'][0]['resources']['requests']['cpu']);
});
