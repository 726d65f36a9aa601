#!/usr/bin/env bash
# TLS for vouch in Kubernetes without cert-manager (deploy/README.md): a CA and a serving certificate for
# the Service's DNS names, and the three things Gatekeeper and vouch need from them in the cluster:
#   1. Secret vouch-tls (tls.crt, tls.key, ca.crt) in vouch's namespace: vouch's serving certificate;
#   2. Secret gatekeeper-ca (ca.crt) in vouch's namespace: a copy of ca.crt of Gatekeeper's Secret
#      gatekeeper-webhook-server-cert, the CA of the client certificate Gatekeeper presents (mTLS; a pod
#      cannot mount a Secret of another namespace);
#   3. spec.caBundle of the Providers vouch and vouch-mutate: base64 of the CA, so Gatekeeper trusts vouch
#      (the Providers are created with it when they do not exist yet).
#
#   scripts/gen-tls.sh                       # generate (or reuse) the files, print Secret vouch-tls as YAML on
#                                            # stdout and the kubectl steps for 2 and 3 on stderr
#   scripts/gen-tls.sh --apply               # generate (or reuse), then do 1-3 with kubectl
#   scripts/gen-tls.sh --generate-only       # only write the files
#   scripts/gen-tls.sh --ca-from-secret --apply
#                                            # cert-manager made Secret vouch-tls: do 2 and 3 with its ca.crt
#   scripts/gen-tls.sh --placeholder-ca-bundle
#                                            # print a throwaway certificate, base64 (for tests and
#                                            # manifests that must carry some valid caBundle)
#
# Files (in --out, default .tmp/vouch-tls under the repository, git-ignored): ca.crt, ca.key (ECDSA P-256,
# 10 years), tls.crt, tls.key (ECDSA P-256, --days, serverAuth, SANs <service>.<namespace>,
# <service>.<namespace>.svc, <service>.<namespace>.svc.<cluster domain> and any --san). ECDSA P-256
# because Gatekeeper opens a new connection, and so does a full TLS handshake, for every call: the
# server's signature is the costly part of it, and a P-256 signature is far cheaper than an RSA one
# (an RSA-2048 signature costs about 20 times as much CPU). Existing files are reused: the CA is kept (so
# the Providers' caBundle stays valid) and the serving certificate is reissued only when it is missing, no
# longer matches the CA or the names, or expires within 30 days. --force starts over. Idempotent: run it
# again to renew. The Providers are patched, or created with their caBundle when missing (the kustomize
# base leaves caBundle out, so applying it never overwrites the value; deploy/README.md "Install").
#
# Needs bash, openssl (1.1.1 or later) and, for --apply or --ca-from-secret, kubectl.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

OUT="$ROOT/.tmp/vouch-tls"
NAMESPACE=vouch-system
SERVICE=vouch
CLUSTER_DOMAIN=cluster.local
DAYS=365
CA_DAYS=3650
GATEKEEPER_NAMESPACE=gatekeeper-system
GATEKEEPER_SECRET=gatekeeper-webhook-server-cert
PROVIDERS=(vouch vouch-mutate)
# spec.timeout of a Provider this script creates (deploy/base/provider.yaml; the next apply sets yours).
PROVIDER_TIMEOUT=2
MODE=print
FORCE=0
CA_FROM_SECRET=0
EXTRA_SANS=()
KUBECTL="${KUBECTL:-kubectl}"
# Reissue the serving certificate when it expires within this many seconds.
RENEW_BEFORE_SECONDS=$((30 * 24 * 3600))

usage() {
  cat <<EOF
usage: scripts/gen-tls.sh [--apply | --generate-only] [options]
       scripts/gen-tls.sh --ca-from-secret [--apply] [options]
       scripts/gen-tls.sh --placeholder-ca-bundle

  --out DIR                 where the files are written and reused (default: $OUT)
  --namespace NS            vouch's namespace (default: $NAMESPACE)
  --service NAME            vouch's Service (default: $SERVICE)
  --cluster-domain DOMAIN   the cluster's DNS domain (default: $CLUSTER_DOMAIN)
  --days N                  validity of the serving certificate in days (default: $DAYS)
  --san NAME|IPV4           another subject alternative name, e.g. localhost or 127.0.0.1 for local
                            use (repeatable)
  --force                   generate a new CA and serving certificate even if the files exist
  --apply                   create/update Secret vouch-tls and Secret gatekeeper-ca, patch the Providers
  --generate-only           write the files, touch nothing else
  --ca-from-secret          do not generate: the CA is ca.crt of Secret vouch-tls (made by cert-manager)
  --gatekeeper-namespace NS Gatekeeper's namespace (default: $GATEKEEPER_NAMESPACE)
  --placeholder-ca-bundle   print base64 of a throwaway self-signed certificate (key discarded)
  KUBECTL=...               the kubectl command to use (default: kubectl)
EOF
}

die() {
  echo "gen-tls.sh: $*" >&2
  exit 1
}
note() { echo "gen-tls.sh: $*" >&2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT="${2:?--out needs a directory}"; shift 2 ;;
    --namespace) NAMESPACE="${2:?--namespace needs a value}"; shift 2 ;;
    --service) SERVICE="${2:?--service needs a value}"; shift 2 ;;
    --cluster-domain) CLUSTER_DOMAIN="${2:?--cluster-domain needs a value}"; shift 2 ;;
    --days) DAYS="${2:?--days needs a number}"; shift 2 ;;
    --san) EXTRA_SANS+=("${2:?--san needs a DNS name or an IPv4 address}"); shift 2 ;;
    --gatekeeper-namespace) GATEKEEPER_NAMESPACE="${2:?--gatekeeper-namespace needs a value}"; shift 2 ;;
    --force) FORCE=1; shift ;;
    --apply) MODE=apply; shift ;;
    --generate-only) MODE=generate; shift ;;
    --ca-from-secret) CA_FROM_SECRET=1; shift ;;
    --placeholder-ca-bundle) MODE=placeholder; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

[[ "$DAYS" =~ ^[1-9][0-9]*$ ]] || die "--days: expected a positive number of days, got '$DAYS'"
[[ $CA_FROM_SECRET -eq 1 && $MODE == generate ]] && die "--ca-from-secret and --generate-only exclude each other"
command -v openssl >/dev/null 2>&1 || die "openssl is required"

DNS_NAMES=("$SERVICE.$NAMESPACE" "$SERVICE.$NAMESPACE.svc" "$SERVICE.$NAMESPACE.svc.$CLUSTER_DOMAIN")
IP_ADDRESSES=()
for name in "${EXTRA_SANS[@]+"${EXTRA_SANS[@]}"}"; do
  if [[ "$name" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]]; then
    IP_ADDRESSES+=("$name")
  elif [[ "$name" =~ ^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$ ]]; then
    DNS_NAMES+=("$name")
  else
    die "--san: expected a DNS name or an IPv4 address, got '$name'"
  fi
done

# base64 on one line, with GNU and BSD base64 alike.
b64() { base64 <"$1" | tr -d '\n'; }

ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# A positive random serial number (RFC 5280: at most 20 octets).
serial() { echo "0x$(openssl rand -hex 16 | sed 's/^./4/')"; }

# --- files ---------------------------------------------------------------------------------------------

# A self-signed CA certificate for key $1 with common name $2, valid $3 days, written to $4.
self_signed_ca() {
  local key="$1" cn="$2" days="$3" out="$4" cnf
  cnf="$(mktemp)"
  cat >"$cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
O = vouch
CN = $cn
[v3_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
  openssl req -x509 -new -key "$key" -sha256 -days "$days" -set_serial "$(serial)" \
    -config "$cnf" -extensions v3_ca -out "$out" 2>/dev/null
  rm -f "$cnf"
}

generate_ca() {
  note "generating a new CA in $OUT/ca.crt"
  ec_key "$OUT/ca.key"
  self_signed_ca "$OUT/ca.key" "vouch provider CA ($NAMESPACE)" "$CA_DAYS" "$OUT/ca.crt"
}

issue_serving() {
  note "issuing the serving certificate $OUT/tls.crt for ${DNS_NAMES[*]} ${IP_ADDRESSES[*]+"${IP_ADDRESSES[*]}"}"
  local csr ext san="" name
  csr="$(mktemp)"
  ext="$(mktemp)"
  for name in "${DNS_NAMES[@]}"; do san+="${san:+, }DNS:$name"; done
  for name in "${IP_ADDRESSES[@]+"${IP_ADDRESSES[@]}"}"; do san+="${san:+, }IP:$name"; done
  cat >"$ext" <<EOF
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
  ec_key "$OUT/tls.key"
  openssl req -new -key "$OUT/tls.key" -subj "/O=vouch/CN=${DNS_NAMES[0]}" -out "$csr" 2>/dev/null
  openssl x509 -req -in "$csr" -CA "$OUT/ca.crt" -CAkey "$OUT/ca.key" -set_serial "$(serial)" -sha256 \
    -days "$DAYS" -extfile "$ext" -extensions v3_server -out "$OUT/tls.crt" 2>/dev/null
  rm -f "$csr" "$ext"
}

# True when tls.crt/tls.key exist, belong together, chain to ca.crt, have an ECDSA P-256 key, name every
# DNS name and IP address, and stay valid for RENEW_BEFORE_SECONDS (an RSA certificate of an earlier run
# is reissued).
serving_usable() {
  [[ -s "$OUT/tls.crt" && -s "$OUT/tls.key" ]] || return 1
  openssl verify -CAfile "$OUT/ca.crt" "$OUT/tls.crt" >/dev/null 2>&1 || return 1
  openssl x509 -in "$OUT/tls.crt" -noout -checkend "$RENEW_BEFORE_SECONDS" >/dev/null 2>&1 || return 1
  [[ "$(openssl x509 -in "$OUT/tls.crt" -noout -pubkey)" == "$(openssl pkey -in "$OUT/tls.key" -pubout)" ]] || return 1
  openssl pkey -in "$OUT/tls.key" -noout -text 2>/dev/null | grep -q 'NIST CURVE: P-256' || return 1
  local sans name
  sans="$(openssl x509 -in "$OUT/tls.crt" -noout -ext subjectAltName 2>/dev/null)" || return 1
  for name in "${DNS_NAMES[@]}"; do
    tr ',' '\n' <<<"$sans" | sed 's/^ *//' | grep -Fxq "DNS:$name" || return 1
  done
  for name in "${IP_ADDRESSES[@]+"${IP_ADDRESSES[@]}"}"; do
    tr ',' '\n' <<<"$sans" | sed 's/^ *//' | grep -Fxiq "IP Address:$name" || return 1
  done
}

generate_files() {
  mkdir -p "$OUT"
  chmod 700 "$OUT"
  umask 077
  if [[ $FORCE -eq 1 ]]; then rm -f "$OUT/ca.crt" "$OUT/ca.key" "$OUT/tls.crt" "$OUT/tls.key"; fi
  if [[ -s "$OUT/ca.crt" && -s "$OUT/ca.key" ]]; then
    note "reusing the CA in $OUT/ca.crt"
  else
    generate_ca
    rm -f "$OUT/tls.crt" "$OUT/tls.key"
  fi
  if serving_usable; then
    note "reusing the serving certificate $OUT/tls.crt"
  else
    issue_serving
  fi
}

# --- cluster -------------------------------------------------------------------------------------------

kube() { $KUBECTL "$@"; }

# Secret YAML: name, type, then key=base64 pairs.
secret_yaml() {
  local name="$1" type="$2" pair
  shift 2
  cat <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: $name
  namespace: $NAMESPACE
  labels:
    app.kubernetes.io/name: vouch
    app.kubernetes.io/part-of: vouch
type: $type
data:
EOF
  for pair in "$@"; do echo "  ${pair%%=*}: ${pair#*=}"; done
}

vouch_tls_yaml() {
  secret_yaml vouch-tls kubernetes.io/tls "tls.crt=$(b64 "$OUT/tls.crt")" "tls.key=$(b64 "$OUT/tls.key")" "ca.crt=$(b64 "$OUT/ca.crt")"
}

gatekeeper_ca_b64() {
  local value
  value="$(kube -n "$GATEKEEPER_NAMESPACE" get secret "$GATEKEEPER_SECRET" -o 'jsonpath={.data.ca\.crt}')" ||
    die "cannot read Secret $GATEKEEPER_NAMESPACE/$GATEKEEPER_SECRET: is Gatekeeper installed?"
  [[ -n "$value" ]] || die "Secret $GATEKEEPER_NAMESPACE/$GATEKEEPER_SECRET has no ca.crt yet: wait for Gatekeeper to start"
  printf '%s' "$value"
}

copy_gatekeeper_ca() {
  local ca
  # (an assignment, so that a failure stops the script rather than applying an empty ca.crt)
  ca="$(gatekeeper_ca_b64)"
  note "copying ca.crt of $GATEKEEPER_NAMESPACE/$GATEKEEPER_SECRET into Secret $NAMESPACE/gatekeeper-ca"
  secret_yaml gatekeeper-ca Opaque "ca.crt=$ca" | kube apply -f - >&2
}

# A Provider as the base (deploy/base/provider.yaml) declares it, with caBundle $2. Only for creating a
# missing one: Gatekeeper's webhook refuses an https Provider without caBundle, so the kustomize base
# cannot create it and leaves caBundle out; the next `kubectl apply -k` takes over url and timeout and,
# since its configuration never names caBundle, leaves the value alone.
provider_yaml() {
  local name="$1" ca="$2" path=verify
  [[ "$name" == *-mutate ]] && path=mutate
  cat <<EOF
apiVersion: externaldata.gatekeeper.sh/v1beta1
kind: Provider
metadata:
  name: $name
  labels:
    app.kubernetes.io/name: vouch
    app.kubernetes.io/part-of: vouch
    app.kubernetes.io/component: external-data-provider
spec:
  url: https://$SERVICE.$NAMESPACE.svc:8443/v1/$path
  timeout: $PROVIDER_TIMEOUT
  caBundle: $ca
EOF
}

# Sets spec.caBundle of each Provider: a merge patch when it exists (kubectl patch leaves the
# last-applied annotation of `kubectl apply` alone, so a later apply does not undo it), else creates it
# with `kubectl create` (not apply: an annotation naming caBundle would make the next `kubectl apply -k`
# of the base, which leaves caBundle out, delete it).
patch_providers() {
  local ca="$1" provider
  for provider in "${PROVIDERS[@]}"; do
    if kube get providers.externaldata.gatekeeper.sh "$provider" -o name >/dev/null 2>&1; then
      note "setting spec.caBundle of Provider $provider"
      kube patch providers.externaldata.gatekeeper.sh "$provider" --type merge -p "{\"spec\":{\"caBundle\":\"$ca\"}}" >&2 ||
        die "cannot patch Provider $provider"
    else
      note "creating Provider $provider with its caBundle"
      provider_yaml "$provider" "$ca" | kube create -f - >&2 ||
        die "cannot create Provider $provider: is Gatekeeper (its Provider CRD) installed?"
    fi
  done
}

# ca.crt of Secret vouch-tls, base64, waiting up to two minutes for cert-manager to issue it.
ca_from_secret() {
  local value="" tries=0
  while [[ -z "$value" ]]; do
    value="$(kube -n "$NAMESPACE" get secret vouch-tls -o 'jsonpath={.data.ca\.crt}' 2>/dev/null || true)"
    [[ -n "$value" ]] && break
    tries=$((tries + 1))
    [[ $tries -le 60 ]] || die "Secret $NAMESPACE/vouch-tls has no ca.crt: is the cert-manager Certificate vouch-tls Ready?"
    sleep 2
  done
  printf '%s' "$value"
}

# The kubectl steps for 2 and 3, on stderr. $1: shell text that yields the CA, base64.
print_steps() {
  local ca="$1" provider
  cat >&2 <<EOF

# Then copy Gatekeeper's CA (mTLS) and set the Providers' caBundle:
kubectl -n $GATEKEEPER_NAMESPACE get secret $GATEKEEPER_SECRET -o 'jsonpath={.data.ca\\.crt}' | base64 -d >gatekeeper-ca.crt
kubectl -n $NAMESPACE create secret generic gatekeeper-ca --from-file=ca.crt=gatekeeper-ca.crt --dry-run=client -o yaml | kubectl apply -f -
CA=$ca
EOF
  for provider in "${PROVIDERS[@]}"; do
    printf '%s\n' "kubectl patch providers.externaldata.gatekeeper.sh $provider --type merge -p \"{\\\"spec\\\":{\\\"caBundle\\\":\\\"\$CA\\\"}}\"" >&2
  done
  echo "# (Providers that do not exist yet: run this script with --apply, which creates them with caBundle.)" >&2
}

# --- main ----------------------------------------------------------------------------------------------

case "$MODE" in
  placeholder)
    dir="$(mktemp -d)"
    trap 'rm -rf "$dir"' EXIT
    ec_key "$dir/key"
    self_signed_ca "$dir/key" "vouch placeholder CA - replace me" 1 "$dir/crt"
    b64 "$dir/crt"
    echo
    ;;
  generate)
    generate_files
    note "wrote $OUT/{ca.crt,ca.key,tls.crt,tls.key}"
    ;;
  print | apply)
    if [[ $CA_FROM_SECRET -eq 1 ]]; then
      if [[ $MODE == apply ]]; then
        ca="$(ca_from_secret)"
        copy_gatekeeper_ca
        patch_providers "$ca"
      else
        print_steps "\"\$(kubectl -n $NAMESPACE get secret vouch-tls -o 'jsonpath={.data.ca\\.crt}')\""
      fi
    else
      generate_files
      ca="$(b64 "$OUT/ca.crt")"
      if [[ $MODE == apply ]]; then
        note "applying Secret $NAMESPACE/vouch-tls"
        vouch_tls_yaml | kube apply -f - >&2
        copy_gatekeeper_ca
        patch_providers "$ca"
      else
        note "Secret vouch-tls follows on stdout (pipe it to kubectl apply -f -)"
        vouch_tls_yaml
        print_steps "$ca"
      fi
    fi
    ;;
esac
