#!/usr/bin/env bash
# The long fuzz run (docs/reliability.md "Fuzzing"): every property test (test/**/*.fuzz.test.ts) with
# many more cases than `npm test` runs. Usage:
#   npm run fuzz                                   # VOUCH_FUZZ_RUNS=20000 cases per property
#   VOUCH_FUZZ_RUNS=100000 npm run fuzz            # longer
#   npm run fuzz -- test/unit/oci/auth.fuzz.test.ts  # some files only
#   VOUCH_FUZZ_SEED=<seed> npm run fuzz -- <file>  # replay a failure (the seed is in its report)
set -euo pipefail
cd "$(dirname "$0")/.."
export VOUCH_FUZZ_RUNS="${VOUCH_FUZZ_RUNS:-20000}"
if [ "$#" -eq 0 ]; then set -- 'test/**/*.fuzz.test.ts'; fi
started=$(date +%s)
status=0
# ava's default inactivity timeout (120 s) is for the regular suite; one property can run longer here.
npx ava --timeout=60m "$@" || status=$?
echo "fuzz: VOUCH_FUZZ_RUNS=${VOUCH_FUZZ_RUNS}${VOUCH_FUZZ_SEED:+ VOUCH_FUZZ_SEED=$VOUCH_FUZZ_SEED}, $(($(date +%s) - started)) s"
exit "$status"
