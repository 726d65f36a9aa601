// Property tests of allowedRegistries (src/config/hosts.ts; docs/security.md "Host spelling";
// docs/reliability.md "Fuzzing"): an allowlist entry admits a registry however either side spells the
// host, a wildcard admits exactly the hosts below its domain, and any pattern text gives a canonical
// pattern or an error message, never a throw.

import test from 'ava';
import { canonicalRegistryPattern, registryAllowed } from '../../../src/config/index.js';
import { parseReference } from '../../../src/core/index.js';
import { checkProperty, dnsHost, dockerHubHost, fc, hostileText, ipv4Host, ipv6Host, label, typedOutcome } from '../../helpers/fuzz.js';

const anyHost = fc.oneof(dnsHost, ipv4Host, ipv6Host, dockerHubHost);

test('registryAllowed: an entry admits its registry in every spelling, on both sides', (t) => {
  const spellings = anyHost.chain((host) => fc.tuple(host.spellings, host.spellings));
  checkProperty(t, [spellings], ([inConfig, inReference]) => {
    const pattern = canonicalRegistryPattern(inConfig);
    if (typeof pattern !== 'string') throw new Error(`${inConfig} refused: ${pattern.error}`);
    const registry = parseReference(`${inReference}/team/app:v1`).registry;
    if (!registryAllowed([pattern], registry)) throw new Error(`${inConfig} (${pattern}) does not admit ${inReference} (${registry})`);
  });
});

test('registryAllowed: *.domain admits hosts strictly below the domain, in any spelling, and nothing else', (t) => {
  const flip = (text: string, flips: boolean[]) => [...text].map((c, i) => (flips[i % flips.length] ? c.toUpperCase() : c)).join('');
  checkProperty(
    t,
    [dnsHost, fc.array(label, { minLength: 0, maxLength: 2 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), fc.boolean()],
    (host, sub, flips, sibling) => {
      const [domain, port] = host.canonical.split(':') as [string, string | undefined];
      if (!domain.includes('.')) return; // localhost and single labels: nothing is below them as a registry
      const pattern = canonicalRegistryPattern(`*.${flip(domain, flips)}${port === undefined ? '' : `:0${port}`}`);
      if (typeof pattern !== 'string') throw new Error(`*.${domain} refused: ${pattern.error}`);
      const below = sub.length === 0 ? domain : `${sub.join('.')}.${domain}`;
      const candidate = sibling ? `x${domain}` : below;
      const registry = parseReference(`${flip(candidate, [...flips].reverse())}${port === undefined ? '' : `:${port}`}/app`).registry;
      const want = !sibling && sub.length > 0;
      if (registryAllowed([pattern], registry) !== want) throw new Error(`${pattern} ${want ? 'refused' : 'admitted'} ${registry}`);
    },
  );
});

test('canonicalRegistryPattern: any text gives a pattern or an error message', (t) => {
  checkProperty(
    t,
    [
      fc.oneof(
        hostileText,
        hostileText.map((s) => `*.${s}`),
        anyHost.chain((h) => h.spellings),
      ),
    ],
    (text) => {
      const outcome = typedOutcome(() => canonicalRegistryPattern(text), []);
      if ('value' in outcome && typeof outcome.value === 'string' && /[^\x21-\x7e]/.test(outcome.value)) {
        throw new Error(`pattern ${JSON.stringify(outcome.value)} is not ASCII`);
      }
    },
  );
});
