# Tests of acme.signedimages with Gatekeeper's input and external_data mocked by a fake vouch (a function
# standing in for the builtin, as `opa test` allows with `with external_data as ...`).
package acme.signedimages_test

import data.acme.signedimages

_params := {"namespaceEnvironments": {"shop": "prod"}, "exemptImages": ["registry.k8s.io/pause:*"]}

_input(images) := {
	"review": {"namespace": "shop", "object": {
		"kind": "Pod",
		"metadata": {"name": "web", "namespace": "shop"},
		"spec": {"containers": [{"name": sprintf("c%d", [i]), "image": image} | some i, image in images]},
	}},
	"parameters": _params,
}

# The fake provider answers each key by its image name, the way vouch's /v1/verify would.
_fake_vouch(request) := {
	"responses": [[key, _value(key)] | some key in request.keys],
	"errors": [], "status_code": 200, "system_error": "",
}

_unsigned_reasons := [{"code": "NO_SIGNATURE", "message": "no Notary Project signature refers to it"}]

_value(key) := {"verified": false, "environment": "prod", "reasons": _unsigned_reasons} if {
	contains(key, "unsigned")
} else := {"verified": true, "environment": "prod", "skipped": true, "reasons": []} if {
	contains(key, "skipped")
} else := {"verified": true, "environment": "prod", "reasons": []}

test_verified_and_exempt_images_are_admitted if {
	violations := signedimages.violation with input as _input(["ghcr.io/acme/web:1.0", "registry.k8s.io/pause:3.10"])
		with external_data as _fake_vouch
	violations == set()
}

test_keys_carry_the_environment_and_leave_out_exempt_images if {
	keys := signedimages._keys with input as _input(["ghcr.io/acme/web:1.0", "registry.k8s.io/pause:3.10"])
	keys == {"[prod]ghcr.io/acme/web:1.0"}
}

test_unsigned_image_is_denied_with_the_library_message if {
	violations := signedimages.violation with input as _input(["ghcr.io/acme/unsigned:1.0"])
		with external_data as _fake_vouch
	some v in violations
	v.details.code == "NO_SIGNATURE"
	endswith(v.msg, "Sign it with a key trusted for this environment. (NO_SIGNATURE)")
}

test_skipped_verification_is_denied if {
	violations := signedimages.violation with input as _input(["ghcr.io/acme/skipped:1.0"])
		with external_data as _fake_vouch
	violations == {{
		"msg": concat("", [
			"image \"ghcr.io/acme/skipped:1.0\" in container \"c0\" was not checked in environment \"prod\": ",
			"its trust policy skips signature verification. Sign it and have it verified. (SKIPPED)",
		]),
		"details": {"image": "ghcr.io/acme/skipped:1.0", "container": "c0", "code": "SKIPPED"},
	}}
}

# A provider that cannot be reached: Gatekeeper answers with system_error and no responses.
_unreachable(request) := {
	"responses": null, "errors": null, "status_code": 0,
	"system_error": sprintf("dial tcp: connection refused (%d keys)", [count(request.keys)]),
}

test_unreachable_provider_denies_every_image if {
	violations := signedimages.violation with input as _input(["ghcr.io/acme/web:1.0"]) with external_data as _unreachable
	{v.details.code | some v in violations} == {"SYSTEM_ERROR"}
}
