// The library's public API (package "vouch" = src/index.ts, "vouch/testing" = src/testing.ts): the
// README example type-checks against it (readmeExample below is compiled by `tsc --noEmit`, never
// run), every name the README imports exists, and the list of exported values changes only on purpose.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import {
  RegistryClient,
  findSignatures,
  parseReference,
  manifestReference,
  readOciTrustPolicyFile,
  FileTrustStore,
  NotationVerifier,
  verifyNotationArtifact,
  loadConfig,
  startProvider,
  VouchError,
} from '../../src/index.js';
import * as api from '../../src/index.js';
import * as testing from '../../src/testing.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** README "Using it as a library", statement for statement. */
export async function readmeExample(): Promise<unknown[]> {
  const client = new RegistryClient({ hosts: { '127.0.0.1:5000': { plainHttp: true } } });
  const ref = parseReference('127.0.0.1:5000/team/app:1.0');
  const repo = client.repositoryFor(ref);
  const subject = await repo.resolve(manifestReference(ref), { signal: AbortSignal.timeout(2900) });
  const { artifacts, skipped, via } = await findSignatures(repo, subject.digest);

  const policy = await readOciTrustPolicyFile('trustpolicy.json');
  const verifier = new NotationVerifier({ trustStore: new FileTrustStore('truststore') });
  const result = await verifyNotationArtifact(repo, repo.location, subject, policy, verifier);
  const used: unknown[] = [result.verified, result.reasons[0]?.code, result.signatures[0]?.checks];

  try {
    const provider = await startProvider(await loadConfig('vouch.yaml'));
    const [answer] = await provider.engine.verify(['[prod]registry.example.com/team/app:1.0'], { deadline: Date.now() + 2000 });
    used.push(answer?.value?.verified, answer?.error?.code, answer?.error?.reason);
    await provider.close();
  } catch (error) {
    if (error instanceof VouchError) used.push(error.code, error.reason);
  }
  return [artifacts, skipped, via, ...used];
}

/** The names README.md's "Using it as a library" section imports from `module`, or mentions in `code` spans. */
async function readmeNames(): Promise<{ imported: Map<string, string[]>; testingMentioned: string[] }> {
  const readme = await readFile(`${ROOT}README.md`, 'utf8');
  const start = readme.indexOf('## Using it as a library');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const imported = new Map<string, string[]>();
  for (const match of section.matchAll(/import\s*\{([^}]*)\}\s*from\s*'([^']+)'/g)) {
    const names = match[1]!
      .split(',')
      .map((name) => name.trim().replace(/^type\s+/, ''))
      .filter((name) => name !== '');
    imported.set(match[2]!, [...(imported.get(match[2]!) ?? []), ...names]);
  }
  const testingParagraph = section.slice(section.indexOf('`vouch/testing`'));
  const testingMentioned = [...testingParagraph.matchAll(/`([A-Za-z_]+)`/g)].map((m) => m[1]!);
  return { imported, testingMentioned };
}

test('public API: every name the README imports from vouch is exported by src/index.ts', async (t) => {
  const { imported } = await readmeNames();
  const names = imported.get('vouch') ?? [];
  t.true(names.length >= 10, `README imports ${names.join(', ')}`);
  t.deepEqual([...imported.keys()], ['vouch']);
  for (const name of names) t.true(name in api, `${name} is not exported by src/index.ts`);
  t.is(typeof readmeExample, 'function');
});

test('public API: the names the README lists for vouch/testing are exported by src/testing.ts', async (t) => {
  const { testingMentioned } = await readmeNames();
  t.true(testingMentioned.length >= 5);
  for (const name of testingMentioned) t.true(name in testing, `${name} is not exported by src/testing.ts`);
});

test('public API: src/index.ts exports exactly these values (types are checked by the compiler)', (t) => {
  t.deepEqual(Object.keys(api).sort(), [
    'ANSWER_CODES',
    'CHECK_TYPES',
    'CONFIG_ENV_VAR',
    'DOCKER_HUB_HOST',
    'FileTrustStore',
    'INTERNAL_CODES',
    'InvalidReferenceError',
    'MEDIA_TYPE',
    'NotationVerifier',
    'OciLayoutSource',
    'PluginHost',
    'RegistryClient',
    'RegistryError',
    'RevocationChecker',
    'UNDECIDED_CODES',
    'VerificationEngine',
    'VouchError',
    'WasmPolicy',
    'checkSignatureForEnvironment',
    'computeDigest',
    'configPathFrom',
    'copyImage',
    'createRegistryClient',
    'createVerificationStack',
    'discoverReferrers',
    'findApplicableStatement',
    'findSignatures',
    'formatReference',
    'isDigest',
    'isUndecidedCode',
    'isVouchError',
    'loadConfig',
    'loadPolicyBytes',
    'loadPolicyFile',
    'loadSigningIdentity',
    'manifestReference',
    'parseConfig',
    'parseDigest',
    'parseKey',
    'parseOciTrustPolicy',
    'parseReference',
    'pluginEnvironment',
    'pluginSigningKey',
    'prepareSignature',
    'promoteImage',
    'pushSignature',
    'readOciTrustPolicyFile',
    'repositoryName',
    'signImage',
    'startProvider',
    'verifyNotationArtifact',
    'walkReferrers',
    'withDigest',
  ]);
});

test('public API: signing, push and layout helpers are in vouch/testing only, Go-quoting helpers nowhere', (t) => {
  const testingOnly = [
    'generateSigningIdentity',
    'signEnvelope',
    'buildSignatureManifest',
    'attachReferrer',
    'buildImageManifest',
    'OciLayoutWriter',
  ];
  for (const name of testingOnly) {
    t.true(name in testing, `${name} in vouch/testing`);
    t.false(name in api, `${name} not in vouch`);
  }
  for (const name of ['goQuote', 'toGoNameString', 'readFirstJsonValue']) {
    t.false(name in api, name);
    t.false(name in testing, name);
  }
});

test('public API: package.json exports vouch and vouch/testing from what tsconfig.build.json builds', async (t) => {
  const pkg = JSON.parse(await readFile(`${ROOT}package.json`, 'utf8')) as { exports: Record<string, string> };
  t.deepEqual(pkg.exports, { '.': './dist/index.js', './testing': './dist/testing.js' });
  const build = JSON.parse(await readFile(`${ROOT}tsconfig.build.json`, 'utf8')) as {
    include: string[];
    compilerOptions: { rootDir: string; outDir: string };
  };
  t.deepEqual(build.include, ['src']);
  t.is(build.compilerOptions.rootDir, 'src');
  t.is(build.compilerOptions.outDir, 'dist');
});
