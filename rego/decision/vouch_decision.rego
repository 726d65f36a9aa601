# METADATA
# title: vouch.decision
# description: |
#   The shared decision as entrypoints for hosts outside Gatekeeper (docs/decision.md): the same image
#   collection, environment selection, keys, exemptions, answers and messages as the ConstraintTemplate
#   (rego/gatekeeper), from lib.vouch. scripts/build-wasm.ts compiles keys and violations with
#   `opa build -t wasm` into rego/decision/dist. A host asks keys, fetches each key from vouch (HTTP
#   /v1/verify or gRPC Verify), and asks violations with the answers as input.responses. Every value
#   has a default that denies (fail closed), as in the template.
package vouch.decision

import data.lib.vouch

default _params := {}

_params := input.parameters if is_object(input.parameters)

# input.namespace like Gatekeeper's review.namespace, else the object's own namespace.
default _namespace := ""

_namespace := ns if {
	ns := input.namespace
	is_string(ns)
	ns != ""
} else := ns if {
	ns := input.object.metadata.namespace
	is_string(ns)
}

# input.namespaceLabels stand in for the Namespace Gatekeeper syncs into data.inventory, so that
# parameters.environmentLabel selects the environment through the same lib.vouch.environment/3.
default _inventory := {}

_inventory := {"cluster": {"v1": {"Namespace": {_namespace: {"metadata": {"labels": labels}}}}}} if {
	labels := input.namespaceLabels
	is_object(labels)
}

_environment := vouch.environment(_params, _namespace, _inventory)

default _images := set()

_images := vouch.images(input.object) if is_object(input.object)

# METADATA
# entrypoint: true
# description: |
#   The provider keys to verify for input.object, one entry per container image that is not exempt:
#   {"image", "container", "kind", "path", "key", "environment"}. key is what /v1/verify takes;
#   environment and image are what gRPC Verify takes (it verifies [environment]image, the same key).
keys contains entry if {
	some image in _images
	not vouch.exempt(_params, image.image)
	entry := object.union(image, {"key": vouch.key(_environment, image.image), "environment": _environment})
}

# input.responses (key → VerificationResult, or {"error": ...}) as lib.vouch's answers: an error is
# {"code", "message"} (gRPC VerifyResult.error) or the string "CODE: message" (a /v1/verify item's
# error); both go through lib.vouch.parse_error, so unknown codes become PROVIDER_ERROR as in
# Gatekeeper. Anything else is the value, which passes only when its verified is exactly true.
default _answers := {}

_answers := {k: _answer(response) | some k, response in input.responses} if is_object(input.responses)

_answer(response) := {"error": vouch.parse_error(_error_text(response.error))} if {
	_is_error(response.error)
} else := {"value": response}

_is_error(err) if {
	is_string(err)
	err != ""
}

# An error object counts when it says anything: a protobuf JSON encoding may carry an unset
# VerifyResult.error as {"code": "", "message": ""}.
_is_error(err) if {
	is_object(err)
	some field in ["code", "message"]
	not object.get(err, field, "") in {"", null}
}

# No sprintf here: the module must need no host builtin (rego/lib/vouch_text.rego).
_error_text(err) := err if {
	is_string(err)
} else := concat(": ", [err.code, _error_message(err)]) if {
	is_string(err.code)
	err.code != ""
} else := _error_message(err)

_error_message(err) := err.message if {
	is_string(err.message)
} else := "the error names no code"

# /v1/verify's systemError as is ("" when absent): vouch's undecided-keys document answers the keys it
# names; any other system error denies every key, exactly as in the template.
default _system_error := ""

_system_error := input.systemError if {
	is_string(input.systemError)
}

_findings := vouch.decision(_images, _environment, _answers, _system_error, _params)

# METADATA
# entrypoint: true
# description: |
#   One violation per finding of lib.vouch.decision, {"msg", "details"}, with the messages
#   Gatekeeper shows (lib.vouch.violation): details is the finding (image, container, path, key,
#   environment, code, message, undecided) plus signers, check, detail, advice and admin_advice.
violations contains vouch.violation(finding, _answers) if {
	some finding in _findings
}
