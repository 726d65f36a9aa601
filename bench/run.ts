// `npm run bench`: every benchmark, each reporting vouch next to a baseline measured in the same run.
import { benchReferrers } from './referrers.js';

process.env['VOUCH_LOG_LEVEL'] ??= 'silent';
console.log(`vouch benchmarks: node ${process.version}, ${(await import('node:os')).cpus().length} cores`);
await benchReferrers();
