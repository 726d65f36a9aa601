# Tests of lib.vouch's decision/5 (fixtures in vouch_test.rego, same package; messages: vouch_message_test.rego).
package lib.vouch_test

import data.lib.vouch

# --- decision/5 ----------------------------------------------------------------------------------

test_verified_image_has_no_finding if {
	_decide(_response([[_prod_api, _verified_result("prod", _api)]], [])) == set()
}

test_cached_answers_decide_like_fresh_ones if {
	# status_code 0: Gatekeeper served every key from its cache and sent no request.
	cached := object.union(_response([[_prod_api, _verified_result("prod", _api)]], []), {"status_code": 0})
	_decide(cached) == set()
	denied := _denied_result("prod", _api, "REVOKED", "certificate revoked")
	expected := _expected("REVOKED", "certificate revoked", false)
	_decide(object.union(_response([[_prod_api, denied]], []), {"status_code": 0})) == {expected}
}

test_not_verified_no_signature if {
	_definitive("NO_SIGNATURE", concat(" ", ["no Notary Project signature refers to", _digest]))
}

test_not_verified_invalid_signature if {
	_definitive("INVALID_SIGNATURE", "no valid signature for environment prod: integrity: bad bytes")
}

test_not_verified_untrusted_signer if {
	_definitive("UNTRUSTED_SIGNER", "no signature from a signer trusted for environment prod")
}

test_not_verified_expired if _definitive("EXPIRED", "no unexpired signature from a signer trusted for environment prod")

test_not_verified_revoked if _definitive("REVOKED", "a certificate of the chain is revoked")

test_not_verified_no_trust_policy if {
	_definitive("NO_TRUST_POLICY", "no trust policy statement applies to repository \"ghcr.io/acme/api\"")
}

test_not_verified_not_found if _definitive("NOT_FOUND", "manifest unknown")

test_undecided_invalid_reference if {
	_undecided("INVALID_REFERENCE", "\"ghcr.io/Acme/API\" is not a valid image reference")
}

test_undecided_unknown_environment if _undecided("UNKNOWN_ENVIRONMENT", "environment \"prod\" is not configured")

test_undecided_registry_unavailable if _undecided("REGISTRY_UNAVAILABLE", "GET https://ghcr.io/v2/: connection refused")

test_undecided_registry_auth if _undecided("REGISTRY_AUTH", "ghcr.io answered 401 to the configured credentials")

test_undecided_registry_not_allowed if _undecided("REGISTRY_NOT_ALLOWED", "registry ghcr.io is not allowed")

test_undecided_deadline_exceeded if {
	_undecided("DEADLINE_EXCEEDED", "not decided within the request deadline; retry shortly")
}

test_undecided_plugin_error if _undecided("PLUGIN_ERROR", "plugin com.example.kms: not installed in /opt/vouch/plugins")

test_undecided_error_without_a_code if {
	response := _response([], [[_prod_api, "upstream connect error"]])
	_decide(response) == {_expected("PROVIDER_ERROR", "upstream connect error", true)}
}

test_system_error_with_null_lists_makes_every_image_undecided if {
	response := {"responses": null, "errors": null, "status_code": 500, "system_error": "failed to send request"}
	images := {_api_image, _img("registry.k8s.io/pause:3.10", "pause", "containers", "spec.containers[1].image")}
	params := {"exemptImages": ["registry.k8s.io/*"]}
	expected := _expected("SYSTEM_ERROR", "failed to send request", true)
	vouch.decision(images, "prod", vouch.answers(response), vouch.system_error(response), params) == {expected}
}

test_system_error_overrides_answers if {
	response := object.union(_response([[_prod_api, _verified_result("prod", _api)]], []), {"system_error": "partial"})
	_decide(response) == {_expected("SYSTEM_ERROR", "partial", true)}
}

# vouch's /v1/verify leaves keys it could not decide for now out of the items (Gatekeeper caches
# every item) and names them in systemError, which Gatekeeper never caches.
_undecided_doc(entries) := json.marshal({"message": "vouch could not decide 1 key for now", "undecided": entries})

test_undecided_document_answers_the_keys_it_names if {
	sys := _undecided_doc([{"key": _prod_api, "error": "DEADLINE_EXCEEDED: not decided within the request deadline"}])
	response := object.union(_response([], []), {"system_error": sys})
	_decide(response) == {_expected("DEADLINE_EXCEEDED", "not decided within the request deadline", true)}
}

test_undecided_document_leaves_items_to_decide_the_other_keys if {
	other := "ghcr.io/acme/other:1"
	images := {_api_image, _img(other, "other", "initContainers", "spec.initContainers[0].image")}
	sys := _undecided_doc([{"key": "[prod]ghcr.io/acme/other:1", "error": "REGISTRY_UNAVAILABLE: connection refused"}])
	response := object.union(_response([[_prod_api, _verified_result("prod", _api)]], []), {"system_error": sys})
	findings := vouch.decision(images, "prod", vouch.answers(response), vouch.system_error(response), {})
	expected := [other, "REGISTRY_UNAVAILABLE", "connection refused", true]
	{[f.image, f.code, f.message, f.undecided] | some f in findings} == {expected}
}

test_undecided_document_wins_over_an_item_for_the_same_key if {
	sys := _undecided_doc([{"key": _prod_api, "error": "REGISTRY_UNAVAILABLE: connection refused"}])
	response := object.union(_response([[_prod_api, _verified_result("prod", _api)]], []), {"system_error": sys})
	_decide(response) == {_expected("REGISTRY_UNAVAILABLE", "connection refused", true)}
}

test_undecided_document_key_named_nowhere_is_no_answer if {
	sys := _undecided_doc([{"key": "[prod]ghcr.io/acme/other:1", "error": "DEADLINE_EXCEEDED: late"}])
	_decide(object.union(_response([], []), {"system_error": sys})) == {_expected(
		"NO_ANSWER",
		"the provider returned no answer for this key",
		true,
	)}
}

test_undecided_document_conflicting_entries_are_a_provider_error if {
	sys := _undecided_doc([
		{"key": _prod_api, "error": "DEADLINE_EXCEEDED: late"},
		{"key": _prod_api, "error": "REGISTRY_UNAVAILABLE: down"},
	])
	[f.code | some f in _decide(object.union(_response([], []), {"system_error": sys}))] == ["PROVIDER_ERROR"]
}

test_json_system_error_that_is_no_undecided_document_denies_every_key if {
	response := object.union(_response([[_prod_api, _verified_result("prod", _api)]], []), {"system_error": "{\"a\":1}"})
	_decide(response) == {_expected("SYSTEM_ERROR", "{\"a\":1}", true)}
}

test_missing_key_is_undecided if {
	response := _response([["[prod]ghcr.io/acme/other:1", _verified_result("prod", "ghcr.io/acme/other:1")]], [])
	_decide(response) == {_expected("NO_ANSWER", "the provider returned no answer for this key", true)}
}

test_answer_for_another_environment_does_not_count if {
	# A verdict for the bare key (vouch's defaultEnvironment) says nothing about prod.
	expected := _expected("NO_ANSWER", "the provider returned no answer for this key", true)
	_decide(_response([[_api, _verified_result("default", _api)]], [])) == {expected}
}

test_malformed_values_fail_closed if {
	every value in [
		"verified",
		null,
		{"verified": "true"},
		{"verified": 1},
		{},
		{"verified": false},
		{"verified": false, "reasons": []},
		{"verified": false, "reasons": [{"code": ""}]},
	] {
		some finding in _decide(_response([[_prod_api, value]], []))
		finding.code == "NOT_VERIFIED"
		finding.undecided == false
	}
}

test_malformed_answers_fail_closed if {
	count(vouch.decision({_api_image}, "prod", "not an object", "", {})) == 1
	count(vouch.decision({_api_image}, "prod", {_prod_api: "junk"}, "", {})) == 1
	count(vouch.decision({_api_image}, "prod", {_prod_api: {"error": "text"}}, "", {})) == 1
	count(vouch.decision({_api_image}, "prod", {}, null, null)) == 1
}

test_exempt_images_have_no_findings if {
	params := {"exemptImages": ["ghcr.io/acme/*"]}
	vouch.decision({_api_image}, "prod", {}, "", params) == set()
	vouch.decision({_api_image}, "prod", {}, "provider down", params) == set()
}

test_image_strings_are_accepted if {
	findings := vouch.decision([_api], "prod", {}, "", {})
	findings == {{
		"image": _api, "environment": "prod", "key": _prod_api, "code": "NO_ANSWER",
		"message": "the provider returned no answer for this key", "undecided": true, "container": "", "path": "",
	}}
}

_mixed := vouch.answers(_response(
	[[_prod_api, _denied_result("prod", _api, "NO_SIGNATURE", "unsigned")]],
	[["[prod]ghcr.io/acme/worker:1.4.2", "REGISTRY_UNAVAILABLE: connection refused"]],
))

_mixed_images := {_api_image, _img("ghcr.io/acme/worker:1.4.2", "worker", "containers", "spec.containers[1].image")}

test_undecided_default_is_violation if {
	count(vouch.decision(_mixed_images, "prod", _mixed, "", {})) == 2
	count(vouch.decision(_mixed_images, "prod", _mixed, "", {"undecided": "violation"})) == 2
	count(vouch.decision(_mixed_images, "prod", _mixed, "", {"undecided": null})) == 2
	count(vouch.decision(_mixed_images, "prod", _mixed, "", {"undecided": "Ignore"})) == 2
}

test_undecided_ignore_drops_undecided_findings if {
	findings := vouch.decision(_mixed_images, "prod", _mixed, "", {"undecided": "ignore"})
	{f.code | some f in findings} == {"NO_SIGNATURE"}
}

test_undecided_only_keeps_undecided_findings if {
	findings := vouch.decision(_mixed_images, "prod", _mixed, "", {"undecided": "only"})
	{f.code | some f in findings} == {"REGISTRY_UNAVAILABLE"}
}
