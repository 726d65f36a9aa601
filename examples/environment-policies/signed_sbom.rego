# METADATA
# title: A signed SBOM
# description: |
#   An environment decision policy for vouch (docs/policies.md): an image is verified when the
#   built-in rule verifies it (a signature satisfies the environment's trust policy) and an SBOM
#   (SPDX or CycloneDX) refers to it that carries a signature verified for the environment too,
#   as a supply chain that promotes images carries their SBOMs along. The entrypoint's metadata
#   asks vouch for the image's referrers (custom.vouch.input), which vouch lists only when asked.
package vouch.examples.signed_sbom

# artifactTypes of SBOMs (as `oras attach`, `notation`-era tooling and syft push them).
sbom_types := {
	"application/spdx+json",
	"application/vnd.cyclonedx+json",
	"application/vnd.cyclonedx+xml",
	"application/vnd.syft+json",
	"text/spdx",
}

_sboms contains referrer if {
	some referrer in input.referrers
	referrer.artifactType in sbom_types
}

_signed_sboms contains referrer.digest if {
	some referrer in _sboms
	referrer.signed == true
}

_reason := {"code": "NO_SIGNATURE", "message": "no signature satisfies the trust policy"} if {
	input.verified != true
} else := {"message": "no SBOM refers to it"} if {
	count(_sboms) == 0
} else := {"message": sprintf(
	"%d SBOMs refer to it, none with a signature trusted for the environment",
	[count(_sboms)],
)}

# METADATA
# entrypoint: true
# description: The decision vouch asks for (docs/policies.md "Output").
# custom:
#   vouch:
#     input: [referrers]
decision := {"allow": true} if {
	input.verified == true
	count(_signed_sboms) > 0
} else := {"allow": false, "reasons": [_reason]}
