# METADATA
# title: Two distinct signers
# description: |
#   An environment decision policy for vouch (docs/policies.md): an image is verified when
#   signatures from at least two distinct signers (the signing certificates' subject DNs) verify
#   under the environment's trust policy. Name it in the configuration as `policy:` of the
#   environment (this .rego file, or a bundle built from it with `opa build -t wasm`).
package vouch.examples.two_signers

# Distinct signers wanted.
required_signers := 2

# Signers of the signatures that verified under the environment's trust policy.
_signers contains signature.signer if {
	some signature in input.signatures
	signature.verified == true
	is_string(signature.signer)
}

# METADATA
# entrypoint: true
# description: The decision vouch asks for (docs/policies.md "Output").
decision := {"allow": true} if {
	count(_signers) >= required_signers
} else := {"allow": false, "reasons": [{"message": sprintf(
	"signatures from %d distinct trusted signers verify, %d are required",
	[count(_signers), required_signers],
)}]}
