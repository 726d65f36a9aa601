# Tests of vouch.decision's entrypoints with a host's input (object, parameters, namespace,
# namespaceLabels, responses, systemError). The parity of opa eval and the compiled WASM is
# test/rego/decision-parity.test.ts.
package vouch.decision_test

import data.vouch.decision

_api := "ghcr.io/acme/api:1.4"

_tool := "registry.k8s.io/pause:3.9"

_pod := {
	"apiVersion": "v1",
	"kind": "Pod",
	"metadata": {"name": "api", "namespace": "payments"},
	"spec": {
		"initContainers": [{"name": "init", "image": _tool}],
		"containers": [{"name": "app", "image": _api}],
	},
}

_params := {"namespaceEnvironments": {"payments": "prod"}}

_verified := {"verified": true, "environment": "prod", "signatures": [], "reasons": []}

_untrusted := {
	"verified": false,
	"signatures": [{"type": "notation", "verified": false, "signer": "CN=someone"}],
	"reasons": [{"code": "UNTRUSTED_SIGNER", "message": "no signature from a trusted signer"}],
}

test_keys_per_container_with_environment if {
	keys := decision.keys with input as {"object": _pod, "parameters": _params}
	keys == {
		{
			"image": _api, "container": "app", "kind": "containers", "path": "spec.containers[0].image",
			"key": "[prod]ghcr.io/acme/api:1.4", "environment": "prod",
		},
		{
			"image": _tool, "container": "init", "kind": "initContainers", "path": "spec.initContainers[0].image",
			"key": "[prod]registry.k8s.io/pause:3.9", "environment": "prod",
		},
	}
}

test_keys_leave_exempt_images_out if {
	params := object.union(_params, {"exemptImages": ["registry.k8s.io/*"]})
	keys := decision.keys with input as {"object": _pod, "parameters": params}
	{k.key | some k in keys} == {"[prod]ghcr.io/acme/api:1.4"}
}

test_environment_from_namespace_labels if {
	params := {"environmentLabel": "vouch.dev/env", "environment": "dev"}
	doc_in := {"object": _pod, "parameters": params, "namespace": "payments", "namespaceLabels": {"vouch.dev/env": "prod"}}
	keys := decision.keys with input as doc_in
	{k.environment | some k in keys} == {"prod"}
	fallback := decision.keys with input as object.remove(doc_in, ["namespaceLabels"])
	{k.environment | some k in fallback} == {"dev"}
}

test_input_namespace_wins_over_the_objects if {
	keys := decision.keys with input as {"object": _pod, "parameters": _params, "namespace": "other"}
	{k.key | some k in keys} == {_api, _tool}
}

test_no_object_no_keys_no_violations if {
	count(decision.keys) == 0 with input as {}
	count(decision.violations) == 0 with input as {"object": "not an object", "responses": []}
}

test_all_verified_no_violations if {
	responses := {"[prod]ghcr.io/acme/api:1.4": _verified, "[prod]registry.k8s.io/pause:3.9": _verified}
	count(decision.violations) == 0 with input as {"object": _pod, "parameters": _params, "responses": responses}
}

test_untrusted_and_missing_answer if {
	responses := {"[prod]ghcr.io/acme/api:1.4": _untrusted}
	violations := decision.violations with input as {"object": _pod, "parameters": _params, "responses": responses}
	{[v.details.image, v.details.code, v.details.undecided] | some v in violations} == {
		[_api, "UNTRUSTED_SIGNER", false],
		[_tool, "NO_ANSWER", true],
	}
	some v in violations
	v.details.code == "UNTRUSTED_SIGNER"
	v.msg == concat(" ", [
		"image \"ghcr.io/acme/api:1.4\" in container \"app\" is not allowed in environment \"prod\":",
		"it is signed by \"CN=someone\", not by a signer trusted there.",
		"Have it signed with a key trusted for this environment. (UNTRUSTED_SIGNER)",
	])
}

test_errors_as_grpc_objects_and_http_strings if {
	responses := {
		"[prod]ghcr.io/acme/api:1.4": {"verified": false, "error": {"code": "REGISTRY_UNAVAILABLE", "message": "refused"}},
		"[prod]registry.k8s.io/pause:3.9": {"error": "REGISTRY_NOT_ALLOWED: registry.k8s.io is not allowed"},
	}
	violations := decision.violations with input as {"object": _pod, "parameters": _params, "responses": responses}
	{[v.details.image, v.details.code, v.details.message] | some v in violations} == {
		[_api, "REGISTRY_UNAVAILABLE", "refused"],
		[_tool, "REGISTRY_NOT_ALLOWED", "registry.k8s.io is not allowed"],
	}
}

test_empty_grpc_error_is_no_error if {
	responses := {
		"[prod]ghcr.io/acme/api:1.4": object.union(_verified, {"error": {"code": "", "message": ""}}),
		"[prod]registry.k8s.io/pause:3.9": object.union(_verified, {"error": null}),
	}
	count(decision.violations) == 0 with input as {"object": _pod, "parameters": _params, "responses": responses}
}

test_unknown_error_code_is_a_provider_error if {
	responses := {"[prod]ghcr.io/acme/api:1.4": {"error": {"code": "WHATEVER", "message": "x"}}}
	params := object.union(_params, {"exemptImages": [_tool]})
	violations := decision.violations with input as {"object": _pod, "parameters": params, "responses": responses}
	{[v.details.code, v.details.message] | some v in violations} == {["PROVIDER_ERROR", "WHATEVER: x"]}
}

test_system_error_undecided_document if {
	undecided := [{"key": "[prod]ghcr.io/acme/api:1.4", "error": "DEADLINE_EXCEEDED: later"}]
	doc := json.marshal({"message": "m", "undecided": undecided})
	responses := {"[prod]registry.k8s.io/pause:3.9": _verified}
	doc_in := {"object": _pod, "parameters": _params, "responses": responses, "systemError": doc}
	violations := decision.violations with input as doc_in
	{[v.details.image, v.details.code] | some v in violations} == {[_api, "DEADLINE_EXCEEDED"]}
}

test_other_system_error_denies_every_image if {
	doc_in := {"object": _pod, "parameters": _params, "responses": {}, "systemError": "connection refused"}
	violations := decision.violations with input as doc_in
	{[v.details.image, v.details.code] | some v in violations} == {[_api, "SYSTEM_ERROR"], [_tool, "SYSTEM_ERROR"]}
}

test_malformed_responses_fail_closed if {
	doc_in := {"object": _pod, "parameters": _params, "responses": {"[prod]ghcr.io/acme/api:1.4": "yes", "x": 1}}
	violations := decision.violations with input as doc_in
	{[v.details.image, v.details.code] | some v in violations} == {[_api, "NOT_VERIFIED"], [_tool, "NO_ANSWER"]}
	not_an_object := decision.violations with input as object.union(doc_in, {"responses": [1, 2]})
	{v.details.code | some v in not_an_object} == {"NO_ANSWER"}
}

test_undecided_ignore_drops_errors if {
	params := object.union(_params, {"undecided": "ignore"})
	responses := {"[prod]ghcr.io/acme/api:1.4": _untrusted}
	violations := decision.violations with input as {"object": _pod, "parameters": params, "responses": responses}
	{v.details.image | some v in violations} == {_api}
}
