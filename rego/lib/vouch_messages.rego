# The messages of lib.vouch (vouch.rego holds images, environments, keys and the decision): what a
# person whose Pod was denied reads, and the advice for cluster admins kept apart in details.
package lib.vouch

# METADATA
# description: |
#   The violation for one finding of decision/5: {"msg", "details"}. msg is for the person whose
#   Pod was denied: the image as written in the spec and its container, the environment once, what
#   vouch found (the signers of the signatures it saw), what to do, and the code last. details is
#   the finding plus "signers" (deduplicated, sorted, at most 10), "check" and "detail" (from the
#   answer's first reason, docs/api.md "VerificationResult"), "advice" (for the Pod's author) and "admin_advice"
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
	_headline(["vouch could not check image ", " for "], finding, facts),
	[facts.advice, facts.admin_advice], finding.code,
) if {
	finding.undecided == true
	not _refusal_codes[finding.code]
} else := _sentences(
	_headline(["image ", " is not allowed in "], finding, facts),
	[facts.advice, facts.admin_advice], finding.code,
) if {
	finding.undecided == true
} else := _sentences(
	_headline(["image ", " is not allowed in "], finding, facts),
	[facts.advice], finding.code,
)

# Errors that are decided, not temporary: vouch will not check such an image however often the Pod is
# submitted (Gatekeeper caches them too), so the headline must not read as "try again".
_refusal_codes := {"INVALID_REFERENCE", "UNKNOWN_ENVIRONMENT", "REGISTRY_NOT_ALLOWED"}

# "<lead>"image"<where><verb><environment>: <problem>."
_headline(words, finding, facts) := concat("", [
	words[0], _quote(finding.image), _where(finding), words[1],
	_env_text(finding.environment), ": ", _problem(finding.code, facts), ".",
])

_sentences(first, more, code) := concat("", [
	concat(" ", array.concat([first], [m | some m in more; m != ""])),
	" (", code, ")",
])

# vouch's text without the provider key (the image is named already) or a trailing full stop.
_clean(finding, text) := trim_right(replace(text, _text(object.get(finding, "key", "")), finding.image), ". ") if {
	object.get(finding, "key", "") != ""
} else := trim_right(text, ". ")

_string_or(x, fallback) := x if {
	is_string(x)
	x != ""
} else := fallback

_where(finding) := concat("", [" in ", kind, " ", _quote(finding.container)]) if {
	finding.container != ""
	kind := _container_kind(object.get(finding, "path", ""))
} else := ""

_container_kind(path) := "init container" if {
	contains(path, "initContainers[")
} else := "ephemeral container" if {
	contains(path, "ephemeralContainers[")
} else := "container"

_env_text(env) := "the default environment" if {
	env == ""
} else := concat("", ["environment ", _quote(env)])

# What vouch found, per code (and check, where one code has several causes).
_problem(code, facts) := concat("", ["it is signed by ", _signer_text(facts), ", not by a signer trusted there"]) if {
	code == "UNTRUSTED_SIGNER"
	facts.signer_count > 0
} else := concat("", [_fill(_problem_template(code, facts.check), facts.detail), _signed_by(code, facts)])

_problem_template(code, check) := text if {
	text := _problem_by_check[code][check]
} else := text if {
	text := _problem_text[code]
} else := "%s"

_fill(template, detail) := replace(template, "%s", detail) if {
	contains(template, "%s")
} else := template

# Who signed what was seen, where the message is about a signature that failed.
_signed_by(code, facts) := concat("", ["; it is signed by ", _signer_text(facts)]) if {
	code in {"INVALID_SIGNATURE", "EXPIRED", "REVOKED"}
	facts.signer_count > 0
} else := ""

# "A", "A" and "B", "A", "B" and "C", "A", "B", "C" and 2 more.
_signer_text(facts) := _quote(facts.signers[0]) if {
	facts.signer_count == 1
} else := concat("", [_quoted(array.slice(facts.signers, 0, n - 1)), " and ", _quote(facts.signers[n - 1])]) if {
	n := facts.signer_count
	n <= 3
} else := concat("", [
	_quoted(array.slice(facts.signers, 0, 3)), " and ",
	format_int(facts.signer_count - 3, 10), " more",
])

_quoted(list) := concat(", ", [_quote(s) | some s in list])

_problem_text := {
	"NO_SIGNATURE": "it has no Notary Project signature",
	"NOT_VERIFIED": "vouch's answer does not say it is verified",
	"UNTRUSTED_SIGNER": "none of its signatures is from a signer trusted there",
	"INVALID_SIGNATURE": "its signature is not valid: %s",
	"EXPIRED": "its signature is no longer valid: %s",
	"REVOKED": "its signature is no longer valid: %s",
	"NO_TRUST_POLICY": "no trust policy there covers its repository",
	"NOT_FOUND": "the registry has no such image: %s",
	"POLICY_DENIED": "the environment's decision policy denies it: %s",
	"INVALID_REFERENCE": "it is not a valid image reference: %s",
	"UNKNOWN_ENVIRONMENT": "vouch has no such environment",
	"REGISTRY_UNAVAILABLE": "its registry could not be reached: %s",
	"REGISTRY_AUTH": "its registry refused vouch access (credentials missing or refused): %s",
	"REGISTRY_NOT_ALLOWED": "vouch is not allowed to contact its registry",
	"DEADLINE_EXCEEDED": "vouch did not finish in time and goes on checking in the background",
	"POLICY_ERROR": "the environment's decision policy could not be evaluated: %s",
	"PLUGIN_ERROR": "a Notary Project plugin its signature needs gave no usable answer: %s",
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
	"POLICY_DENIED": "Give the image what the environment's policy asks for (signatures, attached artifacts).",
	"INVALID_REFERENCE": "Fix the image reference.",
	"UNKNOWN_ENVIRONMENT": "This is not a verdict on the image; retrying will not help.",
	"REGISTRY_UNAVAILABLE": "This is not a verdict on the image; retry shortly.",
	"REGISTRY_AUTH": "This is not a verdict on the image; retry later.",
	"REGISTRY_NOT_ALLOWED": "Use an image from a registry vouch may contact.",
	"DEADLINE_EXCEEDED": "This is not a verdict on the image; retry shortly.",
	"POLICY_ERROR": "This is not a verdict on the image; retry shortly.",
	"PLUGIN_ERROR": "This is not a verdict on the image; retry shortly.",
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
	"POLICY_DENIED": "A cluster admin can review the environment's decision policy (policy: in vouch's configuration).",
	"INVALID_REFERENCE": "",
	"UNKNOWN_ENVIRONMENT": concat(" ", [
		"A cluster admin should configure the environment in vouch",
		"or fix the constraint's environment mapping.",
	]),
	"REGISTRY_UNAVAILABLE": "If it persists, a cluster admin should check that vouch can reach the registry.",
	"REGISTRY_AUTH": "If it persists, a cluster admin should fix the registry's credentials in vouch's configuration.",
	"REGISTRY_NOT_ALLOWED": "A cluster admin can allow the registry in vouch's configuration if it should be.",
	"DEADLINE_EXCEEDED": "If it persists, a cluster admin should check the registry's latency and vouch's timeouts.",
	"POLICY_ERROR": "If it persists, a cluster admin should check the environment's decision policy and vouch's logs.",
	"PLUGIN_ERROR": concat(" ", [
		"If it persists, a cluster admin should check the plugin the message names",
		"(plugins: in vouch's configuration) and vouch's logs.",
	]),
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

# x[name], or null where x has no such field or is no object (object.get would be a type error).
_get(x, name) := value if {
	value := x[name]
} else := null
