# METADATA
# title: vouch over http.send
# description: |
#   For OPA servers that are not Gatekeeper (the Docker authorization plugin, conftest, an OPA
#   sidecar): asks a running vouch about images with http.send, the way Gatekeeper's external_data
#   does (POST /v1/verify with a ProviderRequest, docs/api.md "ProviderResponse"), and decides with
#   lib.vouch's shared decision, so the findings and messages are the ones admission gives.
#   http.send: https://www.openpolicyagent.org/docs/latest/policy-reference/#http
package vouch.http

import data.lib.vouch

# http.send options a caller may set in settings besides url (OPA policy reference, http.send).
_send_options := {
	"timeout", "tls_ca_cert", "tls_ca_cert_file", "tls_client_cert", "tls_client_cert_file",
	"tls_client_key", "tls_client_key_file", "tls_server_name", "tls_insecure_skip_verify",
}

# METADATA
# description: |
#   Asks vouch at settings.url (https://host:port, or http:// on loopback) about keys (provider
#   keys, lib.vouch.key) in one POST /v1/verify; {"by_key", "system_error"}, by_key in the shape of
#   lib.vouch.answers_from_items. A failed call is a system error, so every image is undecided
#   and denied (fail closed), never "no violation".
answers(settings, keys) := {"by_key": {}, "system_error": ""} if {
	count(keys) == 0
} else := _answers(_send(settings, keys))

_send(settings, keys) := http.send(object.union(object.filter(settings, _send_options), {
	"method": "POST",
	"url": concat("", [trim_right(settings.url, "/"), "/v1/verify"]),
	"headers": {"content-type": "application/json"},
	"body": {
		"apiVersion": "externaldata.gatekeeper.sh/v1beta1",
		"kind": "ProviderRequest",
		"request": {"keys": sort({k | some k in keys})},
	},
	"raise_error": false,
}))

_answers(response) := {
	"by_key": vouch.answers_from_items(object.get(response.body.response, "items", [])),
	"system_error": object.get(response.body.response, "systemError", ""),
} if {
	response.status_code == 200
	is_object(response.body.response)
} else := {"by_key": {}, "system_error": _failure(response)}

_failure(response) := sprintf("POST /v1/verify failed: %s", [response.error.message]) if {
	is_string(response.error.message)
} else := sprintf("POST /v1/verify answered HTTP %v", [object.get(response, "status_code", 0)])

# METADATA
# description: |
#   The violations for one Kubernetes object (a Pod or a workload): {"msg", "details"} per image
#   that is not admitted, exactly as the Gatekeeper template reports them. params are the
#   Constraint's parameters (environment, namespaceEnvironments, exemptImages, undecided);
#   namespace selects namespaceEnvironments.
violations(settings, obj, params, namespace) := {vouch.violation(finding, reply.by_key) |
	some finding in vouch.decision(imgs, env, reply.by_key, reply.system_error, params)
} if {
	imgs := vouch.images(obj)
	env := vouch.environment(params, namespace, {})
	reply := answers(settings, {vouch.key(env, img.image) |
		some img in imgs
		not vouch.exempt(params, img.image)
	})
}

# METADATA
# description: The msg of each violation, for hosts that deny with strings (conftest's deny).
messages(settings, obj, params, namespace) := {v.msg | some v in violations(settings, obj, params, namespace)}

# METADATA
# entrypoint: true
# description: |
#   Ready for conftest (`conftest test --namespace vouch.http`) and plain `opa eval`: the messages
#   for input, a Kubernetes object, with settings and parameters from data.vouch_http
#   ({"settings": {"url", ...}, "parameters": {...}, "namespace": "..."}, e.g. a data.json).
deny contains msg if {
	# The caller's data document (a data.json or a bundle), not a Rego package.
	# regal ignore:unresolved-reference
	config := data.vouch_http
	namespace := object.get(config, "namespace", object.get(object.get(input, "metadata", {}), "namespace", ""))
	some msg in messages(config.settings, input, object.get(config, "parameters", {}), namespace)
}
