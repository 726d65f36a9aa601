package vouch.http_test

import data.vouch.http as vouch_http

_settings := {"url": "https://vouch.example:8443/", "tls_ca_cert_file": "/etc/vouch/ca.crt", "ignored": true}

_pod := {
	"apiVersion": "v1",
	"kind": "Pod",
	"metadata": {"name": "p", "namespace": "shop"},
	"spec": {"containers": [
		{"name": "signed", "image": "registry.example/app:1"},
		{"name": "unsigned", "image": "registry.example/tool:1"},
		{"name": "exempt", "image": "registry.example/debug/sh:1"},
	]},
}

_params := {"namespaceEnvironments": {"shop": "prod"}, "exemptImages": ["registry.example/debug/*"]}

_value(image, verified, code) := {
	"verified": verified,
	"environment": "prod",
	"reference": image,
	"signatures": [],
	"reasons": [{"code": code, "message": "no signature was found"} | not verified],
}

# A /v1/verify that answers each key, checking the request it got on the way.
_mock_send(request) := {"status_code": 200, "body": {"response": {"items": [
	{"key": "[prod]registry.example/app:1", "value": _value("registry.example/app:1", true, "")},
	{"key": "[prod]registry.example/tool:1", "value": _value("registry.example/tool:1", false, "NO_SIGNATURE")},
]}}} if {
	request.method == "POST"
	request.url == "https://vouch.example:8443/v1/verify"
	request.tls_ca_cert_file == "/etc/vouch/ca.crt"
	not request.ignored
	request.raise_error == false
	request.body.kind == "ProviderRequest"
	request.body.request.keys == ["[prod]registry.example/app:1", "[prod]registry.example/tool:1"]
}

_mock_down(request) := {
	"status_code": 0,
	"error": {"code": "eval_http_send_network_error", "message": "connection refused"},
} if {
	request.method == "POST"
}

_mock_undecided(request) := {"status_code": 200, "body": {"response": {
	"items": [{"key": "[prod]registry.example/app:1", "value": _value("registry.example/app:1", true, "")}],
	"systemError": json.marshal({
		"message": "1 key undecided",
		"undecided": [{"key": "[prod]registry.example/tool:1", "error": "REGISTRY_UNAVAILABLE: connection refused"}],
	}),
}}} if {
	request.method == "POST"
}

test_one_violation_for_the_unsigned_image if {
	violations := vouch_http.violations(_settings, _pod, _params, "shop") with http.send as _mock_send
	count(violations) == 1
	some v in violations
	v.details.image == "registry.example/tool:1"
	v.details.container == "unsigned"
	v.details.code == "NO_SIGNATURE"
	v.details.environment == "prod"
	endswith(v.msg, "(NO_SIGNATURE)")
}

test_vouch_unreachable_denies_every_image if {
	violations := vouch_http.violations(_settings, _pod, _params, "shop") with http.send as _mock_down
	{v.details.image | some v in violations} == {"registry.example/app:1", "registry.example/tool:1"}
	every v in violations {
		v.details.code == "SYSTEM_ERROR"
		v.details.undecided == true
		contains(v.details.message, "connection refused")
	}
}

test_undecided_keys_in_system_error if {
	violations := vouch_http.violations(_settings, _pod, _params, "shop") with http.send as _mock_undecided
	count(violations) == 1
	some v in violations
	v.details.code == "REGISTRY_UNAVAILABLE"
	v.details.undecided == true
}

test_http_status_is_a_system_error if {
	reply := vouch_http.answers(_settings, {"k"}) with http.send as {"status_code": 503, "body": null}
	reply == {"by_key": {}, "system_error": "POST /v1/verify answered HTTP 503"}
}

# With no keys there is no call: a call would be a system error here.
test_no_keys_no_call if {
	reply := vouch_http.answers(_settings, set()) with http.send as _mock_down
	reply == {"by_key": {}, "system_error": ""}
	config_map := {"apiVersion": "v1", "kind": "ConfigMap"}
	no_images := vouch_http.violations(_settings, config_map, _params, "shop") with http.send as _mock_down
	no_images == set()
}

test_deny_reads_settings_from_data if {
	config := {"settings": _settings, "parameters": _params}

	# data.vouch_http is the caller's data document (a data.json), not a Rego package.
	# regal ignore:unresolved-reference
	msgs := vouch_http.deny with input as _pod with data.vouch_http as config with http.send as _mock_send
	count(msgs) == 1
	some msg in msgs
	contains(msg, "registry.example/tool:1")
}
