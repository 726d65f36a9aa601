// A minimal host of vouch's compiled decision outside Kubernetes: asks the decision which images of
// a Kubernetes object to verify, fetches the answers from a running vouch over gRPC
// (vouch.v1.Verifier/Verify, proto/vouch/v1/verifier.proto) and asks the decision for the
// violations: the messages Gatekeeper would show (docs/decision.md).
//
//   node examples/node-host/check-object.mjs --address 127.0.0.1:9443 [--ca ca.crt --cert tls.crt --key tls.key]
//        [--env prod] [--wasm wasm/policy.wasm] object.json
//
// Prints the violations as JSON; exit 0 none, 1 some, 2 bad usage. Imports only @grpc/grpc-js,
// @grpc/proto-loader and @open-policy-agent/opa-wasm.

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { loadPolicy } from '@open-policy-agent/opa-wasm';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const root = new URL('../../', import.meta.url);
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    address: { type: 'string' },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    env: { type: 'string' },
    wasm: { type: 'string', default: new URL('wasm/policy.wasm', root).pathname },
  },
});
if (values.address === undefined || positionals.length !== 1) {
  console.error('usage: check-object.mjs --address HOST:PORT [--ca FILE [--cert FILE --key FILE]] [--env NAME] [--wasm FILE] OBJECT.json');
  process.exit(2);
}

// The compiled decision: entrypoints vouch/decision/keys and vouch/decision/violations.
const policy = await loadPolicy(readFileSync(values.wasm));
const evaluate = (entrypoint, input) => policy.evaluate(input, entrypoint)[0]?.result ?? [];

// gRPC: TLS when a CA is given (mTLS with --cert and --key), plain text otherwise.
const definition = protoLoader.loadSync(new URL('proto/vouch/v1/verifier.proto', root).pathname, {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const { Verifier } = grpc.loadPackageDefinition(definition).vouch.v1;
const read = (file) => (file === undefined ? null : readFileSync(file));
const credentials =
  values.ca === undefined
    ? grpc.credentials.createInsecure()
    : grpc.credentials.createSsl(read(values.ca), read(values.key), read(values.cert));
const client = new Verifier(values.address, credentials);
const verify = (environment, references) =>
  new Promise((resolve, reject) =>
    client.verify({ environment, references }, { deadline: Date.now() + 15_000 }, (error, response) =>
      error ? reject(error) : resolve(response.results),
    ),
  );

const object = JSON.parse(readFileSync(positionals[0], 'utf8'));
const input = { object, parameters: values.env === undefined ? {} : { environment: values.env } };

// 1. The keys to verify; gRPC takes one environment per call, so group by it.
const keys = evaluate('vouch/decision/keys', input);
const byEnvironment = group(keys);
// 2. vouch's answers, as input.responses: key → VerificationResult, or {"error": {code, message}}.
const responses = {};
let systemError = '';
for (const [environment, entries] of byEnvironment) {
  try {
    const results = await verify(
      environment,
      entries.map((k) => k.image),
    );
    entries.forEach((k, i) => {
      const { error, ...value } = results[i];
      responses[k.key] = error && error.code !== '' ? { error } : value;
    });
  } catch (error) {
    // vouch could not be asked: a system error, as Gatekeeper's, so every image is undecided (denied).
    systemError = `gRPC Verify failed: ${error.message}`;
  }
}
client.close();
// 3. The violations, with the messages Gatekeeper shows.
const violations = evaluate('vouch/decision/violations', { ...input, responses, systemError });
console.log(JSON.stringify(violations, null, 2));
process.exit(violations.length === 0 ? 0 : 1);

function group(items) {
  const map = new Map();
  for (const item of items) map.set(item.environment, [...(map.get(item.environment) ?? []), item]);
  return map;
}
