#!/usr/bin/env bash
# Installs the pinned external tools that vouch's tests, benchmarks and Rego checks run, into .tools/bin (git-ignored).
#
#   bash scripts/tools.sh                 # everything: all Go tools + Debian's docker-registry and redis-server
#   bash scripts/tools.sh notation opa    # only the named tools
#   bash scripts/tools.sh --plan [tool...]  # only say what would be built, and roughly how long it takes
#
# Before building anything it prints the plan: which tools are up to date, which will be built, and an estimate
# (cosign, gator and the Gatekeeper harness take minutes each on a cold Go build cache). `npm test` needs every
# tool (each is used by some test: see test/helpers/registries.ts); `npm run bench` names the three it needs.
# VOUCH_TOOLS_BIN overrides the install directory (default .tools/bin; tests use a temporary one).
#
# Go tools: each has its own module under tools/<name>/ whose committed go.mod + go.sum pin the version (one module
# per tool, so their dependency graphs never collide). The Go module proxy here refuses version listing, so
# `go install pkg@version` cannot be used; instead each module records the tool with `go get -tool pkg@<exact>` and
# this script runs `go build` inside it. To bump a tool:
#   cd tools/<name> && GOFLAGS=-mod=mod go get -tool <pkg>@<exact version> && go mod tidy
#
# A tool is skipped when its binary exists and its stamp (.tools/bin/.<name>.version) matches the pinned version
# and a hash of the module's files; otherwise it is rebuilt. One line is printed per tool. Works from any cwd.
# docker-registry (CNCF distribution 2.8.2) and redis-server (the shared result cache's tests and bench:replicas) come
# from apt: installed when missing if we are root; otherwise the command to run is printed and the script exits
# non-zero.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The Go toolchain is usually in /usr/local/go/bin, which a minimal PATH may lack.
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
  PATH="/usr/local/go/bin:$PATH"
fi
BIN="${VOUCH_TOOLS_BIN:-$ROOT/.tools/bin}"
LOGDIR="$(dirname "$BIN")/log"

# name|module dir (under tools/)|package to build|module whose version is the pin|extra -ldflags ({V} = version)
# (the ldflags set the version strings that the upstream release builds inject)
GO_TOOLS=(
  "olareg-serve|olareg-serve|.|github.com/olareg/olareg|"
  "notation|notation|github.com/notaryproject/notation/cmd/notation|github.com/notaryproject/notation|-X github.com/notaryproject/notation/internal/version.BuildMetadata="
  # pushes an image without a Docker engine in the README's walkthrough (test/e2e/readme-walkthrough.test.ts)
  "oras|oras|oras.land/oras/cmd/oras|oras.land/oras|-X oras.land/oras/internal/version.BuildMetadata="
  "opa|opa|github.com/open-policy-agent/opa|github.com/open-policy-agent/opa|"
  "regal|regal|github.com/styrainc/regal|github.com/styrainc/regal|-X github.com/styrainc/regal/pkg/version.Version={V}"
  "cosign|cosign|github.com/sigstore/cosign/v2/cmd/cosign|github.com/sigstore/cosign/v2|"
  "gator|gator|github.com/open-policy-agent/gatekeeper/v3/cmd/gator|github.com/open-policy-agent/gatekeeper/v3|-X github.com/open-policy-agent/gatekeeper/v3/pkg/version.Version={V}"
  "kustomize|kustomize|sigs.k8s.io/kustomize/kustomize/v5|sigs.k8s.io/kustomize/kustomize/v5|-X sigs.k8s.io/kustomize/api/provenance.version={V}"
  # vouch's own: Gatekeeper v3.20.1's rego driver, response cache and mutation system (test/gatekeeper)
  "gatekeeper-harness|gatekeeper-harness|.|github.com/open-policy-agent/gatekeeper/v3|"
  # renders and lints the Helm chart deploy/helm/vouch (test/deploy/helm.test.ts)
  "helm|helm|helm.sh/helm/v3/cmd/helm|helm.sh/helm/v3|-X helm.sh/helm/v3/internal/version.version={V}"
  # checks and unit-tests deploy/monitoring/prometheusrule.yaml's alerts (test/deploy/monitoring.test.ts)
  "promtool|promtool|github.com/prometheus/prometheus/cmd/promtool|github.com/prometheus/prometheus|-X github.com/prometheus/common/version.Version={V}"
  # validates every rendered manifest offline against Kubernetes' built-in schemas and the CRDs in .tools/crds
  # (test/deploy/schemas.test.ts)
  "kubectl-validate|kubectl-validate|sigs.k8s.io/kubectl-validate|sigs.k8s.io/kubectl-validate|"
  # generates prometheus-operator's CRDs from its API types for .tools/crds (see install_crds)
  "controller-gen|controller-gen|sigs.k8s.io/controller-tools/cmd/controller-gen|sigs.k8s.io/controller-tools|"
  # vouch's own: the Notary Project plugin "vouch-test" on the upstream plugin framework, for the plugin tests
  # (test/helpers/notation-plugin.ts installs it into a plugin directory)
  "notation-vouch-test|notation-vouch-test|.|github.com/notaryproject/notation-plugin-framework-go|"
)
ALL_NAMES=(olareg-serve notation oras opa regal cosign gator kustomize gatekeeper-harness helm promtool kubectl-validate controller-gen notation-vouch-test crds docker-registry redis-server)
# Tools installed from Debian packages (command name = package name), not built.
APT_TOOLS=(docker-registry redis-server)
is_apt_tool() { [[ " ${APT_TOOLS[*]} " == *" $1 "* ]]; }
# Rough guesses of cold-cache build times in seconds (empty Go module and build caches), for the plan only; a warm
# cache makes most builds a few seconds. Measured builds are written to .tools/bin/.<name>.seconds and used instead.
cold_estimate() {
  case "$1" in
    olareg-serve | notation-vouch-test) echo 30 ;;
    notation | oras | kustomize) echo 90 ;;
    helm) echo 180 ;;
    kubectl-validate) echo 240 ;;
    controller-gen) echo 120 ;;
    crds) echo 20 ;;
    opa | regal) echo 150 ;;
    cosign | gator | gatekeeper-harness) echo 300 ;;
    promtool) echo 480 ;;
    docker-registry | redis-server) echo 30 ;;
    *) echo 60 ;;
  esac
}

# --- CRDs (pseudo-tool "crds") ---------------------------------------------------------------------------------------
# The CustomResourceDefinitions that vouch's manifests use, for the offline schema validation of every rendered object
# (kubectl-validate --local-crds; test/deploy/schemas.test.ts), extracted at pinned versions into .tools/crds/
# (git-ignored, never committed):
#   gatekeeper/          Gatekeeper's CRDs (Provider, ConstraintTemplate, Assign, Config, SyncSet, ...) from the module
#                        zip of github.com/open-policy-agent/gatekeeper/v3 (charts/gatekeeper/crds/)
#   gatekeeper-match/    the schema of a Constraint's spec.match (config/crd/bases/match.gatekeeper.sh_matchcrd.yaml):
#                        a Constraint's CRD is generated from its ConstraintTemplate, and the test does the same
#   cert-manager/        Certificate, Issuer, ... from github.com/cert-manager/cert-manager (deploy/crds/)
#   prometheus-operator/ PrometheusRule, ServiceMonitor, ... generated by controller-gen from the API types of
#                        github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring, as upstream generates
#                        its example/prometheus-operator-crd/ (that module itself is not served by the proxy here)
# The module versions are pinned by tools/crds/go.mod + go.sum and tools/controller-gen/go.mod + go.sum; bump with
#   cd tools/crds && GOFLAGS=-mod=mod go get <module>@<exact version> && go mod tidy
# Bump CRD_RECIPE when the extraction below changes, so existing .tools/crds are redone.
CRD_RECIPE=1
CRDS="$(dirname "$BIN")/crds"

crds_stamp() {
  local gk cm mon cg
  gk="$(pinned_version crds github.com/open-policy-agent/gatekeeper/v3)"
  cm="$(pinned_version crds github.com/cert-manager/cert-manager)"
  mon="$(pinned_version controller-gen github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring)"
  cg="$(pinned_version controller-gen sigs.k8s.io/controller-tools)"
  printf 'gatekeeper@%s cert-manager@%s monitoring@%s controller-gen@%s recipe=%s src=%s\n' "$gk" "$cm" "$mon" "$cg" \
    "$CRD_RECIPE" "$(source_hash crds "$CRD_RECIPE")"
}

crds_state() {
  if [[ -f "$CRDS/.stamp" && "$(cat "$CRDS/.stamp")" == "$(crds_stamp)" ]]; then echo up-to-date; else echo build; fi
}

# The directory of module $1 (as pinned in tools/$2/go.mod), downloaded and checked against that module's go.sum.
module_dir() {
  (cd "$ROOT/tools/$2" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly go mod download -json "$1") |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p'
}

install_crds() {
  local stamp log tmp gk cm start=$SECONDS f
  stamp="$(crds_stamp)"
  if [[ -f "$CRDS/.stamp" && "$(cat "$CRDS/.stamp")" == "$stamp" ]]; then
    printf '%-16s %-12s up to date (%s)\n' crds "" "${CRDS#"$ROOT"/}"
    return 0
  fi
  if [[ "$(go_tool_state controller-gen)" != up-to-date ]]; then install_go_tool controller-gen || return 1; fi
  log="$LOGDIR/crds.log"
  tmp="$CRDS.tmp"
  rm -rf "$tmp"
  mkdir -p "$tmp/gatekeeper" "$tmp/gatekeeper-match" "$tmp/cert-manager" "$tmp/prometheus-operator"
  if {
    gk="$(module_dir github.com/open-policy-agent/gatekeeper/v3 crds)" && [[ -d "$gk/charts/gatekeeper/crds" ]] &&
      cp "$gk"/charts/gatekeeper/crds/*.yaml "$tmp/gatekeeper/" &&
      cp "$gk/config/crd/bases/match.gatekeeper.sh_matchcrd.yaml" "$tmp/gatekeeper-match/" &&
      cm="$(module_dir github.com/cert-manager/cert-manager crds)" && [[ -d "$cm/deploy/crds" ]] &&
      cp "$cm"/deploy/crds/*.yaml "$tmp/cert-manager/" &&
      (cd "$ROOT/tools/controller-gen" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly "$BIN/controller-gen" \
        crd:crdVersions=v1 paths=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1 \
        output:crd:dir="$tmp/prometheus-operator")
  } >"$log" 2>&1; then
    chmod -R u+w "$tmp" # files copied from the read-only module cache
    for f in gatekeeper/provider-customresourcedefinition.yaml gatekeeper/constrainttemplate-customresourcedefinition.yaml \
      cert-manager/cert-manager.io_certificates.yaml prometheus-operator/monitoring.coreos.com_prometheusrules.yaml; do
      if [[ ! -s "$tmp/$f" ]]; then
        printf '%-16s FAILED: %s was not extracted (log: %s)\n' crds "$f" "$log"
        return 1
      fi
    done
    printf '%s\n' "$stamp" >"$tmp/.stamp"
    rm -rf "$CRDS"
    mv "$tmp" "$CRDS"
    printf '%-16s %-12s extracted %s CRD files into %s in %s\n' crds "" \
      "$(find "$CRDS" -name '*.yaml' | wc -l)" "${CRDS#"$ROOT"/}" "$(fmt_secs $((SECONDS - start)))"
    return 0
  fi
  chmod -R u+w "$tmp" 2>/dev/null || true
  rm -rf "$tmp"
  printf '%-16s FAILED after %s (log: %s):\n' crds "$(fmt_secs $((SECONDS - start)))" "$log"
  tail -n 20 "$log" | sed 's/^/    /'
  return 1
}

usage() {
  echo "usage: bash scripts/tools.sh [--plan] [tool...]   (tools: ${ALL_NAMES[*]}; default: all)" >&2
}

go_tool_entry() { # prints the GO_TOOLS entry for $1, or nothing
  local e
  for e in "${GO_TOOLS[@]}"; do
    if [[ "${e%%|*}" == "$1" ]]; then
      printf '%s\n' "$e"
      return 0
    fi
  done
  return 1
}

# The pinned version of module $2 as written in tools/$1/go.mod (require line).
pinned_version() {
  awk -v m="$2" '
    $1 == "require" && $2 == m { print $3; exit }
    $1 == m && $2 ~ /^v/ { print $2; exit }
  ' "$ROOT/tools/$1/go.mod"
}

# A hash over the module's committed inputs and the build recipe ($2), so that editing go.mod/go.sum, the wrapper's
# source or this script's entry for the tool triggers a rebuild.
source_hash() {
  {
    printf '%s\n' "$2"
    (cd "$ROOT/tools/$1" && find . -maxdepth 1 -type f \( -name 'go.mod' -o -name 'go.sum' -o -name '*.go' \) -print \
      | LC_ALL=C sort | xargs sha256sum)
  } | sha256sum | cut -c1-16
}

fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# "up-to-date" when the tool's binary and stamp match its pin, else "build".
go_tool_state() {
  local name="$1" entry dir pkg mod ldflags version
  entry="$(go_tool_entry "$name")"
  IFS='|' read -r _ dir pkg mod ldflags <<<"$entry"
  version="$([[ -f "$ROOT/tools/$dir/go.mod" ]] && pinned_version "$dir" "$mod" || true)"
  if [[ -n "$version" && -x "$BIN/$name" && -f "$BIN/.$name.version" &&
        "$(cat "$BIN/.$name.version")" == "$mod@$version src=$(source_hash "$dir" "$entry")" ]]; then
    echo up-to-date
  else
    echo build
  fi
}

# Prints what this run will do before it does it, so a cold run that takes many minutes says so up front.
print_plan() {
  local n ready=() todo=() total=0 secs
  for n in "$@"; do
    if [[ "$n" == crds ]]; then
      if [[ "$(crds_state)" == up-to-date ]]; then ready+=("$n"); else todo+=("$n (~$(fmt_secs "$(cold_estimate "$n")"))"); total=$((total + $(cold_estimate "$n"))); fi
      continue
    fi
    if is_apt_tool "$n"; then
      if command -v "$n" >/dev/null 2>&1; then ready+=("$n"); else todo+=("$n (apt, ~$(fmt_secs "$(cold_estimate "$n")"))"); total=$((total + $(cold_estimate "$n"))); fi
      continue
    fi
    if [[ "$(go_tool_state "$n")" == up-to-date ]]; then
      ready+=("$n")
    else
      secs="$(cat "$BIN/.$n.seconds" 2>/dev/null || cold_estimate "$n")"
      todo+=("$n (~$(fmt_secs "$secs"))")
      total=$((total + secs))
    fi
  done
  if ((${#todo[@]} == 0)); then
    echo "tools.sh: plan: all ${#ready[@]} tool(s) up to date in ${BIN#"$ROOT"/}"
    return 0
  fi
  echo "tools.sh: plan: build ${#todo[@]} of $# tool(s) into ${BIN#"$ROOT"/}: ${todo[*]}"
  echo "tools.sh: plan: about $(fmt_secs "$total") on a cold Go build cache, much less on a warm one; logs in ${LOGDIR#"$ROOT"/}/"
  if ((${#ready[@]} > 0)); then echo "tools.sh: plan: up to date: ${ready[*]}"; fi
}

install_go_tool() {
  local name="$1" entry dir pkg mod ldflags version stamp_want stamp_file bin log start secs
  entry="$(go_tool_entry "$name")"
  IFS='|' read -r _ dir pkg mod ldflags <<<"$entry"
  if [[ ! -f "$ROOT/tools/$dir/go.mod" ]]; then
    printf '%-16s FAILED: tools/%s/go.mod is missing\n' "$name" "$dir"
    return 1
  fi
  version="$(pinned_version "$dir" "$mod")"
  if [[ -z "$version" ]]; then
    printf '%-16s FAILED: tools/%s/go.mod does not require %s\n' "$name" "$dir" "$mod"
    return 1
  fi
  ldflags="${ldflags//\{V\}/$version}"
  stamp_want="$mod@$version src=$(source_hash "$dir" "$entry")"
  stamp_file="$BIN/.$name.version"
  bin="$BIN/$name"
  if [[ -x "$bin" && -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp_want" ]]; then
    printf '%-16s %-12s up to date\n' "$name" "$version"
    return 0
  fi
  if ! command -v go >/dev/null 2>&1; then
    printf '%-16s FAILED: `go` is not on PATH (Go >= 1.26 is needed to build the pinned tools)\n' "$name"
    return 1
  fi
  log="$LOGDIR/$name.log"
  start=$SECONDS
  # -mod=readonly: the committed go.sum must be complete; the build never rewrites go.mod/go.sum.
  # GOTOOLCHAIN=local: never try to download another Go toolchain (not reachable from here).
  if (cd "$ROOT/tools/$dir" && GOTOOLCHAIN=local \
        go build -mod=readonly -trimpath -buildvcs=false -ldflags="-s -w $ldflags" -o "$bin.tmp" "$pkg") >"$log" 2>&1; then
    mv -f "$bin.tmp" "$bin"
    printf '%s\n' "$stamp_want" >"$stamp_file"
    secs=$((SECONDS - start))
    # A build that took a while is the next plan's estimate (after a bump, the cache is partly warm).
    if ((secs >= 10)); then printf '%s\n' "$secs" >"$BIN/.$name.seconds"; fi
    printf '%-16s %-12s built in %s\n' "$name" "$version" "$(fmt_secs "$secs")"
    return 0
  fi
  rm -f "$bin.tmp"
  printf '%-16s %-12s FAILED after %s (log: %s):\n' "$name" "$version" "$(fmt_secs $((SECONDS - start)))" "$log"
  tail -n 20 "$log" | sed 's/^/    /'
  return 1
}

# Installs Debian package $1, whose command has the same name, when it is not on PATH ($2 describes it).
install_apt_tool() {
  local name="$1" what="$2" path version
  if path="$(command -v "$name" 2>/dev/null)"; then
    version="$(dpkg-query -W -f='${Version}' "$name" 2>/dev/null || echo '?')"
    printf '%-16s %-12s present (%s)\n' "$name" "$version" "$path"
    return 0
  fi
  if [[ "$(id -u)" != 0 ]]; then
    printf '%-16s MISSING: run as root: apt-get update && apt-get install -y %s\n' "$name" "$name"
    return 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    printf '%-16s FAILED: not on PATH and apt-get is not available (install %s as %s)\n' "$name" "$what" "$name"
    return 1
  fi
  local log="$LOGDIR/$name.log" start=$SECONDS
  {
    # Refresh the package lists only when apt does not know the package yet.
    if ! apt-cache show "$name" >/dev/null 2>&1; then
      apt-get update
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$name"
  } >"$log" 2>&1 || {
    printf '%-16s FAILED: apt-get install -y %s (log: %s):\n' "$name" "$name" "$log"
    tail -n 20 "$log" | sed 's/^/    /'
    return 1
  }
  if ! path="$(command -v "$name" 2>/dev/null)"; then
    printf '%-16s FAILED: installed but not on PATH (log: %s)\n' "$name" "$log"
    return 1
  fi
  version="$(dpkg-query -W -f='${Version}' "$name" 2>/dev/null || echo '?')"
  printf '%-16s %-12s installed via apt in %s (%s)\n' "$name" "$version" "$(fmt_secs $((SECONDS - start)))" "$path"
}

main() {
  local names=() n plan_only=false
  if [[ "${1:-}" == --plan ]]; then
    plan_only=true
    shift
  fi
  if (($# == 0)); then
    names=("${ALL_NAMES[@]}")
  else
    for n in "$@"; do
      case "$n" in
        -h | --help) usage; return 0 ;;
      esac
      if [[ "$n" != crds ]] && ! is_apt_tool "$n" && ! go_tool_entry "$n" >/dev/null; then
        echo "tools.sh: unknown tool '$n'" >&2
        usage
        return 2
      fi
      names+=("$n")
    done
  fi

  print_plan "${names[@]}"
  if [[ "$plan_only" == true ]]; then return 0; fi

  mkdir -p "$BIN" "$LOGDIR"
  # Serialise concurrent runs (e.g. two `npm test` in parallel) so they do not build into the same paths.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$(dirname "$BIN")/.lock"
    flock 9
  fi

  local failed=()
  for n in "${names[@]}"; do
    if [[ "$n" == docker-registry ]]; then
      install_apt_tool docker-registry 'CNCF distribution 2.8.2' || failed+=("$n")
    elif [[ "$n" == crds ]]; then
      install_crds || failed+=("$n")
    elif [[ "$n" == redis-server ]]; then
      install_apt_tool redis-server 'Redis 7 or Valkey' || failed+=("$n")
    else
      install_go_tool "$n" || failed+=("$n")
    fi
  done
  if ((${#failed[@]} > 0)); then
    echo "tools.sh: failed: ${failed[*]}" >&2
    return 1
  fi
}

main "$@"
