# METADATA
# title: vouch
# description: |
#   Functions for policies that ask vouch whether container images are signed by a signer trusted
#   for an environment (../../README.md, docs/api.md). The Gatekeeper template
#   (rego/gatekeeper) and the WASM entrypoint share decision/5, so every host decides alike.
#   Every function is total (an `else` or a default for each input), because an undefined
#   result in an admission rule would mean "no violation", i.e. fail open.
package lib.vouch

# Where the pod spec sits in each workload kind that carries one.
_pod_spec_paths := {
	"Pod": ["spec"],
	"PodTemplate": ["template", "spec"],
	"Deployment": ["spec", "template", "spec"],
	"ReplicaSet": ["spec", "template", "spec"],
	"StatefulSet": ["spec", "template", "spec"],
	"DaemonSet": ["spec", "template", "spec"],
	"Job": ["spec", "template", "spec"],
	"ReplicationController": ["spec", "template", "spec"],
	"CronJob": ["spec", "jobTemplate", "spec", "template", "spec"],
}

_container_kinds := ["containers", "initContainers", "ephemeralContainers"]

# Codes a provider error may start with (docs/api.md "Codes"; INTERNAL is what vouch's engine
# reports for faults it cannot classify). Anything else becomes PROVIDER_ERROR.
_known_codes := {
	"NO_SIGNATURE", "INVALID_SIGNATURE", "UNTRUSTED_SIGNER", "EXPIRED", "REVOKED", "NO_TRUST_POLICY", "NOT_FOUND",
	"POLICY_DENIED", "INVALID_REFERENCE", "UNKNOWN_ENVIRONMENT", "REGISTRY_UNAVAILABLE", "REGISTRY_AUTH",
	"REGISTRY_NOT_ALLOWED", "DEADLINE_EXCEEDED", "POLICY_ERROR", "PLUGIN_ERROR", "INTERNAL",
}

# METADATA
# description: |
#   Every container image of a Pod or of a workload's pod template, as a set of
#   {"image", "container", "kind", "path"}; path is the JSON path of the image field, so a message
#   can point at the exact line. Other kinds and missing container lists yield nothing.
images(obj) := {img |
	segments := _pod_spec_paths[obj.kind]
	spec := object.get(obj, segments, {})
	prefix := concat(".", segments)
	some kind in _container_kinds
	some i, container in _list(_get(spec, kind))
	is_string(container.image)
	img := {
		"image": container.image,
		"container": object.get(container, "name", ""),
		"kind": kind,
		"path": concat("", [prefix, ".", kind, "[", format_int(i, 10), "].image"]),
	}
}

# METADATA
# description: |
#   The environment a namespace's images are verified for: namespaceEnvironments[namespace], else
#   the value of the Namespace's environmentLabel (inventory is Gatekeeper's data.inventory, so the
#   Namespace must be synced), else params.environment, else "" (vouch's defaultEnvironment).
environment(params, namespace, inventory) := env if {
	env := params.namespaceEnvironments[namespace]
	is_string(env)
} else := env if {
	label := params.environmentLabel
	is_string(label)
	label != ""
	env := inventory.cluster.v1.Namespace[namespace].metadata.labels[label]
	is_string(env)
} else := env if {
	env := params.environment
	is_string(env)
} else := ""

# METADATA
# description: |
#   The provider key for an image (docs/api.md "Keys"): "[environment]image", or the bare image for
#   vouch's defaultEnvironment. The environment is part of the key so that Gatekeeper's per-key
#   cache never mixes environments.
key(env, image) := image if {
	env == ""
} else := concat("", ["[", env, "]", image])

# METADATA
# description: |
#   True when a glob of params.exemptImages matches the image as written in the spec. Delimiters
#   are null, so `*` also crosses `/` and `.`: "ghcr.io/acme/*" exempts "ghcr.io/acme/tools/x:1".
#   An invalid glob matches nothing (builtin errors are undefined), so it never exempts by accident.
exempt(params, image) if {
	some pattern in _list(params.exemptImages)
	glob.match(pattern, null, image)
}

# METADATA
# description: |
#   Gatekeeper's external_data result (Gatekeeper docs, "External Data":
#   https://open-policy-agent.github.io/gatekeeper/website/docs/externaldata/) as an object key →
#   {"value": v} or {"error": {"code", "message"}}. responses/errors may be null (Gatekeeper-side
#   failure); a key answered twice with different answers becomes an error, never a verdict.
answers(rego_response) := _merge(array.concat(
	[[pair[0], {"value": pair[1]}] |
		some pair in _list(rego_response.responses)
		count(pair) == 2
	],
	[[pair[0], {"error": parse_error(pair[1])}] |
		some pair in _list(rego_response.errors)
		count(pair) == 2
	],
))

# METADATA
# description: |
#   The same shape as answers/1 from a ProviderResponse's response.items, for hosts that call vouch
#   over HTTP themselves. Like Gatekeeper (frameworks NewRegoResponse), a non-empty error wins.
answers_from_items(items) := _merge([[item.key, answer] |
	some item in _list(items)
	answer := _item_answer(item)
])

_item_answer(item) := {"error": parse_error(err)} if {
	err := _get(item, "error")
	not err in {null, ""}
} else := {"value": _get(item, "value")}

# METADATA
# description: The system error of an external_data result as a string, "" when there is none.
system_error(rego_response) := _text(err) if {
	err := _get(rego_response, "system_error")
	not err in {null, ""}
} else := ""

# METADATA
# description: |
#   The keys a /v1/verify systemError names as undecided for now, as key → {"error": {"code",
#   "message"}} (the shape of answers/1). vouch leaves such keys out of its items, because
#   Gatekeeper caches every item, errors included, and never caches systemError; it names them in
#   systemError as the JSON document {"message": "...", "undecided": [{"key", "error"}]}
#   (README "Undecided keys"). Undefined for any other system error.
undecided_keys(sys_error) := _merge([[item.key, {"error": parse_error(item.error)}] |
	some item in doc.undecided
	is_string(item.key)
]) if {
	is_string(sys_error)
	json.is_valid(sys_error)
	doc := json.unmarshal(sys_error)
	is_array(doc.undecided)
}

# METADATA
# description: |
#   Splits a provider error "CODE: message" (docs/api.md "ProviderResponse"). An error without a known code is
#   kept whole as the message of a PROVIDER_ERROR.
parse_error(text) := {"code": code, "message": trim_space(substring(text, i + 1, -1))} if {
	is_string(text)
	i := indexof(text, ":")
	i > 0
	code := substring(text, 0, i)
	code in _known_codes
} else := {"code": "PROVIDER_ERROR", "message": text} if {
	is_string(text)
} else := {"code": "PROVIDER_ERROR", "message": _text(text)}

# One answer per key; keys with conflicting answers (or answered twice by a broken provider) are
# undecided rather than a conflict error that would abort the whole evaluation.
_merge(pairs) := {k: answer |
	some k in {pair[0] | some pair in pairs}
	candidates := {pair[1] | some pair in pairs; pair[0] == k}
	answer := _single(k, candidates)
}

_single(k, candidates) := a if {
	count(candidates) == 1
	some a in candidates
} else := {"error": {
	"code": "PROVIDER_ERROR",
	"message": _conflict_message(k, count(candidates)),
}}

_conflict_message(k, n) := concat(" ", ["the provider gave", format_int(n, 10), "different answers for key", _text(k)])

# METADATA
# description: |
#   Calls the provider once for all keys (deduplicated, sorted), or not at all when there are none:
#   one request per admission keeps all keys within one provider timeout. When external_data has no
#   result (a builtin error is undefined outside strict mode), the result is a system error.
verify(provider, keys) := {"responses": [], "errors": [], "status_code": 0, "system_error": ""} if {
	count({k | some k in keys}) == 0
} else := response if {
	response := external_data({"provider": provider, "keys": sort({k | some k in keys})})
} else := {"responses": null, "errors": null, "status_code": 0, "system_error": "external_data returned no result"}

# METADATA
# description: |
#   The decision shared by every host: the set of findings for imgs (from images/1), each
#   {"image", "environment", "key", "code", "message", "undecided", "container", "path"}; by_key is
#   answers/1 or answers_from_items/1. Exempt and verified images yield nothing; everything else
#   yields a finding, so a malformed or missing answer fails closed. params.undecided: "violation"
#   (default) keeps all findings, "ignore" drops undecided ones (fail open on provider trouble),
#   "only" keeps only undecided ones.
decision(imgs, env, by_key, sys_error, params) := {finding |
	some entry in imgs
	image := _image(entry)
	not exempt(params, image.image)
	finding := _verdict(image, env, by_key, sys_error)
	not finding.verified
	_keep(_param(params, "undecided", "violation"), finding.undecided)
}

_keep("ignore", false) := true

_keep("only", true) := true

_keep(mode, _) if not mode in {"ignore", "only"}

# A system error that is vouch's undecided document (undecided_keys/1) answers the keys it names and
# leaves the items' answers to the others (a key named there wins over an item for it: fail
# closed). Any other system error means no answer can be trusted. A key without an answer (or
# answers that are no object) is undecided.
_verdict(image, env, by_key, sys_error) := _keyed_verdict(image, env, object.union(_object(by_key), undecided)) if {
	undecided := undecided_keys(sys_error)
} else := _finding(image, env, "SYSTEM_ERROR", _text(sys_error), true) if {
	not sys_error in {null, ""}
} else := _keyed_verdict(image, env, by_key)

_keyed_verdict(image, env, by_key) := verdict if {
	verdict := _answer_verdict(image, env, by_key[key(env, image.image)])
} else := _finding(image, env, "NO_ANSWER", "the provider returned no answer for this key", true)

# Only a value whose verified field is exactly true passes; a provider error is undecided.
_answer_verdict(image, env, answer) := _finding(image, env, _error_code(err), _error_message(err), true) if {
	err := answer.error
} else := {"verified": true} if {
	answer.value.verified == true
} else := _finding(image, env, _reason_code(value), _reason_message(value), false) if {
	value := _get(answer, "value")
}

# An entry of decision/5's images: an object from images/1 or a bare image string. Anything else
# still yields a finding (under a key the provider never answered), never silence.
_image(entry) := {"image": entry} if {
	is_string(entry)
} else := entry if {
	is_string(entry.image)
} else := {"image": _text(entry)}

_finding(image, env, code, message, undecided) := {
	"image": image.image,
	"environment": env,
	"key": key(env, image.image),
	"code": code,
	"message": message,
	"undecided": undecided,
	"container": object.get(image, "container", ""),
	"path": object.get(image, "path", ""),
}

_error_code(error) := error.code if {
	is_string(error.code)
} else := "PROVIDER_ERROR"

_error_message(error) := _text(error.message) if {
	error.message
} else := _text(error)

# The first reason of a VerificationResult (docs/api.md "VerificationResult"); a value without one (a string, or
# verified as the string "true") is still a denial.
_reason_code(value) := value.reasons[0].code if {
	is_string(value.reasons[0].code)
	value.reasons[0].code != ""
} else := "NOT_VERIFIED"

_reason_message(value) := value.reasons[0].message if {
	is_string(value.reasons[0].message)
} else := concat("", ["the provider's answer is not a verified result: ", _text(value)])
