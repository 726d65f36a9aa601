# Tests of vouch.examples.recent_signature, with time.now_ns replaced by a fixed time.
package vouch.examples.recent_signature_test

import data.vouch.examples.recent_signature

# 2026-03-31T10:00:00Z
_now := 1774951200000000000

_signature(signed, verified) := {
	"type": "notation",
	"digest": "sha256:4f1c8e2a9b3d7f0e6a5c1b8d2e9f3a7c0b4d6e8f1a2c3b5d7e9f0a1b2c3d4e5f",
	"verified": verified,
	"trustPolicy": "prod-images",
	"level": "strict",
	"signer": "CN=ci,O=Acme",
	"signingTime": signed,
	"signingTimeUnix": time.parse_rfc3339_ns(signed) / 1000000000,
	"reasons": [],
}

_input(signatures) := {
	"environment": "prod",
	"reference": "ghcr.io/acme/api@sha256:9b2e4c0d3f7a1b6e8d5c2a9f0e3b7d1c4a6f8e2b5d9c0a3f7e1b4d8c2a6f9e0b",
	"digest": "sha256:9b2e4c0d3f7a1b6e8d5c2a9f0e3b7d1c4a6f8e2b5d9c0a3f7e1b4d8c2a6f9e0b",
	"verified": true,
	"signatures": signatures,
}

test_a_signature_from_last_week_allows if {
	decision := recent_signature.decision with input as _input([_signature("2026-03-24T10:00:00Z", true)])
		with time.now_ns as _now
	decision == {"allow": true}
}

test_a_signature_older_than_the_limit_denies if {
	decision := recent_signature.decision with input as _input([_signature("2025-12-01T10:00:00Z", true)])
		with time.now_ns as _now
	decision == {"allow": false, "reasons": [{"message": concat("", [
		"its newest verified signature is 120 days old, ",
		"at most 90 are allowed: sign it again",
	])}]}
}

test_the_newest_verified_signature_counts if {
	decision := recent_signature.decision with input as _input([
		_signature("2025-12-01T10:00:00Z", true),
		_signature("2026-03-30T10:00:00Z", true),
	])
		with time.now_ns as _now
	decision.allow == true
}

test_a_recent_signature_that_does_not_verify_does_not_count if {
	decision := recent_signature.decision with input as _input([
		_signature("2025-12-01T10:00:00Z", true),
		_signature("2026-03-30T10:00:00Z", false),
	])
		with time.now_ns as _now
	decision.allow == false
}

test_no_verified_signature_is_no_signature if {
	decision := recent_signature.decision with input as _input([]) with time.now_ns as _now
	decision.reasons[0].code == "NO_SIGNATURE"
}

test_a_trusted_timestamp_is_the_time_of_signing if {
	signature := object.union(_signature("2026-03-30T10:00:00Z", true), {"timestamp": {
		"time": "2025-12-01T10:00:00Z",
		"earliest": "2025-12-01T09:59:59Z",
		"latest": "2025-12-01T10:00:01Z",
		"timeUnix": 1764583200,
		"earliestUnix": 1764583199,
		"latestUnix": 1764583201,
	}})
	decision := recent_signature.decision with input as _input([signature]) with time.now_ns as _now
	decision.allow == false
}

test_the_age_is_a_rule_a_bundle_can_change if {
	decision := recent_signature.decision with input as _input([_signature("2026-03-24T10:00:00Z", true)])
		with time.now_ns as _now
		with recent_signature.max_age_days as 3
	decision.allow == false
}
