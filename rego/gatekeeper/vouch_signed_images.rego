# METADATA
# title: VouchSignedImages
# description: |
#   Gatekeeper ConstraintTemplate rule: every container image of a Pod or workload must be signed
#   by a signer that vouch trusts for the namespace's environment. scripts/build-rego.ts embeds
#   this file and rego/lib into deploy/gatekeeper/template.yaml; the parameters are documented in
#   that template's schema. Gatekeeper ignores undefined rules, so every value here has a default
#   that denies (fail closed).
package vouchsignedimages

import data.lib.vouch

default _params := {}

_params := input.parameters if is_object(input.parameters)

default _namespace := ""

_namespace := ns if {
	ns := input.review.namespace
	is_string(ns)
	ns != ""
} else := ns if {
	ns := input.review.object.metadata.namespace
	is_string(ns)
}

# Namespaces are in data.inventory only when the Gatekeeper Config syncs them (environmentLabel).
default _inventory := {}

_inventory := data.inventory

_provider := object.get(_params, "provider", "vouch")

_environment := vouch.environment(_params, _namespace, _inventory)

_images := vouch.images(input.review.object)

_keys contains vouch.key(_environment, image.image) if {
	some image in _images
	not vouch.exempt(_params, image.image)
}

_response := vouch.verify(_provider, _keys)

_findings := vouch.decision(_images, _environment, vouch.answers(_response), vouch.system_error(_response), _params)

# The answers again, for the messages: they name the signers vouch saw (lib.vouch.violation).
_answers := vouch.answers(_response)

# METADATA
# entrypoint: true
# description: |
#   One violation per finding of lib.vouch.decision: msg for the Pod's author, details the finding
#   plus signers, check, detail, advice and admin_advice (lib.vouch.violation).
violation contains vouch.violation(finding, _answers) if {
	some finding in _findings
}
