# Tests of vouch.examples.notation_and_cosign with inputs shaped as vouch builds them (docs/policies.md "Input").
package vouch.examples.notation_and_cosign_test

import data.vouch.examples.notation_and_cosign

_notation(verified) := {
	"type": "notation",
	"digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111",
	"verified": verified,
	"trustPolicy": "prod-images",
	"level": "strict",
	"signer": "CN=release,O=Acme",
	"signingTime": "2026-03-01T10:00:00Z",
	"reasons": [],
}

_cosign(verified) := {
	"type": "cosign",
	"digest": "sha256:2222222222222222222222222222222222222222222222222222222222222222",
	"verified": verified,
	"signer": "sha256:3333333333333333333333333333333333333333333333333333333333333333",
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

_denied(missing) := [{"message": sprintf(
	"no verified signature of kind %s (required: one of each kind cosign, notation)",
	[missing],
)}]

test_both_kinds_verified_allow if {
	decision := notation_and_cosign.decision with input as _input([_notation(true), _cosign(true)])
	decision == {"allow": true}
}

test_notation_only_denies_naming_cosign if {
	decision := notation_and_cosign.decision with input as _input([_notation(true)])
	decision.allow == false
	decision.reasons == _denied("cosign")
}

test_cosign_only_denies_naming_notation if {
	decision := notation_and_cosign.decision with input as _input([_cosign(true)])
	decision.reasons == _denied("notation")
}

test_a_cosign_signature_that_does_not_verify_does_not_count if {
	decision := notation_and_cosign.decision with input as _input([_notation(true), _cosign(false)])
	decision.allow == false
}

test_no_signature_denies_naming_both if {
	decision := notation_and_cosign.decision with input as _input([])
	decision.reasons == _denied("cosign, notation")
}

test_the_kinds_are_a_rule_a_bundle_can_change if {
	decision := notation_and_cosign.decision with input as _input([_cosign(true)])
		with notation_and_cosign.required_types as {"cosign"}
	decision == {"allow": true}
}
