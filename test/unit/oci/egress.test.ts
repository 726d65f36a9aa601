// The link-local / cloud metadata refusal in isolation: literal spellings (as the WHATWG URL parser
// leaves them), resolved answers in both lookup shapes, and the connector of createEgressAgent.
// Nothing here sends a packet off this machine: resolved answers are checked by a pure function,
// and the connector is only ever pointed at fe80::1 without a zone, which the kernel refuses locally.

import test from 'ava';
import type { LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { request } from 'undici';
import { VouchError } from '../../../src/core/index.js';
import { createEgressAgent, guardedLookup, specialAddressBlockList, specialHostReason } from '../../../src/oci/egress.js';
import { HttpTransport } from '../../../src/oci/http-transport.js';

const list = specialAddressBlockList();

test('egress: link-local and metadata hosts are recognised in every spelling the URL parser produces', (t) => {
  for (const url of [
    'http://169.254.169.254/',
    'http://169.254.0.1/',
    'http://169.254.170.2/',
    'http://0xa9fea9fe/',
    'http://0xA9.0xFE.0xA9.0xFE/',
    'http://2852039166/',
    'http://0251.0376.0251.0376/',
    'http://169.254.43518/',
    'http://[::ffff:169.254.169.254]/',
    'http://[0:0:0:0:0:ffff:a9fe:a9fe]/',
    'http://[::169.254.169.254]/',
    'http://[64:ff9b::169.254.169.254]/',
    'http://[fe80::1]/',
    'http://[febf:ffff::1]/',
    'http://[fd00:ec2::254]/',
    'http://100.100.100.200/',
    'http://[::ffff:100.100.100.200]/',
    'http://192.0.0.192/',
    'http://metadata.google.internal/',
    'http://Metadata.Google.Internal./',
  ]) {
    t.not(specialHostReason(list, new URL(url).hostname), undefined, url);
  }
});

test('egress: ordinary hosts, loopback and private addresses are not special', (t) => {
  for (const url of [
    'http://127.0.0.1:5000/',
    'http://[::1]:5000/',
    'http://localhost:5000/',
    'http://10.0.0.1/',
    'http://192.168.1.1/',
    'http://169.253.255.255/',
    'http://169.255.0.0/',
    'http://100.100.100.201/',
    'http://192.0.0.193/',
    'http://[fec0::1]/',
    'http://[fd00:ec2::253]/',
    'http://registry.example.com/',
    'http://metadata.google.internal.example.com/',
    'http://169.254.169.254.nip.io/',
  ]) {
    t.is(specialHostReason(list, new URL(url).hostname), undefined, url);
  }
});

function fakeLookup(answers: Record<string, string[]>): LookupFunction {
  return (hostname, options, callback) => {
    const addresses = answers[hostname];
    if (addresses === undefined) {
      callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
      return;
    }
    const all: LookupAddress[] = addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    if (options.all) callback(null, all);
    else callback(null, all[0]!.address, all[0]!.family);
  };
}

function resolve(lookup: LookupFunction, hostname: string, all: boolean): Promise<{ error: unknown; address: unknown }> {
  return new Promise((done) => lookup(hostname, { all }, (error, address) => done({ error, address })));
}

test('egress: a resolved answer that is special refuses the name, in both lookup shapes; others pass through', async (t) => {
  const guarded = guardedLookup(
    fakeLookup({
      'imds.vouch.test': ['169.254.169.254'],
      'mapped.vouch.test': ['::ffff:169.254.169.254'],
      'v6.vouch.test': ['fd00:ec2::254'],
      'mixed.vouch.test': ['10.0.0.7', '169.254.169.254'],
      'fine.vouch.test': ['127.0.0.1', '::1'],
    }),
    list,
  );
  for (const all of [true, false]) {
    for (const name of ['imds.vouch.test', 'mapped.vouch.test', 'v6.vouch.test']) {
      const { error } = await resolve(guarded, name, all);
      t.true(error instanceof VouchError && error.code === 'REGISTRY_NOT_ALLOWED' && error.reason === 'ADDRESS_NOT_ALLOWED', name);
    }
    const ok = await resolve(guarded, 'fine.vouch.test', all);
    t.is(ok.error, null);
    t.deepEqual(
      ok.address,
      all
        ? [
            { address: '127.0.0.1', family: 4 },
            { address: '::1', family: 6 },
          ]
        : '127.0.0.1',
    );
    const missing = await resolve(guarded, 'nowhere.vouch.test', all);
    t.is((missing.error as { code?: string }).code, 'ENOTFOUND');
  }
  // one bad address among several refuses the name (all addresses are what net may connect to)
  const { error } = await resolve(guarded, 'mixed.vouch.test', true);
  t.true(error instanceof VouchError && error.reason === 'ADDRESS_NOT_ALLOWED');
});

test('egress: the agent refuses a literal link-local address at connect time unless that exact host is exempt', async (t) => {
  const agent = createEgressAgent({ connectTimeoutMs: 1_000 });
  const exempting = createEgressAgent({ connectTimeoutMs: 1_000, isAddressExempt: (host) => host === '[fe80::1]:9' });
  try {
    const refused = await t.throwsAsync(request('http://[fe80::1]:9/', { dispatcher: agent }));
    t.true(refused instanceof VouchError && refused.reason === 'ADDRESS_NOT_ALLOWED');
    // exempt: the connection is attempted (and fails locally: a link-local address needs a zone)
    const attempted = await t.throwsAsync(request('http://[fe80::1]:9/', { dispatcher: exempting }));
    t.false(attempted instanceof VouchError);
  } finally {
    await Promise.all([agent.close(), exempting.close()]);
  }
});

test('egress: the transport refuses a special first URL before dispatching, and maps connect-time refusals', async (t) => {
  const dispatched: string[] = [];
  // fe80::1 without a zone: even a broken guard could not reach it from here
  const agent = createEgressAgent({ lookup: fakeLookup({ 'imds.vouch.test': ['fe80::1'] }) });
  // the dispatcher refuses anything but the one name this test resolves, as a safety net
  const dispatcher = agent.compose((dispatch) => (opts, handler) => {
    dispatched.push(String(opts.origin));
    if (!String(opts.origin).includes('.vouch.test')) throw new Error(`test safety: ${String(opts.origin)}`);
    return dispatch(opts, handler);
  });
  const transport = new HttpTransport({ dispatcher });
  try {
    const literal = await t.throwsAsync(
      transport.send({ method: 'GET', url: new URL('http://169.254.169.254/latest/'), maxBytes: 1024, what: 'probe' }),
    );
    t.true(literal instanceof VouchError && literal.code === 'REGISTRY_NOT_ALLOWED' && literal.reason === 'ADDRESS_NOT_ALLOWED');
    t.deepEqual(dispatched, []);
    const resolved = await t.throwsAsync(
      transport.send({ method: 'GET', url: new URL('http://imds.vouch.test/latest/'), maxBytes: 1024, what: 'probe' }),
    );
    t.true(resolved instanceof VouchError && resolved.code === 'REGISTRY_NOT_ALLOWED' && resolved.reason === 'ADDRESS_NOT_ALLOWED');
    t.regex(resolved?.message ?? '', /^probe: /);
  } finally {
    await transport.close();
    await agent.close();
  }
});
