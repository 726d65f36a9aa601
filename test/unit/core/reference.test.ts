import test from 'ava';
import { formatReference, manifestReference, parseReference, repositoryName, withDigest, type Digest } from '../../../src/core/index.js';

const D = `sha256:${'a'.repeat(64)}` as Digest;
const D512 = `sha512:${'b'.repeat(128)}` as Digest;

const valid: Array<[string, { registry: string; repository: string; tag?: string; digest?: string }]> = [
  ['alpine', { registry: 'registry-1.docker.io', repository: 'library/alpine' }],
  ['alpine:3.20', { registry: 'registry-1.docker.io', repository: 'library/alpine', tag: '3.20' }],
  ['docker.io/alpine', { registry: 'registry-1.docker.io', repository: 'library/alpine' }],
  ['index.docker.io/library/alpine:latest', { registry: 'registry-1.docker.io', repository: 'library/alpine', tag: 'latest' }],
  ['docker.io/foo/bar', { registry: 'registry-1.docker.io', repository: 'foo/bar' }],
  ['foo/bar:1', { registry: 'registry-1.docker.io', repository: 'foo/bar', tag: '1' }],
  ['ghcr.io/org/team/app:v1.2.3', { registry: 'ghcr.io', repository: 'org/team/app', tag: 'v1.2.3' }],
  ['localhost/app', { registry: 'localhost', repository: 'app' }],
  ['localhost:5000/app:dev', { registry: 'localhost:5000', repository: 'app', tag: 'dev' }],
  ['127.0.0.1:5000/team/app@' + D, { registry: '127.0.0.1:5000', repository: 'team/app', digest: D }],
  ['registry.example.com/app:1.0@' + D, { registry: 'registry.example.com', repository: 'app', tag: '1.0', digest: D }],
  ['registry.example.com/app@' + D512, { registry: 'registry.example.com', repository: 'app', digest: D512 }],
  ['[::1]:5000/app:x', { registry: '[::1]:5000', repository: 'app', tag: 'x' }],
  ['my-registry.local:443/a__b/c-d/e.f:tag_1', { registry: 'my-registry.local:443', repository: 'a__b/c-d/e.f', tag: 'tag_1' }],
];

for (const [input, expected] of valid) {
  test(`reference: parses ${input}`, (t) => {
    const ref = parseReference(input);
    t.is(ref.registry, expected.registry);
    t.is(ref.repository, expected.repository);
    t.is(ref.tag, expected.tag);
    t.is(ref.digest as string | undefined, expected.digest);
  });
}

const invalid: Array<[string, string]> = [
  ['', 'empty'],
  ['Alpine', 'uppercase repository'],
  ['registry.example.com/Team/app', 'uppercase path component'],
  ['app:', 'empty tag'],
  ['app:-bad', 'tag starting with dash'],
  [`app:${'t'.repeat(129)}`, 'tag too long'],
  ['app@sha256:abc', 'short digest'],
  [`app@sha256:${'A'.repeat(64)}`, 'uppercase digest hex'],
  [`app@md5:${'a'.repeat(32)}`, 'unsupported algorithm'],
  ['https://registry.example.com/app', 'scheme'],
  ['registry.example.com/', 'no repository'],
  ['registry.example.com//app', 'empty path component'],
  ['registry.example.com:99999/app', 'port out of range'],
  ['registry.example.com:port/app', 'port not numeric'],
  ['-bad.example.com/app', 'bad host label'],
  ['app name', 'whitespace'],
  ['a/b/../c', 'dot-dot component'],
  ['app@', 'empty digest'],
];

for (const [input, why] of invalid) {
  test(`reference: rejects ${why} (${JSON.stringify(input).slice(0, 40)})`, (t) => {
    t.throws(() => parseReference(input), { code: 'INVALID_REFERENCE' });
  });
}

test('reference: formats canonically and pins to a digest', (t) => {
  const ref = parseReference('alpine:3.20');
  t.is(formatReference(ref), 'registry-1.docker.io/library/alpine:3.20');
  t.is(repositoryName(ref), 'registry-1.docker.io/library/alpine');
  t.is(manifestReference(ref), '3.20');
  const pinned = withDigest(ref, D);
  t.is(formatReference(pinned), `registry-1.docker.io/library/alpine@${D}`);
  t.is(manifestReference(pinned), D);
  t.is(manifestReference(parseReference('alpine')), 'latest');
  t.is(manifestReference(parseReference(`alpine:1@${D}`)), D);
});

test('reference: parsed references are immutable', (t) => {
  const ref = parseReference('alpine');
  t.throws(() => {
    (ref as { tag: string | undefined }).tag = 'x';
  });
});
