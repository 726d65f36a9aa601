import test from 'ava';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningIdentity } from '../../../src/notation/identity-generation.js';
import { NotationVerifier } from '../../../src/notation/verifier.js';
import { RevocationChecker } from '../../../src/notation/revocation.js';
import { signEnvelope } from '../../../src/notation/sign.js';
import { FileTrustStore, parseOciTrustPolicy } from '../../../src/trust/index.js';
import { buildImage } from '../../helpers/oci-fixtures.js';

test('generated signing identities satisfy the Notary certificate rules and verify', async (t) => {
  const identity = await generateSigningIdentity({ subject: 'CN=release,O=Acme Rockets,ST=WA,C=US' });
  const store = await mkdtemp(join(tmpdir(), 'vouch-gen-'));
  await mkdir(join(store, 'x509', 'ca', 'acme'), { recursive: true });
  await writeFile(join(store, 'x509', 'ca', 'acme', 'root.pem'), identity.root.toPem());
  const subject = buildImage().descriptor;
  const envelope = signEnvelope({
    format: 'cose',
    privateKey: identity.privateKey,
    certificateChain: identity.certificateChain,
    payload: { targetArtifact: subject },
  });
  const policy = parseOciTrustPolicy(
    JSON.stringify({
      version: '1.0',
      trustPolicies: [
        {
          name: 'p',
          registryScopes: ['*'],
          signatureVerification: { level: 'strict' },
          trustStores: ['ca:acme'],
          trustedIdentities: ['x509.subject: C=US, ST=WA, O=Acme Rockets, CN=release'],
        },
      ],
    }),
    'p',
  );
  const verifier = new NotationVerifier({ trustStore: new FileTrustStore(store), revocation: new RevocationChecker({ offline: true }) });
  const result = await verifier.verify({ mediaType: envelope.mediaType, bytes: envelope.bytes, subject }, policy.statements[0]!);
  t.true(result.verified, JSON.stringify(result.reasons));
  t.is(identity.certificateChain.length, 2);
  t.true(identity.root.isCA);
});
