# Tests of vouch.examples.two_signers with inputs shaped as vouch builds them (docs/policies.md "Input").
package vouch.examples.two_signers_test

import data.vouch.examples.two_signers

_signature(signer, verified) := {
	"type": "notation",
	"digest": sprintf("sha256:%064d", [count(signer)]),
	"verified": verified,
	"trustPolicy": "prod-images",
	"level": "strict",
	"signer": signer,
	"signingTime": "2026-03-01T10:00:00Z",
	"reasons": [],
}

_input(signatures) := {
	"environment": "prod",
	"reference": "ghcr.io/acme/api@sha256:9b2e4c0d3f7a1b6e8d5c2a9f0e3b7d1c4a6f8e2b5d9c0a3f7e1b4d8c2a6f9e0b",
	"digest": "sha256:9b2e4c0d3f7a1b6e8d5c2a9f0e3b7d1c4a6f8e2b5d9c0a3f7e1b4d8c2a6f9e0b",
	"verified": true,
	"trustPolicy": "prod-images",
	"signatures": signatures,
}

test_two_distinct_verified_signers_allow if {
	decision := two_signers.decision with input as _input([
		_signature("CN=ci,O=Acme", true),
		_signature("CN=release-manager,O=Acme", true),
	])
	decision == {"allow": true}
}

test_one_signer_twice_denies if {
	decision := two_signers.decision with input as _input([
		_signature("CN=ci,O=Acme", true),
		_signature("CN=ci,O=Acme", true),
	])
	decision.allow == false
	decision.reasons == [{"message": "signatures from 1 distinct trusted signers verify, 2 are required"}]
}

test_a_second_signature_that_does_not_verify_does_not_count if {
	decision := two_signers.decision with input as _input([
		_signature("CN=ci,O=Acme", true),
		_signature("CN=mallory,O=Evil", false),
	])
	decision.allow == false
}

test_no_signature_denies if {
	decision := two_signers.decision with input as _input([])
	decision.reasons == [{"message": "signatures from 0 distinct trusted signers verify, 2 are required"}]
}

test_the_number_is_a_rule_a_bundle_can_change if {
	decision := two_signers.decision with input as _input([_signature("CN=ci,O=Acme", true)])
		with two_signers.required_signers as 1
	decision == {"allow": true}
}
