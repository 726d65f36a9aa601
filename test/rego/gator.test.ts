// Gatekeeper's own test runner on the ConstraintTemplate: `gator verify deploy/gatekeeper/` (suite.yaml), plus what
// gator does with the real template. gator v3.20.1 never registers the external_data builtin (frameworks' rego driver
// registers it only when given a provider cache, which gator does not configure), so the real template does not
// compile there; the suite runs generated copies that add one stub lib defining external_data (scripts/build-rego.ts).
import test from 'ava';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT, toolPath } from '../helpers/registries.js';

const GATEKEEPER_DIR = join(REPO_ROOT, 'deploy', 'gatekeeper');

interface Run {
  code: number;
  output: string;
}

function run(command: string, args: string[], cwd = REPO_ROOT): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number') return reject(error);
      resolve({ code: error === null ? 0 : (error.code as number), output: `${stdout}${stderr}` });
    });
  });
}

interface RegoSource {
  version?: string;
  rego: string;
  libs?: string[];
}

interface Template {
  spec: { targets: Array<{ target: string; rego?: string; libs?: string[]; code: Array<{ engine: string; source: RegoSource }> }> };
}

async function readTemplate(path: string): Promise<Template> {
  return parseYaml(await readFile(path, 'utf8')) as Template;
}

function regoSource(template: Template): RegoSource {
  const target = template.spec.targets[0];
  const code = target?.code.find((c) => c.engine === 'Rego');
  if (code === undefined) throw new Error('template has no Rego code');
  return code.source;
}

test('gatekeeper › gator verify deploy/gatekeeper/ passes', async (t) => {
  const result = await run(toolPath('gator'), ['verify', '-v', 'deploy/gatekeeper/']);
  t.is(result.code, 0, result.output);
  // Every test of the suite ran (gator prints one line per test and case).
  for (const name of [
    'provider-missing-fails-closed',
    'system-error-denies-the-non-exempt-image',
    'environment-from-namespace-label',
    'undecided-ignore-fails-open',
    'no-external-data-call-without-keys',
    'schema-rejects-unknown-undecided-mode',
  ]) {
    t.regex(result.output, new RegExp(`--- PASS: ${name}\\b`), `${name} did not pass:\n${result.output}`);
  }
});

test('gatekeeper › gator cannot compile the real template: external_data is undefined there', async (t) => {
  const gator = toolPath('gator');
  const dir = await mkdtemp(join(tmpdir(), 'vouch-gator-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await copyFile(join(GATEKEEPER_DIR, 'template.yaml'), join(dir, 'template.yaml'));
  await copyFile(join(GATEKEEPER_DIR, 'gator', 'constraint.yaml'), join(dir, 'constraint.yaml'));
  await copyFile(join(GATEKEEPER_DIR, 'gator', 'pod-exempt.yaml'), join(dir, 'pod.yaml'));
  await writeFile(
    join(dir, 'suite.yaml'),
    [
      'apiVersion: test.gatekeeper.sh/v1alpha1',
      'kind: Suite',
      'tests:',
      '  - name: real-template',
      '    template: template.yaml',
      '    constraint: constraint.yaml',
      '    cases:',
      '      - name: exempt',
      '        object: pod.yaml',
      '        assertions:',
      '          - violations: no',
      '',
    ].join('\n'),
  );
  const result = await run(gator, ['verify', dir]);
  t.not(result.code, 0, `gator now compiles external_data; test the real template and drop the stub copies:\n${result.output}`);
  t.regex(result.output, /adding template: .*rego_type_error: undefined function external_data/);
});

test('template › embeds the Rego sources as a v1 code block, without the legacy rego field', async (t) => {
  const template = await readTemplate(join(GATEKEEPER_DIR, 'template.yaml'));
  const target = template.spec.targets[0];
  t.is(target?.target, 'admission.k8s.gatekeeper.sh');
  // A legacy `rego` would be converted into a v0 source that replaces this one (frameworks apis/templates/v1).
  t.is(target?.rego, undefined);
  t.is(target?.libs, undefined);
  const source = regoSource(template);
  t.is(source.version, 'v1');
  t.is(source.rego, await readFile(join(REPO_ROOT, 'rego', 'gatekeeper', 'vouch_signed_images.rego'), 'utf8'));
  // Every library file (tests excluded), in name order, as scripts/build-rego.ts embeds them.
  const libDir = join(REPO_ROOT, 'rego', 'lib');
  const libFiles = (await readdir(libDir)).filter((name) => name.endsWith('.rego') && !name.endsWith('_test.rego')).sort();
  t.deepEqual(libFiles, ['vouch.rego', 'vouch_messages.rego', 'vouch_text.rego']);
  t.deepEqual(source.libs, await Promise.all(libFiles.map((name) => readFile(join(libDir, name), 'utf8'))));
});

test('template › gator copies differ from the real template only by one stub lib defining external_data', async (t) => {
  const real = await readTemplate(join(GATEKEEPER_DIR, 'template.yaml'));
  for (const name of ['template-provider-missing.yaml', 'template-no-call.yaml']) {
    const copy = await readTemplate(join(GATEKEEPER_DIR, 'gator', name));
    const stub = regoSource(copy).libs?.at(-1) ?? '';
    const withoutStub = structuredClone(copy);
    regoSource(withoutStub).libs = regoSource(withoutStub).libs?.slice(0, -1);
    t.deepEqual(withoutStub, real, name);
    t.regex(stub, /^package lib\.vouch$/m, name);
    t.deepEqual(
      stub
        .split('\n')
        .filter((line) => /^\w/.test(line) && !line.startsWith('package '))
        .map((line) => line.split('(')[0]),
      name === 'template-no-call.yaml' ? ['external_data', 'external_data'] : ['external_data'],
      name,
    );
  }
});
