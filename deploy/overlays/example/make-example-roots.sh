#!/usr/bin/env bash
# Writes the example trust stores of this overlay: one self-signed root CA certificate per store
# (ECDSA P-256, 20 years), PEM, for
#   truststores/prod/root-ca.pem      CN=Example Corp Release Root CA   (trust store ca:prod)
#   truststores/staging/root-ca.pem   CN=Example Corp CI Root CA        (trust store ca:staging)
# The private keys are thrown away: nothing can ever be signed under these roots, so an install of the
# example as it is starts and answers, but verifies no image (every image is denied: fail closed). Copy
# the overlay and replace both files with the roots of your own signers (README.md next to this script).
# The committed files were made by this script; re-run it only to renew them.
#
# Needs bash and openssl (1.1.1 or later).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v openssl >/dev/null 2>&1 || {
  echo "make-example-roots.sh: openssl is required" >&2
  exit 1
}
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# A root for store $1 with common name $2.
root() {
  local store="$1" cn="$2"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/$store.key" 2>/dev/null
  cat >"$work/$store.cnf" <<CNF
[req]
distinguished_name = dn
prompt = no
[dn]
C = US
ST = WA
L = Seattle
O = Example Corp
CN = $cn
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CNF
  mkdir -p "$HERE/truststores/$store"
  openssl req -x509 -new -key "$work/$store.key" -sha256 -days 7300 -set_serial "0x$(openssl rand -hex 16 | sed 's/^./4/')" \
    -config "$work/$store.cnf" -extensions v3_ca -out "$HERE/truststores/$store/root-ca.pem" 2>/dev/null
  echo "make-example-roots.sh: wrote truststores/$store/root-ca.pem ($cn)" >&2
}

root prod 'Example Corp Release Root CA'
root staging 'Example Corp CI Root CA'
