// A trust policy with a JSON syntax error says on which line and column (1-based, as the config
// file's errors), besides Go's wording and offset.

import test from 'ava';
import { VouchError } from '../../../src/core/index.js';
import { parseBlobTrustPolicy, parseOciTrustPolicy } from '../../../src/trust/index.js';

const cases: Array<{ title: string; text: string; line: number; column: number }> = [
  {
    title: 'a trailing comma',
    text: '{\n  "version": "1.0",\n  "trustPolicies": [],\n}\n',
    line: 4,
    column: 1,
  },
  {
    title: 'a missing comma between members',
    text: '{\n  "version": "1.0"\n  "trustPolicies": []\n}',
    line: 3,
    column: 3,
  },
  { title: 'a bare word', text: '{"version": 1.0.0}', line: 1, column: 16 },
  { title: 'a truncated file', text: '{\n  "version": "1.0",\n  "trustPolicies": [', line: 3, column: 21 },
];

for (const c of cases) {
  test(`policy: JSON syntax error (${c.title}) gives line and column`, (t) => {
    for (const parse of [parseOciTrustPolicy, parseBlobTrustPolicy]) {
      const error = t.throws(() => parse(c.text, 'trustpolicy.json'), { instanceOf: VouchError });
      t.is(error.code, 'INVALID_CONFIG');
      t.is(error.reason as string, 'BAD_CONTENT');
      const cause = error.cause as { line?: number; column?: number };
      t.is(cause.line, c.line, error.message);
      t.is(cause.column, c.column, error.message);
      t.true(error.message.includes(`line ${c.line}, column ${c.column}`), error.message);
    }
  });
}

test('policy: a policy that is valid JSON but the wrong shape has no position (not a syntax error)', (t) => {
  const error = t.throws(() => parseOciTrustPolicy('{"version": 1}', 'trustpolicy.json'), { instanceOf: VouchError });
  t.is(error.reason as string, 'BAD_CONTENT');
  t.is((error.cause as { line?: number } | undefined)?.line, undefined);
});

// found by fuzzing: the reader recursed once per nesting level and a deep document ended in a caught
// stack overflow ("Maximum call stack size exceeded" in the message); an overflow can also abort node
// (see the config file's nesting bound), so the reader stops at 1000 levels, as Go's at 10000
test('policy: nesting deeper than the reader allows is a syntax error with a position, not a stack overflow', (t) => {
  for (const depth of [1001, 100_000]) {
    const text = `{"version":"1.0","x":${'['.repeat(depth)}${']'.repeat(depth)},"trustPolicies":[]}`;
    const error = t.throws(() => parseOciTrustPolicy(text, 'trustpolicy.json'), { instanceOf: VouchError });
    t.is(error.code, 'INVALID_CONFIG');
    t.regex(error.message, /exceeded max depth/);
    t.notRegex(error.message, /call stack/);
  }
  // 999 levels in an unknown field are read and ignored, as Go does
  const ok = `{"version":"1.0","x":${'['.repeat(999)}${']'.repeat(999)},"trustPolicies":[{"name":"a","registryScopes":["r.example/a"],"signatureVerification":{"level":"skip"}}]}`;
  t.is(parseOciTrustPolicy(ok, 'trustpolicy.json').statements.length, 1);
});
