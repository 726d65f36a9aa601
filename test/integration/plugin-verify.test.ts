// Signatures that name a verification plugin, made by the real `notation sign --plugin vouch-test` (the plugin builds
// the JWS or COSE envelope and names itself) on a real registry (olareg), judged by the real `notation verify` and by
// vouch's runtime (createRuntime from a configuration with a `plugins` section: one PluginHost, per-environment plugin
// configuration). Both run the same real plugin (tools/notation-vouch-test) and must AGREE: trusted, untrusted (the
// plugin says no), revoked (the plugin says so). Spec: plugin-extensibility.md "Verification extensibility"
// (https://github.com/notaryproject/specifications/blob/v1.1.0/specs/plugin-extensibility.md).

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import test from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createRuntime, startProvider, type Runtime } from '../../src/app/index.js';
import { PROTO_FILE } from '../../src/server/index.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log.js';
import { RegistryClient } from '../../src/oci/index.js';
import type { KeyResult } from '../../src/verify/index.js';
import { NotationCli } from '../helpers/notation.js';
import {
  ENVELOPE_SIGNING,
  fingerprintIdentity,
  installTestPlugin,
  installTestPluginForNotation,
  signWithNotationPlugin,
  testPluginKey,
  TEST_PLUGIN_NAME,
  verifyWithNotationPlugin,
} from '../helpers/notation-plugin.js';
import { buildImage, pushManifest } from '../helpers/oci-fixtures.js';
import { generateChain, generateLeaf, generateRoot } from '../helpers/pki.js';
import { startReferrersRegistry, type RunningRegistry } from '../helpers/registries.js';

// olareg serves the Referrers API: notation pushes signatures for it, not under the referrers tag.
const REFERRERS_API = ['--force-referrers-tag=false'];
const SCOPES = ['trusted', 'untrusted', 'revoked'] as const;
type Scope = (typeof SCOPES)[number];

interface Setup {
  registry: RunningRegistry;
  client: RegistryClient;
  notation: NotationCli;
  runtime: Runtime;
  dir: string;
  configFile: string;
}

let setup: Setup | undefined;

test.before(async () => {
  const [registry, notation, root, dir] = await Promise.all([
    startReferrersRegistry(),
    NotationCli.create(),
    generateRoot(),
    mkdtemp(join(tmpdir(), 'vouch-plugin-verify-')),
  ]);
  const client = new RegistryClient({ hosts: { [registry.host]: { plainHttp: true } } });
  const good = await generateLeaf({ issuer: root, subject: 'CN=plugin signer,O=vouch,ST=WA,C=US' });
  const revoked = await generateLeaf({ issuer: root, subject: 'CN=revoked signer,O=vouch,ST=WA,C=US' });
  const stranger = await generateChain({ length: 2 });
  // notation's copy holds the keys (it signs); vouch's own plugins directory only verifies. Same revocation list.
  await installTestPluginForNotation(notation, {
    keys: [testPluginKey('good', [good, root]), testPluginKey('revoked', [revoked, root])],
    revoked: [revoked.certificate],
  });
  const pluginsDir = join(dir, 'plugins');
  await mkdir(pluginsDir, { mode: 0o755 });
  await installTestPlugin(pluginsDir, { revoked: [revoked.certificate] });

  // One trust policy, for both verifiers: the identities only the plugin understands.
  const statement = (scope: Scope, trustedIdentities: string[]) => ({
    name: scope,
    registryScopes: [`${registry.host}/plugin/${scope}`],
    signatureVerification: { level: 'strict' },
    trustStores: ['ca:plugin-root'],
    trustedIdentities,
  });
  const policy = {
    version: '1.0',
    trustPolicies: [
      statement('trusted', [fingerprintIdentity(good.certificate)]),
      statement('untrusted', [fingerprintIdentity(stranger.leaf.certificate)]),
      statement('revoked', ['*']),
    ],
  };
  await notation.addTrustedCertificates('ca', 'plugin-root', [root.certificate.toPem()]);
  await notation.setTrustPolicy(policy);

  const store = join(dir, 'truststore', 'x509', 'ca', 'plugin-root');
  await mkdir(store, { recursive: true });
  await writeFile(join(store, 'root.pem'), root.certificate.toPem());
  await writeFile(join(dir, 'trustpolicy.json'), JSON.stringify(policy));
  const environment = { trustPolicy: join(dir, 'trustpolicy.json'), trustStore: join(dir, 'truststore') };
  const file = join(dir, 'vouch.yaml');
  await writeFile(
    file,
    stringify({
      // Gatekeeper's budget is short; a test on a loaded machine gets more for the plugin commands.
      server: { address: '127.0.0.1:0', grpcAddress: '127.0.0.1:0', healthAddress: '127.0.0.1:0', requestTimeoutMs: 2_900 },
      defaultEnvironment: 'prod',
      environments: { prod: environment, faulty: environment },
      registries: { [registry.host]: { plainHttp: true } },
      revocation: { offline: true },
      plugins: {
        directory: pluginsDir,
        timeoutMs: 2_500,
        // Per environment: the same plugin, told to crash in one of them.
        // (and a secret from the environment, which the plugin ignores and the log must not show).
        config: {
          prod: { [TEST_PLUGIN_NAME]: { 'test.token': { fromEnv: 'VOUCH_TEST_PLUGIN_TOKEN' } } },
          faulty: { [TEST_PLUGIN_NAME]: { 'test.fail.verify-signature': 'crash' } },
        },
      },
    }),
  );
  const logged: string[] = [];
  const runtime = await createRuntime(await loadConfig(file, { env: { VOUCH_TEST_PLUGIN_TOKEN: 'plugin-secret-value' } }), {
    logger: createLogger({ level: 'info' }, { write: (line: string) => logged.push(line) }),
    watch: false,
  });
  startupLog = logged.join('');
  setup = { registry, client, notation, runtime, dir, configFile: file };
});

let startupLog = '';

test.serial('the plugins section is logged at start, its secrets redacted', (t) => {
  t.regex(startupLog, /notation plugins configured/);
  t.regex(startupLog, /"test\.token":"\(secret\)"/);
  t.false(startupLog.includes('plugin-secret-value'));
});

test.after.always(async () => {
  if (setup) {
    await Promise.all([setup.runtime.close(), setup.client.close(), setup.registry.stop(), setup.notation.dispose()]);
    await rm(setup.dir, { recursive: true, force: true });
  }
});

async function signedImage(scope: Scope, keyId: 'good' | 'revoked', format: 'jws' | 'cose'): Promise<string> {
  const s = setup!;
  const image = buildImage();
  await pushManifest(s.client.repository(s.registry.host, `plugin/${scope}`), image, `${format}-${keyId}`);
  const reference = `${s.registry.host}/plugin/${scope}@${image.descriptor.digest}`;
  const signed = await signWithNotationPlugin(s.notation, reference, { keyId, format, config: ENVELOPE_SIGNING, extraArgs: REFERRERS_API });
  if (signed.code !== 0) throw new Error(`notation sign failed: ${signed.stderr}`);
  return reference;
}

async function vouchVerify(key: string): Promise<KeyResult> {
  const [result] = await setup!.runtime.engine.verify([key], { deadline: Date.now() + 30_000 });
  return result!;
}

/** `verified`, the code of the first reason, or `error:<code>/<reason>`. */
function outcome(result: KeyResult): string {
  if (result.error !== undefined) return `error:${result.error.code}/${result.error.reason ?? ''}`;
  return result.value.verified ? 'verified' : result.value.reasons[0]!.code;
}

const cases: Array<{ scope: Scope; keyId: 'good' | 'revoked'; vouch: string; notationVerifies: boolean }> = [
  { scope: 'trusted', keyId: 'good', vouch: 'verified', notationVerifies: true },
  { scope: 'untrusted', keyId: 'good', vouch: 'UNTRUSTED_SIGNER', notationVerifies: false },
  { scope: 'revoked', keyId: 'revoked', vouch: 'REVOKED', notationVerifies: false },
];

for (const format of ['jws', 'cose'] as const) {
  for (const c of cases) {
    test.serial(`${format}, ${c.scope}: notation verify and vouch agree (${c.vouch})`, async (t) => {
      const reference = await signedImage(c.scope, c.keyId, format);
      const notation = await verifyWithNotationPlugin(setup!.notation, reference);
      t.is(notation.code === 0, c.notationVerifies, notation.stderr);
      const result = await vouchVerify(reference);
      t.is(outcome(result), c.vouch, JSON.stringify(result));
      const signature = result.value?.signatures[0];
      t.is(signature?.type, 'notation');
      if (signature?.type === 'notation') {
        t.is(signature.plugin?.name, TEST_PLUGIN_NAME);
        // Under strict, an identity the plugin refused ends the verification: its revocation answer decides nothing.
        t.deepEqual(signature.plugin?.checks, c.scope === 'untrusted' ? ['authenticity'] : ['authenticity', 'revocation']);
      }
    });
  }
}

test.serial(
  "the environment's plugin configuration reaches the plugin: a crash there is undecided (PLUGIN_ERROR), and not the other's verdict",
  async (t) => {
    const reference = await signedImage('trusted', 'good', 'jws');
    t.is(outcome(await vouchVerify(`[faulty]${reference}`)), 'error:PLUGIN_ERROR/PLUGIN_CRASHED');
    t.is(outcome(await vouchVerify(`[prod]${reference}`)), 'verified');
    // A verdict is cached with its verification; the undecided answer is not (undecidedTtlMs 0): asked again, again undecided.
    const cached = await vouchVerify(`[prod]${reference}`);
    t.true(cached.value?.cached === true);
    t.is(outcome(await vouchVerify(`[faulty]${reference}`)), 'error:PLUGIN_ERROR/PLUGIN_CRASHED');
  },
);

test.serial(
  'vouch serve: /v1/verify answers the same, with the plugin in the signature report; PLUGIN_ERROR is undecided (systemError)',
  async (t) => {
    const s = setup!;
    const provider = await startProvider(await loadConfig(s.configFile, { env: { VOUCH_TEST_PLUGIN_TOKEN: 'plugin-secret-value' } }), {
      logger: createLogger({ level: 'silent' }),
      watch: false,
      defaultMetrics: false,
    });
    t.teardown(() => provider.close());
    const trusted = await signedImage('trusted', 'good', 'cose');
    const faulty = `[faulty]${trusted}`;
    const keys = [trusted, await signedImage('untrusted', 'good', 'cose'), await signedImage('revoked', 'revoked', 'cose'), faulty];
    const response = await fetch(`${provider.url}/v1/verify`, {
      method: 'POST',
      body: JSON.stringify({ apiVersion: 'externaldata.gatekeeper.sh/v1beta1', kind: 'ProviderRequest', request: { keys } }),
    });
    t.is(response.status, 200);
    const body = (await response.json()) as {
      response: {
        items: Array<{
          key: string;
          value?: {
            verified: boolean;
            reasons: Array<{ code: string }>;
            signatures: Array<{ plugin?: { name: string; version: string; checks: string[] } }>;
          };
          error?: string;
        }>;
        systemError?: string;
      };
    };
    const { items, systemError } = body.response;
    t.deepEqual(
      items.map((item) => [item.key, item.error ?? (item.value!.verified ? 'verified' : item.value!.reasons[0]!.code)]),
      [
        [keys[0], 'verified'],
        [keys[1], 'UNTRUSTED_SIGNER'],
        [keys[2], 'REVOKED'],
      ],
    );
    t.deepEqual(items[0]!.value!.signatures[0]!.plugin, {
      name: TEST_PLUGIN_NAME,
      version: '1.2.0',
      checks: ['authenticity', 'revocation'],
    });
    // Undecided keys are left out of the items (Gatekeeper caches items) and named in systemError.
    const undecided = (JSON.parse(systemError ?? '{}') as { undecided?: Array<{ key: string; error: string }> }).undecided ?? [];
    t.deepEqual(
      undecided.map((u) => [u.key, u.error.split(':')[0]]),
      [[faulty, 'PLUGIN_ERROR']],
    );
    // Every plugin command is counted, by plugin, command and outcome.
    const metrics = await (await fetch(`${provider.healthUrl}/metrics`)).text();
    t.regex(metrics, /vouch_plugin_commands_total\{plugin="vouch-test",command="verify-signature",outcome="ok"\} 3/);
    t.regex(metrics, /vouch_plugin_commands_total\{plugin="vouch-test",command="verify-signature",outcome="PLUGIN_CRASHED"\} 1/);
    t.regex(metrics, /vouch_plugin_command_duration_seconds_count\{plugin="vouch-test",command="get-plugin-metadata"\} \d+/);
    // gRPC carries the same: the plugin in the report; the undecided key as its error.
    const definition = grpc.loadPackageDefinition(protoLoader.loadSync(PROTO_FILE, { defaults: true })) as unknown as {
      vouch: { v1: { Verifier: grpc.ServiceClientConstructor } };
    };
    interface GrpcResult {
      verified: boolean;
      signatures: Array<{ plugin?: { name: string; version: string; checks: string[] } | null }>;
      error?: { code: string } | null;
    }
    const client = new definition.vouch.v1.Verifier(provider.grpcAddress!, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      verify: (req: unknown, cb: (err: grpc.ServiceError | null, res: { results: GrpcResult[] }) => void) => void;
    };
    t.teardown(() => client.close());
    const answer = await new Promise<{ results: GrpcResult[] }>((resolve, reject) =>
      client.verify({ environment: 'faulty', references: [trusted] }, (err, res) => (err ? reject(err) : resolve(res))),
    );
    t.is(answer.results[0]!.error?.code, 'PLUGIN_ERROR');
    const decided = await new Promise<{ results: GrpcResult[] }>((resolve, reject) =>
      client.verify({ environment: 'prod', references: [trusted] }, (err, res) => (err ? reject(err) : resolve(res))),
    );
    t.true(decided.results[0]!.verified);
    t.deepEqual(decided.results[0]!.signatures[0]!.plugin, {
      name: TEST_PLUGIN_NAME,
      version: '1.2.0',
      checks: ['authenticity', 'revocation'],
    });
  },
);
