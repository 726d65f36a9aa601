# METADATA
# title: vouch
# description: |
#   Functions for policies that ask vouch whether container images are signed by a signer trusted
#   for an environment (../../README.md, interface.md §3 and §5). The Gatekeeper template
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

# Codes a provider error may start with (interface.md §3 "Codes"; INTERNAL is what vouch's engine
# reports for faults it cannot classify). Anything else becomes PROVIDER_ERROR.
_known_codes := {
	"NO_SIGNATURE", "INVALID_SIGNATURE", "UNTRUSTED_SIGNER", "EXPIRED", "REVOKED", "NO_TRUST_POLICY", "NOT_FOUND",
	"INVALID_REFERENCE", "UNKNOWN_ENVIRONMENT", "REGISTRY_UNAVAILABLE", "REGISTRY_AUTH", "REGISTRY_NOT_ALLOWED",
	"DEADLINE_EXCEEDED", "INTERNAL",
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
		"path": sprintf("%s.%s[%d].image", [prefix, kind, i]),
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
#   The provider key for an image (interface.md §3): "[environment]image", or the bare image for
#   vouch's defaultEnvironment. The environment is part of the key so that Gatekeeper's per-key
#   cache never mixes environments.
key(env, image) := image if {
	env == ""
} else := sprintf("[%s]%s", [env, image])

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
#   Gatekeeper's external_data result (gatekeeper-and-anchors.md §3.5) as an object key →
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
#   Splits a provider error "CODE: message" (interface.md §3). An error without a known code is
#   kept whole as the message of a PROVIDER_ERROR.
parse_error(text) := {"code": code, "message": trim_space(substring(text, i + 1, -1))} if {
	is_string(text)
	i := indexof(text, ":")
	i > 0
	code := substring(text, 0, i)
	code in _known_codes
} else := {"code": "PROVIDER_ERROR", "message": text} if {
	is_string(text)
} else := {"code": "PROVIDER_ERROR", "message": sprintf("%v", [text])}

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
	"message": sprintf("the provider gave %d different answers for key %v", [count(candidates), k]),
}}

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

# The first reason of a VerificationResult (interface.md §3); a value without one (a string, or
# verified as the string "true") is still a denial.
_reason_code(value) := value.reasons[0].code if {
	is_string(value.reasons[0].code)
	value.reasons[0].code != ""
} else := "NOT_VERIFIED"

_reason_message(value) := value.reasons[0].message if {
	is_string(value.reasons[0].message)
} else := sprintf("the provider's answer is not a verified result: %v", [value])

# METADATA
# description: |
#   The violation for one finding of decision/5: {"msg", "details"}. msg is for the person whose
#   Pod was denied: the image as written in the spec and its container, the environment once, what
#   vouch found (the signers of the signatures it saw), what to do, and the code last. details is
#   the finding plus "signers" (deduplicated, sorted, at most 10), "check" and "detail" (from the
#   answer's first reason, interface.md §3), "advice" (for the Pod's author) and "admin_advice"
#   (for cluster admins: it reaches msg only for undecided findings). by_key is what decision/5
#   was given (answers/1 or answers_from_items/1).
violation(finding, by_key) := {"msg": _msg(finding, facts), "details": object.union(finding, facts)} if {
	facts := _facts(finding, _get(_get(by_key, finding.key), "value"))
}

# METADATA
# description: |
#   The msg of violation/2 without the provider's answer, so without the signers it names: for
#   policies that only keep findings.
message(finding) := _msg(finding, _facts(finding, null))

# What the message says, from the finding and the answer's VerificationResult (value; null for
# errors). Every field has a default: a message must never be undefined.
_facts(finding, value) := {
	"signers": array.slice(signers, 0, 10),
	"signer_count": count(signers),
	"check": check,
	"detail": detail,
	"advice": _advice(finding.code, check),
	"admin_advice": _admin_advice(finding.code),
} if {
	signers := sort({s |
		some signature in _list(_get(value, "signatures"))
		s := _get(signature, "signer")
		is_string(s)
		s != ""
	})
	reason := _get(_list(_get(value, "reasons")), 0)
	check := _string_or(_get(reason, "check"), "")
	detail := _clean(finding, _string_or(_get(reason, "detail"), _text(object.get(finding, "message", ""))))
}

_msg(finding, facts) := _sentences(
	sprintf("vouch could not check image %q%s for %s: %s.", _headline_args(finding, facts)),
	[facts.advice, facts.admin_advice], finding.code,
) if {
	finding.undecided == true
} else := _sentences(
	sprintf("image %q%s is not allowed in %s: %s.", _headline_args(finding, facts)),
	[facts.advice], finding.code,
)

_headline_args(finding, facts) := [image, where, env, problem] if {
	image := finding.image
	where := _where(finding)
	env := _env_text(finding.environment)
	problem := _problem(finding.code, facts)
}

_sentences(first, more, code) := sprintf("%s (%s)", [
	concat(" ", array.concat([first], [m | some m in more; m != ""])),
	code,
])

# vouch's text without the provider key (the image is named already) or a trailing full stop.
_clean(finding, text) := trim_right(replace(text, _text(object.get(finding, "key", "")), finding.image), ". ") if {
	object.get(finding, "key", "") != ""
} else := trim_right(text, ". ")

_string_or(x, fallback) := x if {
	is_string(x)
	x != ""
} else := fallback

_where(finding) := sprintf(" in %s %q", [_container_kind(object.get(finding, "path", "")), finding.container]) if {
	finding.container != ""
} else := ""

_container_kind(path) := "init container" if {
	contains(path, "initContainers[")
} else := "ephemeral container" if {
	contains(path, "ephemeralContainers[")
} else := "container"

_env_text(env) := "the default environment" if {
	env == ""
} else := sprintf("environment %q", [env])

# What vouch found, per code (and check, where one code has several causes).
_problem(code, facts) := sprintf("it is signed by %s, not by a signer trusted there", [_signer_text(facts)]) if {
	code == "UNTRUSTED_SIGNER"
	facts.signer_count > 0
} else := concat("", [_fill(_problem_template(code, facts.check), facts.detail), _signed_by(code, facts)])

_problem_template(code, check) := text if {
	text := _problem_by_check[code][check]
} else := text if {
	text := _problem_text[code]
} else := "%s"

_fill(template, detail) := sprintf(template, [detail]) if {
	contains(template, "%s")
} else := template

# Who signed what was seen, where the message is about a signature that failed.
_signed_by(code, facts) := sprintf("; it is signed by %s", [_signer_text(facts)]) if {
	code in {"INVALID_SIGNATURE", "EXPIRED", "REVOKED"}
	facts.signer_count > 0
} else := ""

# "A", "A" and "B", "A", "B" and "C", "A", "B", "C" and 2 more.
_signer_text(facts) := sprintf("%q", [facts.signers[0]]) if {
	facts.signer_count == 1
} else := sprintf("%s and %q", [_quoted(array.slice(facts.signers, 0, n - 1)), facts.signers[n - 1]]) if {
	n := facts.signer_count
	n <= 3
} else := sprintf("%s and %d more", [_quoted(array.slice(facts.signers, 0, 3)), facts.signer_count - 3])

_quoted(list) := concat(", ", [sprintf("%q", [s]) | some s in list])

_problem_text := {
	"NO_SIGNATURE": "it has no Notary Project signature",
	"NOT_VERIFIED": "vouch's answer does not say it is verified",
	"UNTRUSTED_SIGNER": "none of its signatures is from a signer trusted there",
	"INVALID_SIGNATURE": "its signature is not valid: %s",
	"EXPIRED": "its signature is no longer valid: %s",
	"REVOKED": "its signature is no longer valid: %s",
	"NO_TRUST_POLICY": "no trust policy there covers its repository",
	"NOT_FOUND": "the registry has no such image: %s",
	"INVALID_REFERENCE": "it is not a valid image reference: %s",
	"UNKNOWN_ENVIRONMENT": "vouch has no such environment",
	"REGISTRY_UNAVAILABLE": "its registry could not be reached: %s",
	"REGISTRY_AUTH": "its registry refused vouch's credentials: %s",
	"REGISTRY_NOT_ALLOWED": "vouch is not allowed to contact its registry",
	"DEADLINE_EXCEEDED": "vouch did not finish in time and goes on checking in the background",
	"SYSTEM_ERROR": "the call to vouch failed: %s",
	"NO_ANSWER": "vouch returned no answer for it",
	"PROVIDER_ERROR": "vouch's answer could not be read: %s",
	"INTERNAL": "vouch failed: %s",
}

# Causes a code alone does not tell apart. EXPIRED from the `expiry` check is the signature's own
# expiry, set by the signer: only signing again helps. From `authenticTimestamp` it is a
# certificate's validity, where a new certificate or a trusted timestamp helps.
_problem_by_check := {"EXPIRED": {"expiry": "its signature has passed the expiry its signer set: %s"}}

# What the Pod's author can do, per code (and check).
_advice(code, check) := text if {
	text := _advice_by_check[code][check]
} else := text if {
	text := _advice_text[code]
} else := "Show this message to a cluster admin."

_advice_text := {
	"NO_SIGNATURE": "Sign it with a key trusted for this environment.",
	"NOT_VERIFIED": "Sign it with a key trusted for this environment.",
	"UNTRUSTED_SIGNER": "Have it signed with a key trusted for this environment.",
	"INVALID_SIGNATURE": "Sign it again (the signature must be made for this image's digest).",
	"EXPIRED": concat(" ", [
		"Sign it again with a certificate that is valid now,",
		"or with a timestamp from a TSA trusted for this environment so that the signature outlives the certificate.",
	]),
	"REVOKED": "Sign it again with a certificate that is not revoked.",
	"NO_TRUST_POLICY": "Use an image from a repository this environment trusts, or ask a cluster admin to add one.",
	"NOT_FOUND": "Check the repository, tag and digest.",
	"INVALID_REFERENCE": "Fix the image reference.",
	"UNKNOWN_ENVIRONMENT": "This is not a verdict on the image; retrying will not help.",
	"REGISTRY_UNAVAILABLE": "This is not a verdict on the image; retry shortly.",
	"REGISTRY_AUTH": "This is not a verdict on the image; retry later.",
	"REGISTRY_NOT_ALLOWED": "Use an image from a registry vouch may contact.",
	"DEADLINE_EXCEEDED": "This is not a verdict on the image; retry shortly.",
	"SYSTEM_ERROR": "This is not a verdict on the image; retry shortly.",
	"NO_ANSWER": "This is not a verdict on the image; retrying will not help.",
	"PROVIDER_ERROR": "This is not a verdict on the image; retry shortly.",
	"INTERNAL": "This is not a verdict on the image; retry shortly.",
}

_advice_by_check := {
	# A timestamp cannot save a signature past its own expiry; a new signature can.
	"EXPIRED": {"expiry": "Sign it again, with a later expiry or none."},
	# The policy requires a trusted timestamp and the signature has none or an invalid one.
	"INVALID_SIGNATURE": {"authenticTimestamp": "Sign it again with a timestamp from a TSA trusted for this environment."},
	"REVOKED": {"authenticTimestamp": "Sign it again with a timestamp from a TSA whose certificate is not revoked."},
}

# What a cluster admin can do, per code ("" when nothing): in details always, in msg only for
# undecided findings. vouch's own reason for admins is details.detail (and details.message).
_admin_advice(code) := text if {
	text := _admin_advice_text[code]
} else := "If it persists, a cluster admin should check vouch's logs."

_admin_advice_text := {
	"NO_SIGNATURE": "A cluster admin can exempt the image in the constraint's exemptImages if it need not be signed.",
	"NOT_VERIFIED": "A cluster admin should check that the constraint's provider is vouch.",
	"UNTRUSTED_SIGNER": concat(" ", [
		"If the signer should be trusted, a cluster admin can add its CA to the environment's trust store",
		"and its identity to the trust policy's trustedIdentities.",
	]),
	"INVALID_SIGNATURE": "",
	"EXPIRED": "",
	"REVOKED": "",
	"NO_TRUST_POLICY": "A cluster admin can add a trust policy statement whose registryScopes cover this repository.",
	"NOT_FOUND": "",
	"INVALID_REFERENCE": "",
	"UNKNOWN_ENVIRONMENT": concat(" ", [
		"A cluster admin should configure the environment in vouch",
		"or fix the constraint's environment mapping.",
	]),
	"REGISTRY_UNAVAILABLE": "If it persists, a cluster admin should check that vouch can reach the registry.",
	"REGISTRY_AUTH": "If it persists, a cluster admin should fix the registry's credentials in vouch's configuration.",
	"REGISTRY_NOT_ALLOWED": "A cluster admin can allow the registry in vouch's configuration if it should be.",
	"DEADLINE_EXCEEDED": "If it persists, a cluster admin should check the registry's latency and vouch's timeouts.",
	"SYSTEM_ERROR": "If it persists, a cluster admin should check the Provider resource and vouch's health.",
	"NO_ANSWER": "A cluster admin should check the constraint's provider name.",
	"PROVIDER_ERROR": "If it persists, a cluster admin should check vouch's logs.",
	"INTERNAL": "If it persists, a cluster admin should check vouch's logs.",
}

_list(x) := x if {
	is_array(x)
} else := []

_object(x) := x if {
	is_object(x)
} else := {}

_param(params, name, fallback) := params[name] if {
	params[name] != null
} else := fallback

_text(x) := x if {
	is_string(x)
} else := sprintf("%v", [x])

# x[name], or null where x has no such field or is no object (object.get would be a type error).
_get(x, name) := value if {
	value := x[name]
} else := null
