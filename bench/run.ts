// `npm run bench`: every benchmark, each reporting vouch next to a baseline measured in the same run.
import { cpus } from 'node:os';
import { benchFlood } from './flood.js';
import { benchCosign } from './cosign.js';
import { benchDecision } from './decision.js';
import { benchPlugin } from './plugin.js';
import { benchPromote } from './promote.js';
import { benchProvider } from './provider.js';
import { benchReferrers } from './referrers.js';
import { benchVerify } from './verify.js';

process.env['VOUCH_LOG_LEVEL'] ??= 'silent';
console.log(`vouch benchmarks: node ${process.version}, ${cpus().length} cores`);
const only = process.argv[2];
if (only === undefined || only === 'referrers') await benchReferrers();
if (only === undefined || only === 'verify') await benchVerify();
if (only === undefined || only === 'cosign') await benchCosign();
if (only === undefined || only === 'provider') await benchProvider();
if (only === undefined || only === 'decision') await benchDecision();
if (only === undefined || only === 'flood') await benchFlood();
if (only === undefined || only === 'promote') await benchPromote();
if (only === undefined || only === 'plugin') await benchPlugin();
