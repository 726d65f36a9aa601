# Tests of vouch.examples.signed_sbom with inputs shaped as vouch builds them (docs/policies.md "Input").
package vouch.examples.signed_sbom_test

import data.vouch.examples.signed_sbom

_sbom(type, signed) := {
	"artifactType": type,
	"mediaType": "application/vnd.oci.image.manifest.v1+json",
	"digest": "sha256:0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c",
	"annotations": {"org.opencontainers.image.created": "2026-03-01T10:00:00Z"},
	"signed": signed,
}

_input(verified, referrers) := {
	"environment": "prod",
	"reference": "ghcr.io/acme/api@sha256:9b2e4c0d3f7a1b6e8d5c2a9f0e3b7d1c4a6f8e2b5d9c0a3f7e1b4d8c2a6f9e0b",
	"digest": "sha256:9b2e4c0d3f7a1b6e8d5c2a9f0e3b7d1c4a6f8e2b5d9c0a3f7e1b4d8c2a6f9e0b",
	"verified": verified,
	"signatures": [],
	"referrers": referrers,
}

test_a_verified_image_with_a_signed_spdx_sbom_is_allowed if {
	decision := signed_sbom.decision with input as _input(true, [_sbom("application/spdx+json", true)])
	decision == {"allow": true}
}

test_a_signed_cyclonedx_sbom_among_others_is_enough if {
	decision := signed_sbom.decision with input as _input(true, [
		_sbom("application/vnd.example.scan+json", true),
		_sbom("application/vnd.cyclonedx+json", false),
		_sbom("application/vnd.cyclonedx+json", true),
	])
	decision.allow == true
}

test_an_unsigned_sbom_is_not_enough if {
	decision := signed_sbom.decision with input as _input(true, [_sbom("application/spdx+json", false)])
	decision.allow == false
	decision.reasons == [{"message": "1 SBOMs refer to it, none with a signature trusted for the environment"}]
}

test_no_sbom_denies if {
	decision := signed_sbom.decision with input as _input(true, [_sbom("application/vnd.example.scan+json", true)])
	decision == {"allow": false, "reasons": [{"message": "no SBOM refers to it"}]}
}

test_an_image_the_trust_policy_does_not_verify_is_denied_whatever_its_sbom if {
	decision := signed_sbom.decision with input as _input(false, [_sbom("application/spdx+json", true)])
	decision.reasons == [{"code": "NO_SIGNATURE", "message": "no signature satisfies the trust policy"}]
}

test_input_without_referrers_denies if {
	decision := signed_sbom.decision with input as object.remove(_input(true, []), ["referrers"])
	decision.allow == false
}
