// The trust the benchmarks verify against: one `ca` trust store "bench" holding `root`, and a strict
// trust policy for every repository trusting `trustedIdentities` (default any signer under that root).

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findApplicableStatement, parseOciTrustPolicy, type Certificate, type TrustPolicyStatement } from '../src/trust/index.js';

export interface BenchTrust {
  /** The trust policy document's file. */
  trustPolicy: string;
  /** The trust store directory (x509/ca/bench/root.pem). */
  trustStore: string;
  /** The policy's one statement, parsed. */
  statement: TrustPolicyStatement;
}

export async function writeBenchTrust(dir: string, root: Certificate, trustedIdentities: string[] = ['*']): Promise<BenchTrust> {
  const trustStore = join(dir, 'truststore');
  await mkdir(join(trustStore, 'x509', 'ca', 'bench'), { recursive: true });
  await writeFile(join(trustStore, 'x509', 'ca', 'bench', 'root.pem'), root.toPem());
  const document = JSON.stringify({
    version: '1.0',
    trustPolicies: [
      {
        name: 'bench',
        registryScopes: ['*'],
        signatureVerification: { level: 'strict' },
        trustStores: ['ca:bench'],
        trustedIdentities,
      },
    ],
  });
  const trustPolicy = join(dir, 'trustpolicy.json');
  await writeFile(trustPolicy, document);
  const statement = findApplicableStatement(parseOciTrustPolicy(document, 'bench policy'), 'bench.example/app')!;
  return { trustPolicy, trustStore, statement };
}
