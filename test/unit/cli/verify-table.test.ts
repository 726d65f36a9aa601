// `vouch verify`'s table: one line per image; a signature a verification plugin decided names the
// plugin next to the signer; an undecided key (e.g. PLUGIN_ERROR) shows its code and message.

import test from 'ava';
import { renderTable } from '../../../src/cli/commands/verify.js';
import type { KeyResult } from '../../../src/verify/index.js';

const reference = `registry.example.com/app@sha256:${'a'.repeat(64)}`;

test('verify table: the plugin that decided a signature is named with its signer; undecided keys show their code', (t) => {
  const results: KeyResult[] = [
    {
      key: reference,
      value: {
        verified: true,
        environment: 'prod',
        reference,
        digest: `sha256:${'a'.repeat(64)}`,
        signatures: [
          {
            type: 'notation',
            digest: `sha256:${'b'.repeat(64)}`,
            verified: true,
            trustPolicy: 'prod',
            level: 'strict',
            signer: 'CN=release',
            reasons: [],
            warnings: [],
            plugin: { name: 'com.example.kms', version: '1.4.0', checks: ['authenticity', 'revocation'] },
          },
        ],
        reasons: [],
        warnings: [],
      },
    },
    {
      key: `[staging]${reference}`,
      error: { code: 'PLUGIN_ERROR', message: 'plugin "com.example.kms" get-plugin-metadata did not answer' },
    },
  ];
  const lines = renderTable(results, 'prod').split('\n');
  t.regex(lines[1]!, /^VERIFIED\s+prod\s+\S+\s+CN=release \(plugin com\.example\.kms 1\.4\.0\)/);
  t.regex(lines[2]!, /^UNDECIDED\s+staging\s+\S+\s+-\s+PLUGIN_ERROR: plugin "com\.example\.kms"/);
});
