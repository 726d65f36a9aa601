// The downloaded-CRL cache: one download for concurrent requests of a URL, reuse until nextUpdate,
// validation per issuer, a failed download not cached.

import test from 'ava';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { CrlCache } from '../../../src/notation/revocation-crl-cache.js';
import { parseCrl } from '../../../src/notation/revocation-crl.js';
import { parseCertificates } from '../../../src/trust/index.js';
import { NOTATION_VECTORS } from '../../helpers/fixtures.js';

const CRL_DIR = path.join(NOTATION_VECTORS, 'notation-cli-e2e/crl');
const file = (name: string): Uint8Array => new Uint8Array(readFileSync(path.join(CRL_DIR, name)));
const [, intermediate, root] = parseCertificates(file('certchain_with_crl.pem'), 'certchain_with_crl.pem');
const LEAF_CRL = file('leaf.crl');
const { thisUpdate, nextUpdate } = parseCrl(LEAF_CRL);
const URL = 'http://crl.example.com/leaf.crl';

test('crl cache: concurrent downloads of one URL share one fetch; later gets hit the cache until nextUpdate', async (t) => {
  let clock = thisUpdate.getTime() + 1_000;
  const cache = new CrlCache({ maxEntries: 8, maxBytes: 1 << 24, now: () => new Date(clock) });
  let fetches = 0;
  const fetch = async (): Promise<Uint8Array> => {
    fetches++;
    await new Promise((resolve) => setTimeout(resolve, 20));
    return LEAF_CRL;
  };
  const crls = await Promise.all([1, 2, 3].map(() => cache.download(URL, intermediate!, fetch)));
  t.is(fetches, 1);
  t.true(crls.every((c) => c === crls[0]));
  t.is(cache.get(URL, intermediate!), crls[0]);
  // another issuer is validated on its own: not its CRL
  t.is(cache.get(URL, root!), undefined);
  clock = nextUpdate!.getTime() + 1;
  t.is(cache.get(URL, intermediate!), undefined);
  cache.clear();
});

test('crl cache: a failed download is not kept and the next call fetches again', async (t) => {
  const cache = new CrlCache({ maxEntries: 8, maxBytes: 1 << 24, now: () => new Date(thisUpdate.getTime() + 1_000) });
  await t.throwsAsync(
    cache.download(URL, intermediate!, async () => new Uint8Array([1, 2, 3])),
    { message: /malformed CRL/ },
  );
  t.is(cache.get(URL, intermediate!), undefined);
  t.truthy(await cache.download(URL, intermediate!, async () => LEAF_CRL));
});

test('crl cache: bounded by entries (0 keeps nothing)', async (t) => {
  const cache = new CrlCache({ maxEntries: 0, maxBytes: 1 << 24, now: () => new Date(thisUpdate.getTime() + 1_000) });
  await cache.download(URL, intermediate!, async () => LEAF_CRL);
  t.is(cache.get(URL, intermediate!), undefined);
});
