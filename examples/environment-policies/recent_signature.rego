# METADATA
# title: Signed within N days
# description: |
#   An environment decision policy for vouch (docs/policies.md): an image is verified when a
#   signature that verifies under the environment's trust policy was made at most max_age_days ago,
#   so an image signed long ago has to be signed again (re-approved) to be admitted. The time of a
#   signature is the earliest time its trusted timestamp allows when it has one, else its signing
#   time (authentic under signingAuthority, the signer's claim under notary.x509).
package vouch.examples.recent_signature

# The most days a signature may be old (edit it for your environment).
max_age_days := 90

_day_ns := ((24 * 60) * 60) * 1000000000

# When a signature was made, in nanoseconds since the Unix epoch.
_signed_at(signature) := time.parse_rfc3339_ns(signature.timestamp.earliest) if {
	is_string(signature.timestamp.earliest)
} else := time.parse_rfc3339_ns(signature.signingTime)

# How old each verified signature is, in nanoseconds.
_ages contains time.now_ns() - signed_at if {
	some signature in input.signatures
	signature.verified == true
	signed_at := _signed_at(signature)
}

# METADATA
# entrypoint: true
# description: The decision vouch asks for (docs/policies.md "Output").
decision := {"allow": true} if {
	min(_ages) <= max_age_days * _day_ns
} else := {"allow": false, "reasons": [{"code": "NO_SIGNATURE", "message": "no signature verifies"}]} if {
	count(_ages) == 0
} else := {"allow": false, "reasons": [{"message": sprintf(
	"its newest verified signature is %d days old, at most %d are allowed: sign it again",
	[floor(min(_ages) / _day_ns), max_age_days],
)}]}
