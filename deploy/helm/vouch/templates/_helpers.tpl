{{/* Resource name prefix: vouch unless fullnameOverride. */}}
{{- define "vouch.fullname" -}}
{{- default "vouch" .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object; selectors use vouch.selectorLabels only (they must never change). */}}
{{- define "vouch.labels" -}}
app.kubernetes.io/name: vouch
app.kubernetes.io/part-of: vouch
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "vouch.selectorLabels" -}}
app.kubernetes.io/name: vouch
app.kubernetes.io/component: provider
{{- end -}}

{{- define "vouch.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}
{{- end -}}

{{/* The Service's DNS name, which the Providers call and the serving certificate covers. */}}
{{- define "vouch.serviceHost" -}}
{{ include "vouch.fullname" . }}.{{ .Release.Namespace }}.svc
{{- end -}}

{{/*
The trust stores each environment mounts, as JSON {env: ["ca:prod", …]}: `trustStores` of the environment,
else every trustStores entry of its inline trust policy (Notary Project trust policy, "trustStores": "type:name",
https://github.com/notaryproject/specifications/blob/v1.1.0/specs/trust-store-trust-policy.md#trust-policy).
*/}}
{{- define "vouch.envStores" -}}
{{- $out := dict -}}
{{- range $env, $e := .Values.environments -}}
{{- $stores := list -}}
{{- if hasKey $e "trustStores" -}}
{{- $stores = $e.trustStores -}}
{{- else if $e.trustPolicy -}}
{{- range $p := ($e.trustPolicy.trustPolicies | default list) -}}
{{- range $s := ($p.trustStores | default list) -}}
{{- $stores = append $stores $s -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $s := $stores -}}
{{- $parts := splitList ":" $s -}}
{{- if ne (len $parts) 2 -}}
{{- fail (printf "environments.%s: trust store %q is not <type>:<name>" $env $s) -}}
{{- end -}}
{{- if not (hasKey $.Values.trustStores (index $parts 1)) -}}
{{- fail (printf "environments.%s: trust store %q is not defined under trustStores" $env $s) -}}
{{- end -}}
{{- $ts := index $.Values.trustStores (index $parts 1) -}}
{{- if ne (index $parts 0) ($ts.type | default "ca") -}}
{{- fail (printf "environments.%s: trust store %q, but trustStores.%s.type is %s" $env $s (index $parts 1) ($ts.type | default "ca")) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $out $env (uniq $stores) -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* Where environment $env's trust policy file is, inside the pod. */}}
{{- define "vouch.policyPath" -}}
{{- $e := index .root.Values.environments .env -}}
{{- if $e.trustPolicyConfigMap -}}
/etc/vouch/trustpolicies/{{ .env }}/{{ $e.trustPolicyConfigMap.key }}
{{- else -}}
/etc/vouch/config/trustpolicy.{{ .env }}.json
{{- end -}}
{{- end -}}

{{/* Environment variable name holding the password of registry host $host. */}}
{{- define "vouch.registryEnv" -}}
VOUCH_REGISTRY_{{ regexReplaceAll "[^A-Z0-9]" (upper .) "_" }}_PASSWORD
{{- end -}}

{{/*
vouch's configuration file (docs/vouch.schema.json): `config` from values plus what the chart owns:
listeners (fixed ports, matching the container ports), TLS file paths (the mounted Secrets),
environments (trust policy and trust store paths), registry credentials and cache.shared.
*/}}
{{- define "vouch.config" -}}
{{- $c := deepCopy (.Values.config | default dict) -}}
{{- if not .Values.environments -}}
{{- fail "environments: at least one environment is needed (name → trustPolicy or trustPolicyConfigMap)" -}}
{{- end -}}
{{- $server := $c.server | default dict -}}
{{- $_ := set $server "address" "0.0.0.0:8443" -}}
{{- $_ := set $server "grpcAddress" "0.0.0.0:9443" -}}
{{- $_ := set $server "healthAddress" "0.0.0.0:8080" -}}
{{- $_ := set $server "tls" (dict "certFile" "/etc/vouch/tls/tls.crt" "keyFile" "/etc/vouch/tls/tls.key" "clientCAFile" "/etc/vouch/gatekeeper-ca/ca.crt") -}}
{{- $_ := set $c "server" $server -}}
{{- $envs := dict -}}
{{- range $env, $e := .Values.environments -}}
{{- if and $e.trustPolicy $e.trustPolicyConfigMap -}}
{{- fail (printf "environments.%s: give trustPolicy or trustPolicyConfigMap, not both" $env) -}}
{{- end -}}
{{- if not (or $e.trustPolicy $e.trustPolicyConfigMap) -}}
{{- fail (printf "environments.%s: trustPolicy or trustPolicyConfigMap is needed" $env) -}}
{{- end -}}
{{- $_ := set $envs $env (dict "trustPolicy" (include "vouch.policyPath" (dict "root" $ "env" $env)) "trustStore" (printf "/etc/vouch/truststores/%s" $env)) -}}
{{- end -}}
{{- $_ := set $c "environments" $envs -}}
{{- $default := .Values.defaultEnvironment -}}
{{- if and (not $default) (eq (len .Values.environments) 1) -}}
{{- $default = first (keys .Values.environments) -}}
{{- end -}}
{{- if $default -}}
{{- if not (hasKey .Values.environments $default) -}}
{{- fail (printf "defaultEnvironment: %q is not one of environments" $default) -}}
{{- end -}}
{{- $_ := set $c "defaultEnvironment" $default -}}
{{- else if gt (len .Values.environments) 1 -}}
{{- fail (printf "defaultEnvironment: required when more than one environment is configured (one of: %s)" (keys .Values.environments | sortAlpha | join ", ")) -}}
{{- end -}}
{{- if .Values.registryCredentials -}}
{{- $regs := $c.registries | default dict -}}
{{- range $host, $r := .Values.registryCredentials -}}
{{- $reg := get $regs $host | default dict -}}
{{- $_ := set $reg "username" $r.username -}}
{{- $_ := set $reg "passwordFromEnv" (include "vouch.registryEnv" $host) -}}
{{- $_ := set $regs $host $reg -}}
{{- end -}}
{{- $_ := set $c "registries" $regs -}}
{{- end -}}
{{- if .Values.sharedCache.enabled -}}
{{- $cache := $c.cache | default dict -}}
{{- $shared := deepCopy (.Values.sharedCache.config | default dict) -}}
{{- $_ := set $shared "keyFile" (printf "/etc/vouch/shared-cache/%s" .Values.sharedCache.hmacKey) -}}
{{- if .Values.sharedCache.passwordKey -}}
{{- $_ := set $shared "passwordFile" (printf "/etc/vouch/shared-cache/%s" .Values.sharedCache.passwordKey) -}}
{{- end -}}
{{- $_ := set $cache "shared" $shared -}}
{{- $_ := set $c "cache" $cache -}}
{{- end -}}
{{- toYaml $c -}}
{{- end -}}

{{/* Base64 PEM for the Providers' caBundle: tls.caBundle, else ca.crt of the TLS Secret (lookup), else empty. */}}
{{- define "vouch.caBundle" -}}
{{- if .Values.tls.caBundle -}}
{{- .Values.tls.caBundle | b64enc -}}
{{- else -}}
{{- $secret := lookup "v1" "Secret" .Release.Namespace .Values.tls.secretName -}}
{{- if and $secret $secret.data (hasKey $secret.data "ca.crt") -}}
{{- index $secret.data "ca.crt" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Namespaces constraints and mutators never touch: vouch must not depend on itself, nor Gatekeeper on vouch. */}}
{{- define "vouch.excludedNamespaces" -}}
{{- toJson (uniq (concat .list (list .root.Values.gatekeeperNamespace .root.Release.Namespace))) -}}
{{- end -}}
