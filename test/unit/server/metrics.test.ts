// ProviderMetrics label values and scrape-time gauges.

import test from 'ava';
import { ProviderMetrics, registryStatusLabel } from '../../../src/server/metrics.js';

test('metrics: registry statuses are bounded label values', (t) => {
  t.is(registryStatusLabel(200), '200');
  t.is(registryStatusLabel(404), '404');
  t.is(registryStatusLabel('error'), 'error');
  t.is(registryStatusLabel(299), '2xx');
  t.is(registryStatusLabel(599), '5xx');
  t.is(registryStatusLabel(999), 'other');
  t.is(registryStatusLabel(42), 'other');
  const values = new Set(Array.from({ length: 1000 }, (_, status) => registryStatusLabel(status)));
  t.true(values.size <= 30, `${values.size} values`);
});

test('metrics: gauges read their sources when scraped', async (t) => {
  const metrics = new ProviderMetrics({ defaultMetrics: false });
  let jobs = 3;
  metrics.backgroundJobsSource = () => jobs;
  metrics.backgroundJobsRunningSource = () => Math.min(jobs, 2);
  metrics.cacheEntriesSource = () => 7;
  t.regex((await metrics.render()).body, /^vouch_background_jobs 3$/m);
  t.regex((await metrics.render()).body, /^vouch_background_jobs_running 2$/m);
  jobs = 0;
  const body = (await metrics.render()).body;
  t.regex(body, /^vouch_background_jobs 0$/m);
  t.regex(body, /^vouch_background_jobs_running 0$/m);
  t.regex(body, /^vouch_cache_entries 7$/m);
});

test('metrics: key outcomes counted between scrapes are all in the next one, and add up', async (t) => {
  const metrics = new ProviderMetrics({ defaultMetrics: false });
  t.false((await metrics.render()).body.includes('vouch_key_outcomes_total{'));
  metrics.countKeyOutcome('/v1/verify', 'verified', 3, 'prod');
  metrics.countKeyOutcome('/v1/verify', 'verified', 1, 'prod');
  metrics.countKeyOutcome('/v1/verify', 'verified', 2, 'staging');
  metrics.countKeyOutcome('grpc:Verify', 'DEADLINE_EXCEEDED');
  const first = (await metrics.render()).body;
  t.regex(first, /^vouch_key_outcomes_total\{route="\/v1\/verify",outcome="verified",environment="prod"\} 4$/m);
  t.regex(first, /^vouch_key_outcomes_total\{route="\/v1\/verify",outcome="verified",environment="staging"\} 2$/m);
  t.regex(first, /^vouch_key_outcomes_total\{route="grpc:Verify",outcome="DEADLINE_EXCEEDED",environment=""\} 1$/m);
  metrics.countKeyOutcome('/v1/verify', 'verified', 1, 'prod');
  const second = (await metrics.render()).body;
  t.regex(second, /^vouch_key_outcomes_total\{route="\/v1\/verify",outcome="verified",environment="prod"\} 5$/m);
  t.regex(second, /^vouch_key_outcomes_total\{route="grpc:Verify",outcome="DEADLINE_EXCEEDED",environment=""\} 1$/m);
});
