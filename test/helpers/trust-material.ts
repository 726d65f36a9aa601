// One environment's trust material on disk, as a configuration names it: `<dir>/policy.json` (every
// repository, level strict, any identity) and `<dir>/store/x509/ca/<store>/root.pem` with a fresh root.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateRoot, type GeneratedCertificate } from './pki.js';

export async function writeTrustMaterial(dir: string, options: { store?: string; subject?: string } = {}): Promise<GeneratedCertificate> {
  const store = options.store ?? 'test';
  const root = await generateRoot({ key: 'ec-p256', ...(options.subject ? { subject: options.subject } : {}) });
  await mkdir(join(dir, 'store', 'x509', 'ca', store), { recursive: true });
  await writeFile(join(dir, 'store', 'x509', 'ca', store, 'root.pem'), root.certificate.toPem());
  await writeFile(
    join(dir, 'policy.json'),
    JSON.stringify({
      version: '1.0',
      trustPolicies: [
        {
          name: 'all',
          registryScopes: ['*'],
          signatureVerification: { level: 'strict' },
          trustStores: [`ca:${store}`],
          trustedIdentities: ['*'],
        },
      ],
    }),
  );
  return root;
}
