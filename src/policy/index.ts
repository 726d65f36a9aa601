// Public face of policy: the in-process runtime for compiled OPA (WASM) policies, evaluated in a
// worker thread with a per-call timeout, a memory ceiling and an input size limit
// (docs/policy-runtime.md). Imports only core and log.
//
//   const policy = await loadPolicyFile('decision.tar.gz', { clock, logger, timeoutMs: 500 });
//   policy.entrypoints;                   // ['vouch/decision/violations', ...] (from the module)
//   policy.annotations.get(entrypoint);   // its METADATA `custom`, e.g. {vouch: {input: ['referrers']}}
//   policy.builtins;                      // host builtins the module calls, e.g. ['sprintf', 'time.now_ns']
//   await policy.evaluate(entrypoint, input, { signal }); // the rule's value; undefined when undefined
//   await policy.close();
//
// Errors: VouchError code POLICY_ERROR with reason LOAD_FAILED | COMPILE_FAILED (load), NOT_FOUND
// (no such entrypoint) | BAD_INPUT | BAD_OUTPUT | TRAP | TIMEOUT (evaluate); an aborted signal
// rejects with its reason (a VouchError) or DEADLINE_EXCEEDED/ABORTED.
export { loadPolicyBytes, loadPolicyFile, type LoadPolicyOptions } from './load.js';
export { DEFAULT_POLICY_LIMITS, WasmPolicy, type PolicyLimits } from './wasm-policy.js';
