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
  ['my-registry.local:443/a__b/c-d/e.f:tag_1', { registry: 'my-registry.local', repository: 'a__b/c-d/e.f', tag: 'tag_1' }],
];

// One endpoint, one spelling: the spellings a runtime pulls the same image for must give the same
// registry (trust policy scopes, allowedRegistries, the cache and credentials all key on it).
const hostSpellings: Array<[string, string]> = [
  ['LOCALHOST:5557/good/app:evil', 'localhost:5557'],
  ['Localhost:5557/good/app', 'localhost:5557'],
  ['localhost:05557/good/app', 'localhost:5557'],
  ['localhost:0005557/good/app', 'localhost:5557'],
  ['LOCALHOST/app', 'localhost'],
  ['Registry.Example.COM/team/app', 'registry.example.com'],
  ['registry.example.com:443/team/app', 'registry.example.com'],
  ['registry.example.com:0443/team/app', 'registry.example.com'],
  ['registry.example.com:8443/team/app', 'registry.example.com:8443'],
  ['[0:0:0:0:0:0:0:1]:5000/app', '[::1]:5000'],
  ['[::FFFF:7F00:1]:5000/app', '[::ffff:7f00:1]:5000'],
  ['[::1]:443/app', '[::1]'],
  ['DOCKER.IO/library/alpine', 'registry-1.docker.io'],
  ['index.docker.io:443/library/alpine', 'registry-1.docker.io'],
];

for (const [input, registry] of hostSpellings) {
  test(`reference: canonical host for ${input}`, (t) => {
    const ref = parseReference(input);
    t.is(ref.registry, registry);
    // Canonical text parses to itself.
    t.is(parseReference(formatReference(ref)).registry, registry);
  });
}

// Numbers that resolvers read differently (WHATWG URL and inet_aton take 0x and octal forms, Go does
// not): refused instead of guessed.
for (const input of ['127.000.0.1:5000/app', '0x7f.0.0.1/app', '2130706433:5000/app', '127.1:5000/app', '10.0.0.010/app', 'a.b.0x10/app']) {
  test(`reference: refuses the ambiguous numeric host in ${input}`, (t) => {
    t.throws(() => parseReference(input), { code: 'INVALID_REFERENCE' });
  });
}

test('reference: refuses IPv6 zone identifiers', (t) => {
  t.throws(() => parseReference('[fe80::1%eth0]:5000/app'), { code: 'INVALID_REFERENCE' });
});

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
  // found by fuzzing: the host was lowercased before its labels were checked, and toLowerCase turns
  // U+212A KELVIN SIGN into "k", so this parsed as k.example/app, a host no runtime would pull from
  ['\u212a.example/app', 'non-ASCII host letter that lowercases to ASCII'],
  ['\u212aube.example:5000/app', 'non-ASCII host letter that lowercases to ASCII, with a port'],
  // found by fuzzing: uppercase alone made LOCALHOST1 a host (docker's splitDockerDomain), but the
  // canonical text localhost1/app names a Docker Hub repository: /v1/mutate pinned the wrong image
  ['LOCALHOST1/app', 'single-label host that is a host only by its uppercase letters'],
  ['Registry/team/app', 'single-label host that is a host only by its uppercase letters (2)'],
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
