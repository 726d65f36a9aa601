# Tests of lib.vouch's messages (violation/2, message/1): the fields that build them, and one golden
# text per answer and error code (docs/api.md "Codes"), from a realistic answer through decision/5, as
# Gatekeeper's external_data returns it. A wording change fails here on purpose: review the text.
package lib.vouch_message_test

import data.lib.vouch

_image := "ghcr.io/acme/api:1.0"

_key := "[prod]ghcr.io/acme/api:1.0"

_api := {"image": _image, "container": "api", "kind": "containers", "path": "spec.containers[0].image"}

_ci := "CN=ci,O=Acme"

_staging := "CN=ci-staging,O=Acme"

_digest := "sha256:9b2e4c0d3f7a1b6e8d5c2a9f0e3b7d1c4a6f8e2b5d9c0a3f7e1b4d8c2a6f9e0b"

_signature(signer) := {
	"type": "notation",
	"digest": "sha256:4f1c8e2a9b3d7f0e6a5c1b8d2e9f3a7c0b4d6e8f1a2c3b5d7e9f0a1b2c3d4e5f",
	"verified": false,
	"trustPolicy": "prod-images",
	"level": "strict",
	"signer": signer,
	"reasons": [],
	"warnings": [],
}

# A denied VerificationResult whose first reason has `check` and `detail`, as vouch builds it.
_denied(signers, code, check, detail) := {
	"verified": false,
	"environment": "prod",
	"reference": concat("@", ["ghcr.io/acme/api", _digest]),
	"digest": _digest,
	"signatures": [_signature(s) | some s in signers],
	"reasons": [object.union(
		{"code": code, "message": sprintf("summary for environment prod: %s: %s", [check, detail]), "detail": detail},
		_check_field(check),
	)],
	"warnings": [],
}

_check_field("") := {}

_check_field(check) := {"check": check} if check != ""

_value(value) := {"responses": [[_key, value]], "errors": [], "status_code": 200, "system_error": ""}

_error(text) := {"responses": [], "errors": [[_key, text]], "status_code": 200, "system_error": ""}

# The violation for _api in prod, given Gatekeeper's external_data result.
_violation(response) := v if {
	answers := vouch.answers(response)
	findings := vouch.decision([_api], "prod", answers, vouch.system_error(response), {})
	count(findings) == 1
	some finding in findings
	v := vouch.violation(finding, answers)
}

_msg(response) := _violation(response).msg

_denied_in_prod := "image \"ghcr.io/acme/api:1.0\" in container \"api\" is not allowed in environment \"prod\": "

_undecided_in_prod := concat("", [
	"vouch could not check image \"ghcr.io/acme/api:1.0\" in container \"api\" ",
	"for environment \"prod\": ",
])

# --- golden texts, one per code ------------------------------------------------------------------

test_golden_no_signature if {
	detail := concat(" ", ["no Notary Project signature refers to", _digest])
	_msg(_value(_denied([], "NO_SIGNATURE", "", detail))) == concat("", [
		_denied_in_prod,
		"it has no Notary Project signature. Sign it with a key trusted for this environment. (NO_SIGNATURE)",
	])
}

test_golden_untrusted_signer if {
	detail := sprintf("signer %q is not among the trusted identities of trust policy \"prod-images\"", [_staging])
	_msg(_value(_denied([_staging, _staging], "UNTRUSTED_SIGNER", "authenticity", detail))) == concat("", [
		_denied_in_prod,
		"it is signed by \"CN=ci-staging,O=Acme\", not by a signer trusted there. ",
		"Have it signed with a key trusted for this environment. (UNTRUSTED_SIGNER)",
	])
}

test_golden_untrusted_signer_without_a_readable_signer if {
	value := object.union(
		_denied([], "UNTRUSTED_SIGNER", "authenticity", "the signature's certificate chain contains no trusted certificate"),
		{"signatures": [object.remove(_signature(""), ["signer"])]},
	)
	_msg(_value(value)) == concat("", [
		_denied_in_prod,
		"none of its signatures is from a signer trusted there. ",
		"Have it signed with a key trusted for this environment. (UNTRUSTED_SIGNER)",
	])
}

test_golden_invalid_signature if {
	detail := "the signature does not verify with the signing certificate key"
	_msg(_value(_denied([_ci], "INVALID_SIGNATURE", "integrity", detail))) == concat("", [
		_denied_in_prod,
		"its signature is not valid: the signature does not verify with the signing certificate key; ",
		"it is signed by \"CN=ci,O=Acme\". ",
		"Sign it again (the signature must be made for this image's digest). (INVALID_SIGNATURE)",
	])
}

test_golden_invalid_signature_without_a_required_timestamp if {
	detail := "no timestamp countersignature was found in the signature envelope"
	_msg(_value(_denied([_ci], "INVALID_SIGNATURE", "authenticTimestamp", detail))) == concat("", [
		_denied_in_prod,
		"its signature is not valid: no timestamp countersignature was found in the signature envelope; ",
		"it is signed by \"CN=ci,O=Acme\". ",
		"Sign it again with a timestamp from a TSA trusted for this environment. (INVALID_SIGNATURE)",
	])
}

test_golden_expired_signature if {
	detail := "the signature expired at 2026-02-02T00:00:00.000Z"
	_msg(_value(_denied([_ci], "EXPIRED", "expiry", detail))) == concat("", [
		_denied_in_prod,
		"its signature has passed the expiry its signer set: the signature expired at 2026-02-02T00:00:00.000Z; ",
		"it is signed by \"CN=ci,O=Acme\". ",
		"Sign it again, with a later expiry or none. (EXPIRED)",
	])
}

test_golden_expired_certificate if {
	detail := sprintf("certificate %q expired at 2026-06-01T00:00:00.000Z", [_ci])
	_msg(_value(_denied([_ci], "EXPIRED", "authenticTimestamp", detail))) == concat("", [
		_denied_in_prod,
		"its signature is no longer valid: certificate \"CN=ci,O=Acme\" expired at 2026-06-01T00:00:00.000Z; ",
		"it is signed by \"CN=ci,O=Acme\". ",
		"Sign it again with a certificate that is valid now, or with a timestamp from a TSA trusted for this environment ",
		"so that the signature outlives the certificate. (EXPIRED)",
	])
}

test_golden_revoked if {
	detail := sprintf("signing certificate %q is revoked (since 2026-03-01T00:00:00.000Z)", [_ci])
	_msg(_value(_denied([_ci], "REVOKED", "revocation", detail))) == concat("", [
		_denied_in_prod,
		"its signature is no longer valid: ",
		"signing certificate \"CN=ci,O=Acme\" is revoked (since 2026-03-01T00:00:00.000Z); ",
		"it is signed by \"CN=ci,O=Acme\". ",
		"Sign it again with a certificate that is not revoked. (REVOKED)",
	])
}

test_golden_revoked_timestamp if {
	detail := "timestamping certificate \"CN=tsa,O=Acme\" is revoked"
	_msg(_value(_denied([_ci], "REVOKED", "authenticTimestamp", detail))) == concat("", [
		_denied_in_prod,
		"its signature is no longer valid: timestamping certificate \"CN=tsa,O=Acme\" is revoked; ",
		"it is signed by \"CN=ci,O=Acme\". ",
		"Sign it again with a timestamp from a TSA whose certificate is not revoked. (REVOKED)",
	])
}

test_golden_no_trust_policy if {
	detail := "no trust policy statement applies to repository \"ghcr.io/acme/api\""
	_msg(_value(_denied([], "NO_TRUST_POLICY", "", detail))) == concat("", [
		_denied_in_prod,
		"no trust policy there covers its repository. ",
		"Use an image from a repository this environment trusts, or ask a cluster admin to add one. (NO_TRUST_POLICY)",
	])
}

test_golden_not_found if {
	_msg(_value(_denied([], "NOT_FOUND", "", "manifest 1.0: not found"))) == concat("", [
		_denied_in_prod,
		"the registry has no such image: manifest 1.0: not found. Check the repository, tag and digest. (NOT_FOUND)",
	])
}

test_golden_policy_denied if {
	detail := "signed by 1 distinct signer, 2 required"
	_msg(_value(_denied([_ci], "POLICY_DENIED", "", detail))) == concat("", [
		_denied_in_prod,
		"the environment's decision policy denies it: signed by 1 distinct signer, 2 required. ",
		"Give the image what the environment's policy asks for (signatures, attached artifacts). (POLICY_DENIED)",
	])
}

test_golden_not_verified if {
	_msg(_value("verified")) == concat("", [
		_denied_in_prod,
		"vouch's answer does not say it is verified. Sign it with a key trusted for this environment. (NOT_VERIFIED)",
	])
}

test_golden_invalid_reference if {
	# vouch quotes the key it was sent; the message names the image instead.
	_msg(_error(sprintf("INVALID_REFERENCE: reference %q: tag is longer than 128 characters", [_key]))) == concat("", [
		_denied_in_prod,
		"it is not a valid image reference: reference \"ghcr.io/acme/api:1.0\": tag is longer than 128 characters. ",
		"Fix the image reference. (INVALID_REFERENCE)",
	])
}

test_golden_unknown_environment if {
	_msg(_error(sprintf("UNKNOWN_ENVIRONMENT: environment \"prod\" of key %q is not configured", [_key]))) == concat("", [
		_denied_in_prod,
		"vouch has no such environment. This is not a verdict on the image; retrying will not help. ",
		"A cluster admin should configure the environment in vouch or fix the constraint's environment mapping. ",
		"(UNKNOWN_ENVIRONMENT)",
	])
}

test_golden_registry_unavailable if {
	text := "REGISTRY_UNAVAILABLE: manifest 1.0: cannot reach https://ghcr.io/v2/acme/api/manifests/1.0: ECONNREFUSED"
	_msg(_error(text)) == concat("", [
		_undecided_in_prod,
		"its registry could not be reached: ",
		"manifest 1.0: cannot reach https://ghcr.io/v2/acme/api/manifests/1.0: ECONNREFUSED. ",
		"This is not a verdict on the image; retry shortly. ",
		"If it persists, a cluster admin should check that vouch can reach the registry. (REGISTRY_UNAVAILABLE)",
	])
}

test_golden_registry_auth if {
	_msg(_error("REGISTRY_AUTH: registry ghcr.io refused the credentials (401)")) == concat("", [
		_undecided_in_prod,
		"its registry refused vouch access (credentials missing or refused): ",
		"registry ghcr.io refused the credentials (401). ",
		"This is not a verdict on the image; retry later. ",
		"If it persists, a cluster admin should fix the registry's credentials in vouch's configuration. (REGISTRY_AUTH)",
	])
}

test_golden_registry_not_allowed if {
	_msg(_error("REGISTRY_NOT_ALLOWED: registry ghcr.io is not in registries")) == concat("", [
		_denied_in_prod,
		"vouch is not allowed to contact its registry. Use an image from a registry vouch may contact. ",
		"A cluster admin can allow the registry in vouch's configuration if it should be. (REGISTRY_NOT_ALLOWED)",
	])
}

test_golden_deadline_exceeded if {
	text := "DEADLINE_EXCEEDED: not decided within the request deadline; the work continues in the background"
	_msg(_error(text)) == concat("", [
		_undecided_in_prod,
		"vouch did not finish in time and goes on checking in the background. ",
		"This is not a verdict on the image; retry shortly. ",
		"If it persists, a cluster admin should check the registry's latency and vouch's timeouts. (DEADLINE_EXCEEDED)",
	])
}

test_golden_policy_error if {
	text := "POLICY_ERROR: policy /etc/vouch/prod.rego: evaluation did not finish within 250 ms"
	_msg(_error(text)) == concat("", [
		_undecided_in_prod,
		"the environment's decision policy could not be evaluated: ",
		"policy /etc/vouch/prod.rego: evaluation did not finish within 250 ms. ",
		"This is not a verdict on the image; retry shortly. ",
		"If it persists, a cluster admin should check the environment's decision policy and vouch's logs. (POLICY_ERROR)",
	])
}

test_golden_plugin_error if {
	text := "PLUGIN_ERROR: plugin com.example.kms: verify-signature did not answer within 750 ms"
	_msg(_error(text)) == concat("", [
		_undecided_in_prod,
		"a Notary Project plugin its signature needs gave no usable answer: ",
		"plugin com.example.kms: verify-signature did not answer within 750 ms. ",
		"This is not a verdict on the image; retry shortly. ",
		"If it persists, a cluster admin should check the plugin the message names ",
		"(plugins: in vouch's configuration) and vouch's logs. (PLUGIN_ERROR)",
	])
}

test_golden_system_error if {
	response := {
		"responses": null, "errors": null, "status_code": 500,
		"system_error": "failed to send external data request",
	}
	_msg(response) == concat("", [
		_undecided_in_prod,
		"the call to vouch failed: failed to send external data request. ",
		"This is not a verdict on the image; retry shortly. ",
		"If it persists, a cluster admin should check the Provider resource and vouch's health. (SYSTEM_ERROR)",
	])
}

test_golden_no_answer if {
	_msg({"responses": [], "errors": [], "status_code": 200, "system_error": ""}) == concat("", [
		_undecided_in_prod,
		"vouch returned no answer for it. This is not a verdict on the image; retrying will not help. ",
		"A cluster admin should check the constraint's provider name. (NO_ANSWER)",
	])
}

test_golden_provider_error if {
	_msg(_error("connection reset by peer")) == concat("", [
		_undecided_in_prod,
		"vouch's answer could not be read: connection reset by peer. ",
		"This is not a verdict on the image; retry shortly. ",
		"If it persists, a cluster admin should check vouch's logs. (PROVIDER_ERROR)",
	])
}

test_golden_internal if {
	_msg(_error("INTERNAL: internal error: trust store read failed")) == concat("", [
		_undecided_in_prod,
		"vouch failed: internal error: trust store read failed. ",
		"This is not a verdict on the image; retry shortly. ",
		"If it persists, a cluster admin should check vouch's logs. (INTERNAL)",
	])
}

test_golden_a_code_this_library_does_not_know if {
	_msg(_value(_denied([], "SOMETHING_NEW", "", "a reason from a newer vouch"))) == concat("", [
		_denied_in_prod,
		"a reason from a newer vouch. Show this message to a cluster admin. (SOMETHING_NEW)",
	])
}

# --- the fields that build the message -----------------------------------------------------------

test_details_are_the_finding_plus_what_the_message_is_built_from if {
	detail := sprintf("signer %q is not among the trusted identities of trust policy \"prod-images\"", [_staging])
	v := _violation(_value(_denied([_staging], "UNTRUSTED_SIGNER", "authenticity", detail)))
	object.filter(v.details, ["image", "environment", "key", "code", "undecided", "container", "path"]) == {
		"image": _image, "environment": "prod", "key": _key, "code": "UNTRUSTED_SIGNER", "undecided": false,
		"container": "api", "path": "spec.containers[0].image",
	}
	v.details.signers == [_staging]
	v.details.signer_count == 1
	v.details.check == "authenticity"
	v.details.detail == detail
	v.details.advice == "Have it signed with a key trusted for this environment."
	startswith(v.details.admin_advice, "If the signer should be trusted, a cluster admin can add its CA")
}

test_signers_are_deduplicated_sorted_and_capped if {
	signers := [sprintf("CN=s%02d", [i]) | some i in numbers.range(12, 1)]
	v := _violation(_value(_denied(array.concat(signers, signers), "UNTRUSTED_SIGNER", "authenticity", "d")))
	v.details.signer_count == 12
	v.details.signers == [sprintf("CN=s%02d", [i]) | some i in numbers.range(1, 10)]
	contains(v.msg, "it is signed by \"CN=s01\", \"CN=s02\", \"CN=s03\" and 9 more, not by a signer trusted there.")
}

test_two_and_three_signers if {
	two := _violation(_value(_denied(["CN=b", "CN=a"], "UNTRUSTED_SIGNER", "authenticity", "d")))
	contains(two.msg, "it is signed by \"CN=a\" and \"CN=b\", not")
	three := _violation(_value(_denied(["CN=c", "CN=b", "CN=a"], "UNTRUSTED_SIGNER", "authenticity", "d")))
	contains(three.msg, "it is signed by \"CN=a\", \"CN=b\" and \"CN=c\", not")
}

test_advice_follows_the_failed_check_not_only_the_code if {
	own := _violation(_value(_denied([_ci], "EXPIRED", "expiry", "d"))).details.advice
	own == "Sign it again, with a later expiry or none."
	not contains(own, "TSA")
	certificate := _violation(_value(_denied([_ci], "EXPIRED", "authenticTimestamp", "d"))).details.advice
	contains(certificate, "TSA")
}

test_an_answer_without_check_or_detail_uses_the_code_and_vouchs_message if {
	value := {"verified": false, "signatures": [], "reasons": [{"code": "EXPIRED", "message": "old vouch text."}]}
	v := _violation(_value(value))
	[v.details.check, v.details.detail] == ["", "old vouch text"]
	contains(v.msg, ": its signature is no longer valid: old vouch text. Sign it again with a certificate")
}

test_the_message_never_shows_the_provider_key if {
	every response in [
		_error(sprintf("UNKNOWN_ENVIRONMENT: environment \"prod\" of key %q is not configured", [_key])),
		_error(sprintf("INVALID_REFERENCE: reference %q is invalid", [_key])),
		_value(_denied([], "NOT_FOUND", "", sprintf("%s: not found", [_key]))),
	] {
		not contains(_msg(response), "[prod]")
	}
}

test_the_environment_is_named_once if {
	every response in [
		_value(_denied([_staging], "UNTRUSTED_SIGNER", "authenticity", "d")),
		_error("DEADLINE_EXCEEDED: not decided within the request deadline; the work continues in the background"),
	] {
		strings.count(_msg(response), "prod") == 1
	}
}

test_retry_is_advised_once if {
	msg := _msg(_error("DEADLINE_EXCEEDED: not decided within the request deadline; the work continues in the background"))
	strings.count(msg, "retry") == 1
}

test_admin_advice_reaches_the_message_only_when_undecided if {
	decided := _violation(_value(_denied([], "NO_SIGNATURE", "", "d")))
	decided.details.admin_advice != ""
	not contains(decided.msg, decided.details.admin_advice)
	not contains(decided.msg, "exemptImages")
	undecided := _violation(_error("REGISTRY_UNAVAILABLE: down"))
	endswith(undecided.msg, sprintf("%s (REGISTRY_UNAVAILABLE)", [undecided.details.admin_advice]))
}

test_init_and_ephemeral_containers_and_images_without_a_container if {
	finding := {
		"image": _image, "environment": "prod", "key": _key, "code": "NO_SIGNATURE", "message": "m",
		"undecided": false, "container": "setup", "path": "spec.template.spec.initContainers[0].image",
	}
	startswith(vouch.message(finding), "image \"ghcr.io/acme/api:1.0\" in init container \"setup\" is not allowed")
	ephemeral := object.union(finding, {"container": "debug", "path": "spec.ephemeralContainers[0].image"})
	startswith(vouch.message(ephemeral), "image \"ghcr.io/acme/api:1.0\" in ephemeral container \"debug\" is not")
	bare := object.union(finding, {"container": "", "path": ""})
	startswith(vouch.message(bare), "image \"ghcr.io/acme/api:1.0\" is not allowed in environment \"prod\": ")
}

test_the_default_environment if {
	finding := {
		"image": _image, "environment": "", "key": _image, "code": "DEADLINE_EXCEEDED", "message": "m",
		"undecided": true, "container": "api", "path": "spec.containers[0].image",
	}
	startswith(vouch.message(finding), concat("", [
		"vouch could not check image \"ghcr.io/acme/api:1.0\" in container \"api\" for the default environment: ",
		"vouch did not finish in time",
	]))
}

test_message_is_violation_msg_without_the_answer if {
	response := _value(_denied([_staging], "UNTRUSTED_SIGNER", "authenticity", "d"))
	findings := vouch.decision([_api], "prod", vouch.answers(response), "", {})
	some finding in findings
	vouch.message(finding) == vouch.violation(finding, {}).msg
	contains(vouch.message(finding), "none of its signatures is from a signer trusted there")
}

test_violation_is_total_for_odd_answers if {
	finding := {
		"image": _image, "environment": "prod", "key": _key, "code": "NO_SIGNATURE", "message": "m",
		"undecided": false, "container": "api", "path": "spec.containers[0].image",
	}
	every by_key in [
		{}, "not an object", {_key: "junk"}, {_key: {"value": "x"}}, {_key: {"value": {"signatures": "x", "reasons": "x"}}},
		{_key: {"value": {"signatures": [1, {"signer": 2}], "reasons": [{"check": 3, "detail": 4}]}}},
	] {
		startswith(vouch.violation(finding, by_key).msg, _denied_in_prod)
	}
}
