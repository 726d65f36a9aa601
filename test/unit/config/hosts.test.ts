import test from 'ava';
import { canonicalRegistryHost, canonicalRegistryPattern, parseListenAddress, registryAllowed } from '../../../src/config/index.js';

test('canonicalRegistryHost: lowercases and folds Docker Hub aliases', (t) => {
  t.is(canonicalRegistryHost('GHCR.io'), 'ghcr.io');
  t.is(canonicalRegistryHost('docker.io'), 'registry-1.docker.io');
  t.is(canonicalRegistryHost('index.docker.io'), 'registry-1.docker.io');
  t.is(canonicalRegistryHost('localhost'), 'localhost');
  t.is(canonicalRegistryHost('localhost:5000'), 'localhost:5000');
  t.is(canonicalRegistryHost('[::1]:5000'), '[::1]:5000');
  t.is(canonicalRegistryHost('LocalHost:05000'), 'localhost:5000');
  t.is(canonicalRegistryHost('registry.example.com:443'), 'registry.example.com');
  t.is(canonicalRegistryHost('DOCKER.IO:443'), 'registry-1.docker.io');
  const numeric = canonicalRegistryHost('127.000.0.1:5000');
  t.regex(typeof numeric === 'string' ? numeric : numeric.error, /ambiguous numeric/);
  const bare = canonicalRegistryHost('registry');
  t.regex(typeof bare === 'string' ? bare : bare.error, /image references only name a host/);
  const empty = canonicalRegistryHost('');
  t.regex(typeof empty === 'string' ? empty : empty.error, /not a registry host/);
});

test('parseListenAddress: returns a message instead of throwing', (t) => {
  t.deepEqual(parseListenAddress('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
  t.is(typeof parseListenAddress('127.0.0.1'), 'string');
});

const cases: Array<[string[] | undefined, string, boolean]> = [
  [undefined, 'anything.example', true],
  [['ghcr.io'], 'ghcr.io', true],
  [['ghcr.io'], 'GHCR.IO', true],
  [['ghcr.io'], 'ghcr.io:443', true],
  [['ghcr.io'], 'ghcr.io:0443', true],
  [['ghcr.io'], 'ghcr.io:444', false],
  [['localhost:5557'], 'LOCALHOST:05557', true],
  [['ghcr.io'], 'quay.io', false],
  [['ghcr.io'], 'evilghcr.io', false],
  [['*.example.com'], 'registry.example.com', true],
  [['*.example.com'], 'a.b.example.com', true],
  [['*.example.com'], 'example.com', false],
  [['*.example.com'], 'registry.example.com:5000', false],
  [['*.example.com'], 'registry.example.com.evil.io', false],
  [['*.example.com'], 'registryexample.com', false],
  [['*.example.com:5000'], 'registry.example.com:5000', true],
  [['*.example.com:5000'], 'registry.example.com', false],
  [['127.0.0.1:5000'], '127.0.0.1:5000', true],
  [['127.0.0.1:5000'], '127.0.0.1:5001', false],
  [['registry-1.docker.io'], 'registry-1.docker.io', true],
  [['*'], 'whatever.io:1234', true],
];

for (const [patterns, host, allowed] of cases) {
  test(`registryAllowed: ${JSON.stringify(patterns)} ${allowed ? 'allows' : 'refuses'} ${host}`, (t) => {
    t.is(registryAllowed(patterns, host), allowed);
  });
}

test('canonicalRegistryPattern: wildcard ports take the canonical host form', (t) => {
  t.is(canonicalRegistryPattern('*.Example.com:05000'), '*.example.com:5000');
  t.is(canonicalRegistryPattern('*.example.com:0443'), '*.example.com');
  t.true(registryAllowed([canonicalRegistryPattern('*.example.com:0443') as string], 'registry.example.com:443'));
});

// found by fuzzing: hosts were lowercased before their labels were checked, and toLowerCase turns
// U+212A KELVIN SIGN into an ASCII "k"
test('canonicalRegistryHost and canonicalRegistryPattern: a non-ASCII letter that lowercases to ASCII is refused', (t) => {
  t.is(typeof canonicalRegistryHost('\u212aube.example'), 'object');
  t.is(typeof canonicalRegistryPattern('*.\u212aube.example'), 'object');
  t.is(canonicalRegistryPattern('*.KUBE.example'), '*.kube.example');
});
