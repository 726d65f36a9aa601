# Tests of the VouchSignedImages template rule with Gatekeeper's input (input.review, input.parameters,
# data.inventory) and external_data mocked by a fake provider.
package vouchsignedimages_test

import data.vouchsignedimages

_api := "ghcr.io/acme/api@sha256:9b2e4c0d3f7a1b6e8d5c2a9f0e3b7d1c4a6f8e2b5d9c0a3f7e1b4d8c2a6f9e0b"

_params := {"exemptImages": ["registry.k8s.io/*"], "namespaceEnvironments": {"payments": "prod"}}

_input(obj, params) := {
	"review": {"kind": {"group": "", "version": "v1", "kind": obj.kind}, "namespace": "payments", "object": obj},
	"parameters": params,
}

_with(params) := object.union(_params, params)

_pod(containers) := {
	"apiVersion": "v1",
	"kind": "Pod",
	"metadata": {"name": "api", "namespace": "payments"},
	"spec": {"containers": [{"name": sprintf("c%d", [i]), "image": image} | some i, image in containers]},
}

_result(key, verified, reasons) := {
	"verified": verified,
	"environment": "prod",
	"reference": key,
	"digest": "sha256:9b2e4c0d3f7a1b6e8d5c2a9f0e3b7d1c4a6f8e2b5d9c0a3f7e1b4d8c2a6f9e0b",
	"signatures": [],
	"reasons": reasons,
}

# A fake vouch behind provider "vouch": the image name says what it answers; it answers exactly the
# keys it was sent, so a key the template did not send (or sent unprefixed) stays unanswered.
_fake_vouch(request) := {"responses": responses, "errors": errors, "status_code": 200, "system_error": ""} if {
	request.provider == "vouch"
	responses := [[key, _fake_value(key)] | some key in request.keys; not _fake_error(key)]
	errors := [[key, _fake_error(key)] | some key in request.keys; _fake_error(key)]
}

_unsigned_reasons := [{"code": "NO_SIGNATURE", "message": "no Notary Project signature refers to it"}]

_staging_signer := "CN=ci-staging,O=Acme"

_untrusted_reasons := [{
	"code": "UNTRUSTED_SIGNER",
	"message": "no signature from a signer trusted for environment prod: authenticity: ...",
	"check": "authenticity",
	"detail": sprintf("signer %q is not among the trusted identities of trust policy \"prod-images\"", [_staging_signer]),
}]

_fake_value(key) := _result(key, false, _unsigned_reasons) if {
	contains(key, "unsigned")
} else := object.union(
	_result(key, false, _untrusted_reasons),
	{"signatures": [{"signer": _staging_signer, "verified": false}]},
) if {
	contains(key, "staging-signed")
} else := "verified" if {
	contains(key, "malformed")
} else := _result(key, true, [])

_fake_error(key) := "REGISTRY_UNAVAILABLE: GET https://ghcr.io/v2/: connection refused" if contains(key, "unreachable")

_codes(violations) := {v.details.code | some v in violations}

test_verified_images_are_admitted if {
	violations := vouchsignedimages.violation with input as _input(_pod([_api, "ghcr.io/acme/proxy:1.0"]), _params)
		with external_data as _fake_vouch
	violations == set()
}

test_one_call_with_deduplicated_prefixed_keys if {
	pod := object.union(_pod([_api, "ghcr.io/acme/proxy:1.0", _api, "registry.k8s.io/pause:3.10"]), {"spec": {
		"initContainers": [{"name": "init", "image": "ghcr.io/acme/proxy:1.0"}],
		"ephemeralContainers": [{"name": "debug", "image": "ghcr.io/acme/debug:1"}],
	}})
	response := vouchsignedimages._response with input as _input(pod, _params)
		with external_data as _echo
	keys := [concat("", ["[prod]", _api]), "[prod]ghcr.io/acme/debug:1", "[prod]ghcr.io/acme/proxy:1.0"]
	response.request == {"provider": "vouch", "keys": keys}
}

_echo(request) := {"responses": [], "errors": [], "status_code": 200, "system_error": "", "request": request}

test_unsigned_image_is_denied_with_its_details if {
	violations := vouchsignedimages.violation with input as _input(_pod([_api, "ghcr.io/acme/unsigned:1"]), _params)
		with external_data as _fake_vouch
	violations == {{
		"msg": concat(" ", [
			"image \"ghcr.io/acme/unsigned:1\" in container \"c1\" is not allowed in environment \"prod\":",
			"it has no Notary Project signature. Sign it with a key trusted for this environment. (NO_SIGNATURE)",
		]),
		"details": {
			"image": "ghcr.io/acme/unsigned:1",
			"environment": "prod",
			"key": "[prod]ghcr.io/acme/unsigned:1",
			"code": "NO_SIGNATURE",
			"message": "no Notary Project signature refers to it",
			"undecided": false,
			"container": "c1",
			"path": "spec.containers[1].image",
			"signers": [],
			"signer_count": 0,
			"check": "",
			"detail": "no Notary Project signature refers to it",
			"advice": "Sign it with a key trusted for this environment.",
			"admin_advice": "A cluster admin can exempt the image in the constraint's exemptImages if it need not be signed.",
		},
	}}
}

test_untrusted_signer_is_named_in_the_message if {
	violations := vouchsignedimages.violation with input as _input(_pod(["ghcr.io/acme/staging-signed:1"]), _params)
		with external_data as _fake_vouch
	some v in violations
	v.details.signers == [_staging_signer]
	v.details.check == "authenticity"
	v.msg == concat(" ", [
		"image \"ghcr.io/acme/staging-signed:1\" in container \"c0\" is not allowed in environment \"prod\":",
		"it is signed by \"CN=ci-staging,O=Acme\", not by a signer trusted there.",
		"Have it signed with a key trusted for this environment. (UNTRUSTED_SIGNER)",
	])
}

test_provider_error_is_an_undecided_violation if {
	violations := vouchsignedimages.violation with input as _input(_pod(["ghcr.io/acme/unreachable:1"]), _params)
		with external_data as _fake_vouch
	some v in violations
	v.details.code == "REGISTRY_UNAVAILABLE"
	v.details.undecided == true
	startswith(v.msg, "vouch could not check image \"ghcr.io/acme/unreachable:1\" in container \"c0\" for environment")
	endswith(v.msg, "a cluster admin should check that vouch can reach the registry. (REGISTRY_UNAVAILABLE)")
}

test_malformed_value_is_denied if {
	violations := vouchsignedimages.violation with input as _input(_pod(["ghcr.io/acme/malformed:1"]), _params)
		with external_data as _fake_vouch
	_codes(violations) == {"NOT_VERIFIED"}
}

# Mocks are functions: `with external_data as <value>` fails in opa 1.22 with "unsupported built-in",
# because external_data is declared (rego/capabilities.json) but has no implementation to replace.

# What Gatekeeper's builtin returns when it cannot reach the provider (frameworks HandleError).
_gatekeeper_failure(request) := object.union(_failure, {"system_error": _send_failure}) if {
	request.provider == "vouch"
}

_failure := {"responses": null, "errors": null, "status_code": 500}

_send_failure := "failed to send external data request"

test_system_error_with_null_lists_denies_every_non_exempt_image if {
	pod := _pod([_api, "ghcr.io/acme/proxy:1.0", "registry.k8s.io/pause:3.10"])
	violations := vouchsignedimages.violation with input as _input(pod, _params)
		with external_data as _gatekeeper_failure
	{[v.details.image, v.details.code, v.details.message] | some v in violations} == {
		[_api, "SYSTEM_ERROR", _send_failure],
		["ghcr.io/acme/proxy:1.0", "SYSTEM_ERROR", _send_failure],
	}
}

# What vouch answers (through Gatekeeper's builtin) when one key is undecided for now: the other
# key, from Gatekeeper's cache or from vouch, is an item; the undecided one is named in systemError.
_partly_undecided(request) := {"responses": responses, "errors": [], "status_code": 200, "system_error": sys} if {
	request.provider == "vouch"
	responses := [[key, _result(_api, true, [])] | some key in request.keys; endswith(key, _api)]
	sys := json.marshal({"message": "vouch could not decide 1 key for now", "undecided": [{
		"key": "[prod]ghcr.io/acme/hung:1",
		"error": "DEADLINE_EXCEEDED: not decided within the request deadline",
	}]})
}

test_undecided_key_in_system_error_is_denied_and_the_others_decided if {
	violations := vouchsignedimages.violation with input as _input(_pod([_api, "ghcr.io/acme/hung:1"]), _params)
		with external_data as _partly_undecided
	{[v.details.image, v.details.code, v.details.undecided] | some v in violations} == {[
		"ghcr.io/acme/hung:1",
		"DEADLINE_EXCEEDED", true,
	]}
}

test_external_data_without_result_fails_closed if {
	# The fake answers only provider "vouch": for another provider the call is undefined.
	violations := vouchsignedimages.violation with input as _input(_pod([_api]), _with({"provider": "other"}))
		with external_data as _fake_vouch
	_codes(violations) == {"SYSTEM_ERROR"}
}

test_provider_parameter_names_the_provider if {
	response := vouchsignedimages._response with input as _input(_pod([_api]), _with({"provider": "vouch-staging"}))
		with external_data as _echo
	response.request.provider == "vouch-staging"
}

# status_code 0: Gatekeeper served every key from its cache and sent no request.
_cached(request) := {"responses": responses, "errors": [], "status_code": 0, "system_error": ""} if {
	responses := [[key, _result(_api, true, [])] | some key in request.keys]
}

_unanswered(request) := {"responses": [], "errors": [], "status_code": 200, "system_error": ""} if {
	request.provider == "vouch"
}

test_cached_answers_decide_like_fresh_ones if {
	violations := vouchsignedimages.violation with input as _input(_pod([_api]), _params)
		with external_data as _cached
	violations == set()
}

test_missing_answer_is_denied if {
	violations := vouchsignedimages.violation with input as _input(_pod([_api]), _params)
		with external_data as _unanswered
	_codes(violations) == {"NO_ANSWER"}
}

_conflicting(request) := [request]

_conflicting(request) := {"request": request}

test_exempt_images_only_make_no_call if {
	# Any call to _conflicting is an evaluation error, which fails this test.
	pod := _pod(["registry.k8s.io/pause:3.10", "registry.k8s.io/coredns/coredns:v1.11.1"])
	violations := vouchsignedimages.violation with input as _input(pod, _params)
		with external_data as _conflicting
	violations == set()
}

test_pod_without_containers_makes_no_call if {
	violations := vouchsignedimages.violation with input as _input({"kind": "Pod", "metadata": {"name": "x"}}, _params)
		with external_data as _conflicting
	violations == set()
}

test_deployment_images_come_from_its_template if {
	spec := {
		"initContainers": [{"name": "assets", "image": "ghcr.io/acme/unsigned-assets:3"}],
		"containers": [{"name": "web", "image": "ghcr.io/acme/web:3"}],
	}
	deployment := {"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"template": {"spec": spec}}}
	violations := vouchsignedimages.violation with input as _input(deployment, _params)
		with external_data as _fake_vouch
	{v.details.path | some v in violations} == {"spec.template.spec.initContainers[0].image"}
}

test_cronjob_images_come_from_its_job_template if {
	pod_spec := {"containers": [{"name": "report", "image": "ghcr.io/acme/unsigned-report:1"}]}
	job_spec := {"template": {"spec": pod_spec}}
	cronjob := {"kind": "CronJob", "metadata": {"name": "report"}, "spec": {"jobTemplate": {"spec": job_spec}}}
	violations := vouchsignedimages.violation with input as _input(cronjob, _params)
		with external_data as _fake_vouch
	{v.details.path | some v in violations} == {"spec.jobTemplate.spec.template.spec.containers[0].image"}
}

test_environment_by_namespace_name if {
	violations := vouchsignedimages.violation with input as _input(_pod(["ghcr.io/acme/unsigned:1"]), _params)
		with external_data as _fake_vouch
	{v.details.key | some v in violations} == {"[prod]ghcr.io/acme/unsigned:1"}
}

_inventory := {"cluster": {"v1": {"Namespace": {"team-a": {"metadata": {
	"name": "team-a",
	"labels": {"vouch.example.com/environment": "dev"},
}}}}}}

_team_a(params) := object.union(_input(_pod(["ghcr.io/acme/unsigned:1"]), params), {"review": {"namespace": "team-a"}})

test_environment_by_namespace_label_from_the_inventory if {
	params := _with({"environmentLabel": "vouch.example.com/environment", "environment": "staging"})
	violations := vouchsignedimages.violation with input as _team_a(params)
		with data.inventory as _inventory
		with external_data as _fake_vouch
	{v.details.key | some v in violations} == {"[dev]ghcr.io/acme/unsigned:1"}
}

test_environment_parameter_when_the_namespace_is_not_synced if {
	params := _with({"environmentLabel": "vouch.example.com/environment", "environment": "staging"})
	violations := vouchsignedimages.violation with input as _team_a(params)
		with external_data as _fake_vouch
	{v.details.key | some v in violations} == {"[staging]ghcr.io/acme/unsigned:1"}
}

test_no_environment_means_unprefixed_keys if {
	violations := vouchsignedimages.violation with input as _team_a({})
		with external_data as _fake_vouch
	{[v.details.key, v.details.environment] | some v in violations} == {["ghcr.io/acme/unsigned:1", ""]}
	some v in violations
	contains(v.msg, "is not allowed in the default environment: it has no Notary Project signature.")
}

test_namespace_from_the_object_when_review_has_none if {
	review_input := object.remove(_input(_pod(["ghcr.io/acme/unsigned:1"]), _params), ["review"])
	object_only := object.union(review_input, {"review": {"object": _pod(["ghcr.io/acme/unsigned:1"])}})
	violations := vouchsignedimages.violation with input as object_only
		with external_data as _fake_vouch
	{v.details.environment | some v in violations} == {"prod"}
}

_mixed_pod := _pod(["ghcr.io/acme/unsigned:1", "ghcr.io/acme/unreachable:1", _api])

test_undecided_violation_by_default if {
	violations := vouchsignedimages.violation with input as _input(_mixed_pod, _params)
		with external_data as _fake_vouch
	_codes(violations) == {"NO_SIGNATURE", "REGISTRY_UNAVAILABLE"}
}

test_undecided_ignore if {
	violations := vouchsignedimages.violation with input as _input(_mixed_pod, _with({"undecided": "ignore"}))
		with external_data as _fake_vouch
	_codes(violations) == {"NO_SIGNATURE"}
}

test_undecided_only if {
	violations := vouchsignedimages.violation with input as _input(_mixed_pod, _with({"undecided": "only"}))
		with external_data as _fake_vouch
	_codes(violations) == {"REGISTRY_UNAVAILABLE"}
}

test_missing_parameters_fail_closed if {
	no_parameters := object.remove(_input(_pod(["ghcr.io/acme/unsigned:1"]), {}), ["parameters"])
	violations := vouchsignedimages.violation with input as no_parameters
		with external_data as _fake_vouch
	_codes(violations) == {"NO_SIGNATURE"}
}

test_object_without_metadata_still_fails_closed if {
	bare := {"review": {"object": {"kind": "Pod", "spec": {"containers": [{"name": "a", "image": "ghcr.io/acme/x:1"}]}}}}
	violations := vouchsignedimages.violation with input as bare
		with external_data as _unanswered
	{[v.details.key, v.details.code] | some v in violations} == {["ghcr.io/acme/x:1", "NO_ANSWER"]}
}
