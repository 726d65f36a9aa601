# METADATA
# title: AcmeSignedImages
# description: |
#   A policy author's own Gatekeeper rule built on vouch's Rego library (rego/lib, package
#   lib.vouch; README "Policies: Gatekeeper and Rego"). Every image must be verified by vouch for
#   the namespace's environment, as the shipped VouchSignedImages template demands; stricter than
#   it, an image vouch passed without checking its signatures (skipped: true, the trust policy's
#   level "skip") is denied too. Every value has a default that denies: an undefined rule in
#   Gatekeeper means "no violation", i.e. fail open.
package acme.signedimages

import data.lib.vouch

default _params := {}

_params := input.parameters if is_object(input.parameters)

_environment := vouch.environment(_params, object.get(input, ["review", "namespace"], ""), {})

_images := vouch.images(object.get(input, ["review", "object"], {}))

_keys contains vouch.key(_environment, image.image) if {
	some image in _images
	not vouch.exempt(_params, image.image)
}

# One external_data call per admission, for every key at once.
_response := vouch.verify("vouch", _keys)

_answers := vouch.answers(_response)

# METADATA
# entrypoint: true
# description: |
#   What the shipped template denies (not verified, undecided: fail closed), with the library's
#   messages, plus images whose verdict skipped signature verification.
violation contains vouch.violation(finding, _answers) if {
	some finding in vouch.decision(_images, _environment, _answers, vouch.system_error(_response), _params)
}

violation contains {"msg": msg, "details": {"image": image.image, "container": image.container, "code": "SKIPPED"}} if {
	some image in _images
	not vouch.exempt(_params, image.image)
	_answers[vouch.key(_environment, image.image)].value.skipped == true
	msg := sprintf("image %q in container %q was not checked in environment %q: %s", [
		image.image, image.container, _environment,
		"its trust policy skips signature verification. Sign it and have it verified. (SKIPPED)",
	])
}
