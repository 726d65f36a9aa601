// TLS material for tests: a CA, a server certificate for 127.0.0.1/localhost, and a client
// certificate (the role Gatekeeper's webhook certificate plays for mTLS), written to files.

import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEY_USAGE, OID } from '../../src/trust/index.js';
import { generateLeaf, generateRoot, x509, type GeneratedCertificate } from './pki.js';

export const pemOf = (g: GeneratedCertificate): string => g.certificate.toPem();
export const keyPemOf = (g: GeneratedCertificate): string => g.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;

/** A TLS server/client certificate issued by `ca`, valid for 127.0.0.1 and localhost. */
export function tlsCertificate(ca: GeneratedCertificate, cn: string): Promise<GeneratedCertificate> {
  return generateLeaf({
    issuer: ca,
    key: 'ec-p256',
    subject: `CN=${cn}`,
    keyUsage: { usages: KEY_USAGE.digitalSignature, critical: true },
    extendedKeyUsage: { usages: [OID.serverAuth, OID.clientAuth] },
    extraExtensions: [
      new x509.SubjectAlternativeNameExtension([
        { type: 'ip', value: '127.0.0.1' },
        { type: 'dns', value: 'localhost' },
      ]),
    ],
  });
}

export interface TlsMaterial {
  dir: string;
  ca: GeneratedCertificate;
  server: GeneratedCertificate;
  client: GeneratedCertificate;
  /** Files in the shape of the config's server.tls. */
  files: { certFile: string; keyFile: string; clientCAFile: string };
  /** Options for node:https / undici clients presenting the client certificate. */
  clientOptions: { ca: string; cert: string; key: string };
}

export async function createTlsMaterial(): Promise<TlsMaterial> {
  const dir = await mkdtemp(join(tmpdir(), 'vouch-tls-'));
  const ca = await generateRoot({ key: 'ec-p256', subject: 'CN=vouch test CA' });
  const server = await tlsCertificate(ca, 'vouch');
  const client = await tlsCertificate(ca, 'gatekeeper-webhook');
  const files = { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), clientCAFile: join(dir, 'ca.crt') };
  await writeFile(files.certFile, pemOf(server));
  await writeFile(files.keyFile, keyPemOf(server));
  await writeFile(files.clientCAFile, pemOf(ca));
  return { dir, ca, server, client, files, clientOptions: { ca: pemOf(ca), cert: pemOf(client), key: keyPemOf(client) } };
}
