// Trust withdrawal (security issue, item 2): removing, truncating or deleting trust material on disk
// must withdraw trust at once, for images verified before (cached answers) and never seen alike,
// while a typo or a broken extra file next to good ones causes no outage. Driven through the real
// EnvironmentSet and the real VerificationEngine; images come from an OCI layout, so nothing goes to
// the network.

import test, { type ExecutionContext } from 'ava';
import { mkdir, mkdtemp, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { pino, type Logger } from 'pino';
import { VouchError } from '../../../src/core/index.js';
import { EnvironmentSet, loadConfig, type EnvironmentStatus } from '../../../src/config/index.js';
import { RevocationChecker } from '../../../src/notation/index.js';
import { OciLayoutSource, RegistryClient } from '../../../src/oci/index.js';
import { OciLayoutWriter } from '../../../src/oci/oci-layout-writer.js';
import { VerificationEngine, type KeyResult } from '../../../src/verify/index.js';
import { writeKubernetesVolume } from '../../helpers/kubernetes-volume.js';
import { writeSignedImage } from '../../helpers/oci-fixtures.js';
import { generateChain, generateRoot, type GeneratedChain } from '../../helpers/pki.js';

const HOST = 'registry.airgap.example';
const REPO = 'team/app';

interface Signers {
  acme: GeneratedChain;
  beta: GeneratedChain;
  newcomer: GeneratedChain;
}

let signers: Promise<Signers> | undefined;
/** Three independent chains, generated once for the file. */
function pki(): Promise<Signers> {
  signers ??= (async () => {
    const chain = (cn: string) =>
      generateChain({ length: 2, leafKey: 'ec-p256', root: { key: 'ec-p256', subject: `CN=${cn} root,O=Acme,ST=WA,C=US` } });
    return { acme: await chain('acme'), beta: await chain('beta'), newcomer: await chain('newcomer') };
  })();
  return signers;
}

function policyDocument(stores: string[], name = 'prod-images'): string {
  // A tsa store only matters with a timestamp; afterCertExpiry needs none while certificates are valid.
  const signatureVerification = stores.some((s) => s.startsWith('tsa:'))
    ? { level: 'strict', verifyTimestamp: 'afterCertExpiry' }
    : { level: 'strict' };
  return JSON.stringify({
    version: '1.0',
    trustPolicies: [{ name, registryScopes: [`${HOST}/${REPO}`], signatureVerification, trustStores: stores, trustedIdentities: ['*'] }],
  });
}

interface World {
  dir: string;
  policyFile: string;
  storeRoot: string;
  /** truststore/x509/ca/acme-prod */
  storeDir: string;
  set: EnvironmentSet;
  engine: VerificationEngine;
  logs: Array<Record<string, unknown>>;
  /** Pushes an image signed by `signer` into the layout; returns its verify key. */
  image(signer: GeneratedChain): Promise<string>;
  verify(key: string): Promise<KeyResult>;
  /** The code of the answer: 'verified' or the first reason / error code. */
  answer(key: string): Promise<string>;
  status(): EnvironmentStatus;
  generation(): number;
}

async function world(
  t: ExecutionContext,
  options: {
    stores?: Record<string, GeneratedChain['root'][]>;
    policyStores?: string[];
    volume?: boolean;
    /** Watch the files (fs.watch and a 50 ms poll) instead of calling checkNow(). */
    watch?: boolean;
  } = {},
): Promise<World> {
  const { acme } = await pki();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vouch-withdrawal-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const storeRoot = path.join(dir, 'truststore');
  const stores = options.stores ?? { 'ca/acme-prod': [acme.root] };
  for (const [store, roots] of Object.entries(stores)) {
    const files = Object.fromEntries(roots.map((root, i) => [i === 0 ? 'root.pem' : `root-${i + 1}.pem`, root.certificate.toPem()]));
    const storeDir = path.join(storeRoot, 'x509', store);
    if (options.volume) {
      await writeKubernetesVolume(storeDir, files);
    } else {
      await mkdir(storeDir, { recursive: true });
      for (const [name, content] of Object.entries(files)) await writeFile(path.join(storeDir, name), content);
    }
  }
  const policyDir = path.join(dir, 'policy');
  const policyFile = path.join(policyDir, 'trustpolicy.json');
  const policy = policyDocument(options.policyStores ?? ['ca:acme-prod']);
  if (options.volume) await writeKubernetesVolume(policyDir, { 'trustpolicy.json': policy });
  else {
    await mkdir(policyDir);
    await writeFile(policyFile, policy);
  }
  const configFile = path.join(dir, 'vouch.yaml');
  await writeFile(configFile, 'environments:\n  prod:\n    trustPolicy: policy/trustpolicy.json\n    trustStore: truststore\n');

  const logs: Array<Record<string, unknown>> = [];
  const logger: Logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const set = await EnvironmentSet.load(
    await loadConfig(configFile),
    options.watch ? { pollIntervalMs: 50, debounceMs: 10, logger } : { watch: false, logger },
  );
  t.teardown(() => set.close());

  const layoutDir = path.join(dir, 'layout');
  const layout = await OciLayoutWriter.create(layoutDir);
  const source = await OciLayoutSource.open(layoutDir);
  const client = new RegistryClient({ isHostAllowed: () => false }); // nothing may go to the network
  const engine = new VerificationEngine({
    environments: set,
    client,
    revocation: new RevocationChecker({ offline: true }),
    sourceFor: (host) => (host === HOST ? () => source : undefined),
    logger,
  });
  t.teardown(async () => {
    await engine.close();
    await client.close();
  });
  const verify = async (key: string): Promise<KeyResult> => (await engine.verify([key], { deadline: Date.now() + 10_000 }))[0]!;
  return {
    dir,
    policyFile,
    storeRoot,
    storeDir: path.join(storeRoot, 'x509', 'ca', 'acme-prod'),
    set,
    engine,
    logs,
    image: async (signer) => `[prod]${HOST}/${REPO}@${await writeSignedImage(layout, signer)}`,
    verify,
    answer: async (key) => {
      const result = await verify(key);
      if (result.error !== undefined) return result.error.code;
      return result.value.verified ? 'verified' : result.value.reasons[0]!.code;
    },
    status: () => set.status().environments[0]!,
    generation: () => set.get('prod')!.generation,
  };
}

/**
 * The attack of the report: an image verified (and cached) before the withdrawal, and one never seen,
 * both answer `expected` after it; the status and the log say what was withdrawn; restoring the
 * files restores trust under a new generation.
 */
async function withdrawalScenario(
  t: ExecutionContext,
  w: World,
  withdraw: () => Promise<void>,
  restore: () => Promise<void>,
  expected: { code: string; check: (status: EnvironmentStatus) => void },
): Promise<void> {
  const { acme } = await pki();
  const seen = await w.image(acme);
  const unseen = await w.image(acme);
  t.is(await w.answer(seen), 'verified', 'verified before the withdrawal');
  t.is((await w.verify(seen)).value?.cached, true, 'the answer is cached');
  const before = w.generation();

  await withdraw();
  await w.set.checkNow();
  t.is(await w.answer(seen), expected.code, 'the image verified before is no longer verified');
  t.is(await w.answer(unseen), expected.code, 'an image never seen is not verified');
  t.not(w.generation(), before, 'the withdrawal is a new generation');
  const status = w.status();
  t.true(w.set.status().ready, 'still ready: answers fail closed');
  t.true(w.set.status().degraded);
  t.is(status.state, 'degraded');
  expected.check(status);
  t.true(
    w.logs.some((l) => l['level'] === 50 && String(l['msg']).startsWith('trust withdrawn') && l['environment'] === 'prod'),
    'an error line names the withdrawal',
  );

  const withdrawn = w.generation();
  await restore();
  await w.set.checkNow();
  t.true(w.generation() > withdrawn, 'restoring is a new generation');
  t.is(await w.answer(seen), 'verified', 'restored');
  t.is(await w.answer(unseen), 'verified', 'restored');
  t.is(w.status().state, 'ok');
  t.false(w.set.status().degraded);
  t.true(w.logs.some((l) => l['level'] === 30 && String(l['msg']).startsWith('trust restored')));
}

function storeWithdrawn(store: string) {
  return (status: EnvironmentStatus) => {
    const entry = status.trustStores.find((s) => s.store === store);
    if (entry === undefined) throw new Error(`no status for ${store}`);
    if (entry.state !== 'withdrawn' || entry.certificates !== 0 || !(entry.since instanceof Date) || !entry.why) {
      throw new Error(`unexpected status ${JSON.stringify(entry)}`);
    }
  };
}

// ---- the attack: the only root of a store is removed --------------------------------------------------

test('withdrawal: deleting root.pem withdraws the store (cached and new images UNTRUSTED_SIGNER); restoring it restores trust', async (t) => {
  const w = await world(t);
  const pem = await readFile(path.join(w.storeDir, 'root.pem'));
  await withdrawalScenario(
    t,
    w,
    () => rm(path.join(w.storeDir, 'root.pem')),
    () => writeFile(path.join(w.storeDir, 'root.pem'), pem),
    { code: 'UNTRUSTED_SIGNER', check: storeWithdrawn('ca:acme-prod') },
  );
});

test('withdrawal: truncating root.pem to 0 bytes withdraws the store', async (t) => {
  const w = await world(t);
  const pem = await readFile(path.join(w.storeDir, 'root.pem'));
  await withdrawalScenario(
    t,
    w,
    () => truncate(path.join(w.storeDir, 'root.pem'), 0),
    () => writeFile(path.join(w.storeDir, 'root.pem'), pem),
    { code: 'UNTRUSTED_SIGNER', check: storeWithdrawn('ca:acme-prod') },
  );
});

test('withdrawal: deleting the store directory withdraws the store', async (t) => {
  const w = await world(t);
  const pem = await readFile(path.join(w.storeDir, 'root.pem'));
  await withdrawalScenario(
    t,
    w,
    () => rm(w.storeDir, { recursive: true }),
    async () => {
      await mkdir(w.storeDir);
      await writeFile(path.join(w.storeDir, 'root.pem'), pem);
    },
    { code: 'UNTRUSTED_SIGNER', check: storeWithdrawn('ca:acme-prod') },
  );
});

test('withdrawal: deleting the whole trust store root withdraws every store', async (t) => {
  const w = await world(t);
  const pem = await readFile(path.join(w.storeDir, 'root.pem'));
  await withdrawalScenario(
    t,
    w,
    () => rm(w.storeRoot, { recursive: true }),
    async () => {
      await mkdir(w.storeDir, { recursive: true });
      await writeFile(path.join(w.storeDir, 'root.pem'), pem);
    },
    { code: 'UNTRUSTED_SIGNER', check: storeWithdrawn('ca:acme-prod') },
  );
});

test('withdrawal: the served trust store answers INVALID_CONFIG / WITHDRAWN naming the store and its directory', async (t) => {
  const w = await world(t);
  await rm(path.join(w.storeDir, 'root.pem'));
  await w.set.checkNow();
  const store = w.set.get('prod')!.trustStore!;
  const error = await t.throwsAsync(store.getCertificates('ca', 'acme-prod'), { instanceOf: VouchError });
  t.is(error?.code, 'INVALID_CONFIG');
  t.is(error?.reason, 'WITHDRAWN');
  t.true(error?.message.includes('ca:acme-prod') && error.message.includes(w.storeDir), error?.message);
  t.is(store.withdrawal?.('ca', 'acme-prod')?.reason, 'WITHDRAWN');
  const line = w.logs.find((l) => l['level'] === 50 && l['store'] === 'ca:acme-prod');
  t.truthy(line, 'an error line names the store');
  t.is(line?.['directory'], w.storeDir);
  t.is(line?.['environment'], 'prod');
});

// ---- the trust policy ---------------------------------------------------------------------------------

function policyWithdrawn(how: 'removed' | 'emptied') {
  return (status: EnvironmentStatus) => {
    if (status.policyWithdrawn === undefined || !status.policyWithdrawn.why.includes(how)) {
      throw new Error(`unexpected status ${JSON.stringify(status)}`);
    }
  };
}

test('withdrawal: deleting the trust policy file withdraws all trust of the environment (NO_TRUST_POLICY)', async (t) => {
  const w = await world(t);
  const policy = await readFile(w.policyFile);
  await withdrawalScenario(
    t,
    w,
    () => rm(w.policyFile),
    () => writeFile(w.policyFile, policy),
    { code: 'NO_TRUST_POLICY', check: policyWithdrawn('removed') },
  );
});

for (const [label, content] of [
  ['0 bytes', ''],
  ['whitespace', ' \n\t\n'],
] as const) {
  test(`withdrawal: emptying the trust policy file (${label}) withdraws all trust of the environment`, async (t) => {
    const w = await world(t);
    const policy = await readFile(w.policyFile);
    await withdrawalScenario(
      t,
      w,
      () => writeFile(w.policyFile, content),
      () => writeFile(w.policyFile, policy),
      { code: 'NO_TRUST_POLICY', check: policyWithdrawn('emptied') },
    );
  });
}

test('withdrawal: the NO_TRUST_POLICY answer of a removed policy says so', async (t) => {
  const w = await world(t);
  const key = await w.image((await pki()).acme);
  await rm(w.policyFile);
  await w.set.checkNow();
  const result = await w.verify(key);
  t.is(result.value?.reasons[0]?.code, 'NO_TRUST_POLICY');
  t.regex(result.value?.reasons[0]?.message ?? '', /trust policy file .*trustpolicy\.json was removed/);
  t.deepEqual(w.set.get('prod')?.policy?.statements, []);
});

test('withdrawal: an invalid trust policy (a typo) keeps the last good policy; nothing is withdrawn', async (t) => {
  const w = await world(t);
  const key = await w.image((await pki()).acme);
  t.is(await w.answer(key), 'verified');
  const before = w.set.get('prod');
  await writeFile(w.policyFile, '{"version": "1.0", "trustPolicies": [');
  await w.set.checkNow();
  t.is(w.set.get('prod'), before, 'same material, same generation');
  t.is(await w.answer(key), 'verified');
  t.is(await w.answer(await w.image((await pki()).acme)), 'verified', 'also for an image never seen');
  const status = w.status();
  t.is(status.state, 'reload-failed');
  t.regex(status.error ?? '', /trustpolicy\.json/);
  t.is(status.policyWithdrawn, undefined);
  t.false(w.set.status().degraded);
});

test('withdrawal: after a removed policy, an invalid one does not bring trust back; only a valid one does', async (t) => {
  const w = await world(t);
  const key = await w.image((await pki()).acme);
  const policy = await readFile(w.policyFile);
  await rm(w.policyFile);
  await w.set.checkNow();
  t.is(await w.answer(key), 'NO_TRUST_POLICY');
  await writeFile(w.policyFile, 'garbage');
  await w.set.checkNow();
  t.is(await w.answer(key), 'NO_TRUST_POLICY', 'a typo keeps the last decision, which is the withdrawal');
  t.truthy(w.status().policyWithdrawn);
  t.truthy(w.status().error);
  await writeFile(w.policyFile, policy);
  await w.set.checkNow();
  t.is(await w.answer(key), 'verified');
  t.is(w.status().error, undefined);
});

// ---- partial withdrawal -----------------------------------------------------------------------------

test('withdrawal: a broken file added next to good ones keeps trust (no outage), and reports the error', async (t) => {
  const w = await world(t);
  const key = await w.image((await pki()).acme);
  t.is(await w.answer(key), 'verified');
  const before = w.set.get('prod');
  await writeFile(path.join(w.storeDir, 'junk.pem'), 'not a certificate');
  await w.set.checkNow();
  t.is(w.set.get('prod'), before, 'same material, same generation: cached answers stay valid');
  t.is(await w.answer(key), 'verified');
  t.is(await w.answer(await w.image((await pki()).acme)), 'verified');
  const status = w.status();
  t.is(status.state, 'reload-failed');
  t.regex(status.error ?? '', /junk\.pem/);
  t.is(status.trustStores[0]?.state, 'trusted');
  await rm(path.join(w.storeDir, 'junk.pem'));
  await w.set.checkNow();
  t.is(w.status().state, 'ok');
  t.is(w.set.get('prod'), before);
});

test('withdrawal: a store with two roots where one is removed keeps the other', async (t) => {
  const { acme, beta } = await pki();
  const w = await world(t, { stores: { 'ca/acme-prod': [acme.root, beta.root] } });
  const byAcme = await w.image(acme);
  const byBeta = await w.image(beta);
  t.is(await w.answer(byAcme), 'verified');
  t.is(await w.answer(byBeta), 'verified');
  const betaFile = path.join(w.storeDir, 'root-2.pem');
  const pem = await readFile(betaFile);

  // Removed: a valid store with one root.
  await rm(betaFile);
  await w.set.checkNow();
  t.is(await w.answer(byAcme), 'verified');
  t.is(await w.answer(await w.image(acme)), 'verified');
  t.is(await w.answer(byBeta), 'UNTRUSTED_SIGNER', 'cached answer of the removed root is gone');
  t.is(await w.answer(await w.image(beta)), 'UNTRUSTED_SIGNER');
  t.is(w.status().state, 'ok');

  // Truncated: the store is invalid; what is left of the last good load is served.
  await writeFile(betaFile, pem);
  await w.set.checkNow();
  t.is(await w.answer(byBeta), 'verified');
  await truncate(betaFile, 0);
  await w.set.checkNow();
  t.is(await w.answer(byAcme), 'verified');
  t.is(await w.answer(byBeta), 'UNTRUSTED_SIGNER');
  t.is(await w.answer(await w.image(beta)), 'UNTRUSTED_SIGNER');
  const status = w.status();
  t.is(status.state, 'degraded');
  t.like(status.trustStores[0], { store: 'ca:acme-prod', state: 'degraded', certificates: 1, withdrawnCertificates: 1 });
  t.regex(status.trustStores[0]?.why ?? '', /root-2\.pem/);
  t.true(w.logs.some((l) => l['level'] === 50 && String(l['msg']).startsWith('trust reduced') && l['store'] === 'ca:acme-prod'));

  await writeFile(betaFile, pem);
  await w.set.checkNow();
  t.is(await w.answer(byBeta), 'verified');
  t.is(w.status().state, 'ok');
});

test('withdrawal: trust never grows while the store is invalid (a new root next to a broken file is not trusted)', async (t) => {
  const { acme, newcomer } = await pki();
  const w = await world(t);
  const byNewcomer = await w.image(newcomer);
  const byAcme = await w.image(acme);
  await writeFile(path.join(w.storeDir, 'newcomer.pem'), newcomer.root.certificate.toPem());
  await writeFile(path.join(w.storeDir, 'junk.pem'), 'not a certificate');
  await w.set.checkNow();
  t.is(await w.answer(byNewcomer), 'UNTRUSTED_SIGNER', 'not in the last good load');
  t.is(await w.answer(byAcme), 'verified');
  await rm(path.join(w.storeDir, 'junk.pem'));
  await w.set.checkNow();
  t.is(await w.answer(byNewcomer), 'verified', 'a valid load adds it');
});

test('withdrawal: a new policy naming a new store that cannot be loaded is a typo: the last good policy stays', async (t) => {
  const { acme } = await pki();
  const w = await world(t);
  const key = await w.image(acme);
  const before = w.set.get('prod');
  const other = path.join(w.storeRoot, 'x509', 'ca', 'other');
  await mkdir(other);
  await writeFile(path.join(other, 'root.pem'), '');
  await writeFile(w.policyFile, policyDocument(['ca:acme-prod', 'ca:other'], 'renamed'));
  await w.set.checkNow();
  t.is(w.set.get('prod'), before, 'the last good policy and stores, same generation');
  t.is(await w.answer(key), 'verified');
  t.is(w.status().state, 'reload-failed');
  t.regex(w.status().error ?? '', /\bother\b.*last good trust policy stays/);

  // Fixed: the new policy is served with both stores.
  await writeFile(path.join(other, 'root.pem'), acme.root.certificate.toPem());
  await w.set.checkNow();
  t.is(w.set.get('prod')?.policy?.statements[0]?.name, 'renamed');
  t.is(w.status().state, 'ok');
  t.is(await w.answer(key), 'verified');
  // From now on ca:other has a last good load: removing its root withdraws it, and the statement with it.
  await rm(path.join(other, 'root.pem'));
  await w.set.checkNow();
  t.is(w.set.get('prod')?.policy?.statements[0]?.name, 'renamed');
  t.is(await w.answer(key), 'UNTRUSTED_SIGNER');
  t.like(
    w.status().trustStores.find((s) => s.store === 'ca:other'),
    { state: 'withdrawn' },
  );
});

test('withdrawal: after a removed policy, a restored policy whose store is broken does not bring trust back', async (t) => {
  const { acme } = await pki();
  const w = await world(t);
  const key = await w.image(acme);
  const policy = await readFile(w.policyFile);
  await rm(w.policyFile);
  await writeFile(path.join(w.storeDir, 'junk.pem'), 'not a certificate');
  await w.set.checkNow();
  t.is(await w.answer(key), 'NO_TRUST_POLICY');
  await writeFile(w.policyFile, policy);
  await w.set.checkNow();
  t.is(await w.answer(key), 'NO_TRUST_POLICY', 'its store is not fully valid: the withdrawal stays');
  await rm(path.join(w.storeDir, 'junk.pem'));
  await w.set.checkNow();
  t.is(await w.answer(key), 'verified');
});

// ---- statements mixing stores; tsa -------------------------------------------------------------------

for (const order of [
  ['ca:acme-prod', 'ca:beta'],
  ['ca:beta', 'ca:acme-prod'],
]) {
  test(`withdrawal: a statement mixing a valid and a withdrawn store never verifies (${order.join(', ')})`, async (t) => {
    const { acme, beta } = await pki();
    const w = await world(t, { stores: { 'ca/acme-prod': [acme.root], 'ca/beta': [beta.root] }, policyStores: order });
    const key = await w.image(acme);
    t.is(await w.answer(key), 'verified');
    await rm(path.join(w.storeRoot, 'x509', 'ca', 'beta'), { recursive: true });
    await w.set.checkNow();
    t.is(await w.answer(key), 'UNTRUSTED_SIGNER', 'signed under the valid store, but the statement names a withdrawn one');
    t.is(await w.answer(await w.image(acme)), 'UNTRUSTED_SIGNER');
  });
}

test('withdrawal: a withdrawn tsa store fails the statement, even when no timestamp is needed', async (t) => {
  const { acme } = await pki();
  const tsaRoot = await generateRoot({ key: 'ec-p256', subject: 'CN=tsa root,O=Acme,ST=WA,C=US' });
  const w = await world(t, {
    stores: { 'ca/acme-prod': [acme.root], 'tsa/acme-tsa': [tsaRoot] },
    policyStores: ['ca:acme-prod', 'tsa:acme-tsa'],
  });
  const tsaFile = path.join(w.storeRoot, 'x509', 'tsa', 'acme-tsa', 'root.pem');
  const pem = await readFile(tsaFile);
  await withdrawalScenario(
    t,
    w,
    () => truncate(tsaFile, 0),
    () => writeFile(tsaFile, pem),
    { code: 'UNTRUSTED_SIGNER', check: storeWithdrawn('tsa:acme-tsa') },
  );
});

// ---- Kubernetes volumes -------------------------------------------------------------------------------

test('withdrawal: a root removed from a ConfigMap-mounted store (..data swap) is withdrawn; adding it back restores', async (t) => {
  const { acme } = await pki();
  const w = await world(t, { volume: true });
  const pem = acme.root.certificate.toPem();
  await withdrawalScenario(
    t,
    w,
    () => writeKubernetesVolume(w.storeDir, {}),
    () => writeKubernetesVolume(w.storeDir, { 'root.pem': pem }),
    { code: 'UNTRUSTED_SIGNER', check: storeWithdrawn('ca:acme-prod') },
  );
});

test('withdrawal: a root emptied in a ConfigMap-mounted store is withdrawn', async (t) => {
  const { acme } = await pki();
  const w = await world(t, { volume: true });
  const pem = acme.root.certificate.toPem();
  await withdrawalScenario(
    t,
    w,
    () => writeKubernetesVolume(w.storeDir, { 'root.pem': '' }),
    () => writeKubernetesVolume(w.storeDir, { 'root.pem': pem }),
    { code: 'UNTRUSTED_SIGNER', check: storeWithdrawn('ca:acme-prod') },
  );
});

test('withdrawal: the trust policy key removed from its ConfigMap volume withdraws the environment', async (t) => {
  const w = await world(t, { volume: true });
  const policyDir = path.dirname(w.policyFile);
  const policy = await readFile(w.policyFile, 'utf8');
  await withdrawalScenario(
    t,
    w,
    () => writeKubernetesVolume(policyDir, { 'other.json': '{}' }),
    () => writeKubernetesVolume(policyDir, { 'trustpolicy.json': policy }),
    { code: 'NO_TRUST_POLICY', check: policyWithdrawn('removed') },
  );
});

test('withdrawal: noticed by the watcher alone, within moments', async (t) => {
  const { acme } = await pki();
  const w = await world(t, { watch: true });
  const key = await w.image(acme);
  t.is(await w.answer(key), 'verified');
  const started = Date.now();
  await rm(path.join(w.storeDir, 'root.pem'));
  while ((await w.answer(key)) !== 'UNTRUSTED_SIGNER') {
    if (Date.now() - started > 5_000) return t.fail('not withdrawn within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  t.log(`withdrawn after ${Date.now() - started} ms`);
  t.pass();
});

// ---- reported state ----------------------------------------------------------------------------------

test('withdrawal: status keeps `since` while the state lasts and logs each change once', async (t) => {
  const w = await world(t);
  await truncate(path.join(w.storeDir, 'root.pem'), 0);
  await w.set.checkNow();
  const first = w.status().trustStores[0]!;
  t.is(first.state, 'withdrawn');
  // Another change on disk that leaves the store withdrawn for the same reason.
  await writeFile(path.join(w.dir, 'policy', 'unrelated.txt'), 'x');
  await rename(path.join(w.storeDir, 'root.pem'), path.join(w.storeDir, 'root.pem.tmp'));
  await rename(path.join(w.storeDir, 'root.pem.tmp'), path.join(w.storeDir, 'root.pem'));
  await w.set.checkNow();
  t.is(w.status().trustStores[0]?.since, first.since);
  t.is(w.logs.filter((l) => l['level'] === 50 && l['store'] === 'ca:acme-prod').length, 1);
});
