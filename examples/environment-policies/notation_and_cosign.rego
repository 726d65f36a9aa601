# METADATA
# title: Both a Notary Project and a cosign signature
# description: |
#   An environment decision policy for vouch (docs/policies.md): an image is verified only when a
#   Notary Project signature verifies under the environment's trust policy AND a cosign signature
#   verifies under its cosign trust. Without a policy an environment that trusts both kinds accepts
#   either; name this one as `policy:` of such an environment to demand both.
package vouch.examples.notation_and_cosign

# The kinds of signature (the `type` of input.signatures) that must each have one that verifies.
required_types := {"notation", "cosign"}

# Kinds with at least one signature that verified.
_verified_types contains signature.type if {
	some signature in input.signatures
	signature.verified == true
}

_missing := required_types - _verified_types

# METADATA
# entrypoint: true
# description: The decision vouch asks for (docs/policies.md "Output").
decision := {"allow": true} if {
	count(_missing) == 0
} else := {"allow": false, "reasons": [{"message": sprintf(
	"no verified signature of kind %s (required: one of each kind %s)",
	[concat(", ", sort(_missing)), concat(", ", sort(required_types))],
)}]}
