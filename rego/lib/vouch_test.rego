# Tests of lib.vouch. Answers are realistic VerificationResults (docs/api.md "VerificationResult")
# in the shapes Gatekeeper's external_data returns
# (https://open-policy-agent.github.io/gatekeeper/website/docs/externaldata/).
package lib.vouch_test

import data.lib.vouch

_digest := "sha256:9b2e4c0d3f7a1b6e8d5c2a9f0e3b7d1c4a6f8e2b5d9c0a3f7e1b4d8c2a6f9e0b"

_api := concat("@", ["ghcr.io/acme/api", _digest])

_prod_api := concat("", ["[prod]", _api])

_api_image := {"image": _api, "container": "api", "kind": "containers", "path": "spec.containers[0].image"}

_signer := "C=US, ST=WA, O=Acme Rockets, CN=release"

_verified_result(env, ref) := {
	"verified": true,
	"environment": env,
	"reference": ref,
	"digest": _digest,
	"signatures": [{
		"type": "notation",
		"digest": "sha256:4f1c8e2a9b3d7f0e6a5c1b8d2e9f3a7c0b4d6e8f1a2c3b5d7e9f0a1b2c3d4e5f",
		"verified": true,
		"trustPolicy": "prod-images",
		"signer": _signer,
		"signingTime": "2026-11-25T10:00:00Z",
		"reasons": [],
	}],
	"reasons": [],
}

_denied_result(env, ref, code, message) := {
	"verified": false,
	"environment": env,
	"reference": ref,
	"digest": _digest,
	"signatures": [{
		"type": "notation",
		"digest": "sha256:4f1c8e2a9b3d7f0e6a5c1b8d2e9f3a7c0b4d6e8f1a2c3b5d7e9f0a1b2c3d4e5f",
		"verified": false,
		"trustPolicy": "prod-images",
		"signer": _signer,
		"signingTime": "2026-11-25T10:00:00Z",
		"reasons": [{"code": code, "message": message}],
	}],
	"reasons": [{"code": code, "message": message}],
}

_img(image, container, kind, path) := {"image": image, "container": container, "kind": kind, "path": path}

_no_call := {"responses": [], "errors": [], "status_code": 0, "system_error": ""}

_response(responses, errors) := {"responses": responses, "errors": errors, "status_code": 200, "system_error": ""}

_expected(code, message, undecided) := {
	"image": _api,
	"environment": "prod",
	"key": _prod_api,
	"code": code,
	"message": message,
	"undecided": undecided,
	"container": "api",
	"path": "spec.containers[0].image",
}

# The one finding for _api in prod, given the provider's response.
_decide(response) := vouch.decision({_api_image}, "prod", vouch.answers(response), vouch.system_error(response), {})

_definitive(code, message) if {
	response := _response([[_prod_api, _denied_result("prod", _api, code, message)]], [])
	_decide(response) == {_expected(code, message, false)}
}

_undecided(code, message) if {
	response := _response([], [[_prod_api, sprintf("%s: %s", [code, message])]])
	_decide(response) == {_expected(code, message, true)}
}

# --- images/1 -------------------------------------------------------------------------------------

_pod := {
	"apiVersion": "v1",
	"kind": "Pod",
	"metadata": {"name": "api", "namespace": "payments"},
	"spec": {
		"initContainers": [{"name": "migrate", "image": "ghcr.io/acme/migrate:2.1.0"}],
		"containers": [
			{"name": "api", "image": _api},
			{"name": "sidecar", "image": "ghcr.io/acme/proxy:1.0"},
		],
		"ephemeralContainers": [{"name": "debug", "image": "ghcr.io/acme/tools/shell:1"}],
	},
}

test_images_of_a_pod_cover_all_container_kinds if {
	vouch.images(_pod) == {
		_img("ghcr.io/acme/migrate:2.1.0", "migrate", "initContainers", "spec.initContainers[0].image"),
		{"image": _api, "container": "api", "kind": "containers", "path": "spec.containers[0].image"},
		{"image": "ghcr.io/acme/proxy:1.0", "container": "sidecar", "kind": "containers", "path": "spec.containers[1].image"},
		{
			"image": "ghcr.io/acme/tools/shell:1", "container": "debug", "kind": "ephemeralContainers",
			"path": "spec.ephemeralContainers[0].image",
		},
	}
}

test_images_of_workloads_come_from_the_pod_template if {
	every kind in ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController"] {
		vouch.images({"kind": kind, "spec": {"template": {"spec": {
			"initContainers": [{"name": "init", "image": "ghcr.io/acme/init:1"}],
			"containers": [{"name": "web", "image": "ghcr.io/acme/web:3"}],
		}}}}) == {
			_img("ghcr.io/acme/init:1", "init", "initContainers", "spec.template.spec.initContainers[0].image"),
			_img("ghcr.io/acme/web:3", "web", "containers", "spec.template.spec.containers[0].image"),
		}
	}
}

test_images_of_a_cronjob_come_from_its_job_template if {
	cronjob := {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{
		"name": "report",
		"image": "ghcr.io/acme/report:0.9.0",
	}]}}}}}}
	vouch.images(cronjob) == {{
		"image": "ghcr.io/acme/report:0.9.0", "container": "report", "kind": "containers",
		"path": "spec.jobTemplate.spec.template.spec.containers[0].image",
	}}
}

test_images_of_a_pod_template if {
	template := {"kind": "PodTemplate", "template": {"spec": {"containers": [{"name": "c", "image": "ghcr.io/acme/c:1"}]}}}
	vouch.images(template) == {_img("ghcr.io/acme/c:1", "c", "containers", "template.spec.containers[0].image")}
}

test_images_tolerate_missing_lists_and_fields if {
	vouch.images({"kind": "Pod", "metadata": {"name": "empty"}}) == set()
	vouch.images({"kind": "Pod", "spec": {}}) == set()
	vouch.images({"kind": "Deployment", "spec": {"template": null}}) == set()
	vouch.images({"kind": "Pod", "spec": {"containers": null}}) == set()
	vouch.images({"kind": "Pod", "spec": {"containers": [{"name": "no-image"}]}}) == set()
}

test_images_of_other_kinds_are_empty if {
	vouch.images({"kind": "ConfigMap", "data": {"image": "ghcr.io/acme/api:1"}}) == set()
}

test_images_keep_the_same_image_in_two_containers if {
	pod := {"kind": "Pod", "spec": {"containers": [{"name": "a", "image": _api}, {"name": "b", "image": _api}]}}
	count(vouch.images(pod)) == 2
}

# --- environment/3 and key/2 ----------------------------------------------------------------------

_inventory := {"cluster": {"v1": {"Namespace": {
	"team-a": {"metadata": {"name": "team-a", "labels": {"vouch.example.com/environment": "dev"}}},
	"team-b": {"metadata": {"name": "team-b", "labels": {"owner": "b"}}},
}}}}

_env_params := {
	"environment": "staging",
	"namespaceEnvironments": {"payments": "prod", "team-a": "qa"},
	"environmentLabel": "vouch.example.com/environment",
}

test_environment_by_namespace_name if {
	vouch.environment(_env_params, "payments", _inventory) == "prod"
}

test_environment_by_name_wins_over_label if {
	vouch.environment(_env_params, "team-a", _inventory) == "qa"
}

test_environment_by_namespace_label if {
	params := object.remove(_env_params, ["namespaceEnvironments"])
	vouch.environment(params, "team-a", _inventory) == "dev"
}

test_environment_falls_back_to_the_parameter if {
	vouch.environment(_env_params, "team-b", _inventory) == "staging"
	vouch.environment(_env_params, "not-synced", _inventory) == "staging"
	vouch.environment(_env_params, "team-a", {}) == "qa"
	vouch.environment(object.remove(_env_params, ["namespaceEnvironments"]), "team-a", {}) == "staging"
}

test_environment_none_means_the_default_environment if {
	vouch.environment({}, "payments", _inventory) == ""
	vouch.environment({"environmentLabel": ""}, "team-a", _inventory) == ""
	vouch.environment({"namespaceEnvironments": {"payments": 7}}, "payments", _inventory) == ""
}

test_key_prefixes_the_environment if {
	vouch.key("prod", _api) == _prod_api
	vouch.key("", _api) == _api
}

# --- exempt/2 ------------------------------------------------------------------------------------

_exempt_params := {"exemptImages": ["registry.k8s.io/*", "ghcr.io/acme/tools/*", "docker.io/library/busybox:1.36"]}

test_exempt_globs_cross_slashes_and_dots if {
	vouch.exempt(_exempt_params, "registry.k8s.io/pause:3.10")
	vouch.exempt(_exempt_params, "registry.k8s.io/sig-storage/csi-provisioner:v5.0.1")
	vouch.exempt(_exempt_params, "ghcr.io/acme/tools/debug/shell@sha256:0123")
	vouch.exempt(_exempt_params, "docker.io/library/busybox:1.36")
}

test_exempt_needs_a_match if {
	not vouch.exempt(_exempt_params, _api)
	not vouch.exempt(_exempt_params, "docker.io/library/busybox:1.37")
	not vouch.exempt(_exempt_params, "evil.example/registry.k8s.io/pause:3.10")
	not vouch.exempt({}, "registry.k8s.io/pause:3.10")
	not vouch.exempt({"exemptImages": null}, "registry.k8s.io/pause:3.10")
}

test_exempt_ignores_an_invalid_glob if {
	not vouch.exempt({"exemptImages": ["registry.k8s.io/[pause"]}, "registry.k8s.io/[pause")
}

# --- answers/1, answers_from_items/1, parse_error/1, system_error/1 ------------------------------

test_answers_from_responses_and_errors if {
	value := _verified_result("prod", _api)
	error := "REGISTRY_AUTH: registry ghcr.io refused the credentials"
	response := _response([[_prod_api, value]], [["[prod]ghcr.io/acme/x:1", error]])
	vouch.answers(response) == {
		_prod_api: {"value": value},
		"[prod]ghcr.io/acme/x:1": {"error": {"code": "REGISTRY_AUTH", "message": "registry ghcr.io refused the credentials"}},
	}
}

test_answers_tolerate_null_and_missing_lists if {
	vouch.answers({"responses": null, "errors": null, "status_code": 500, "system_error": "failed to send"}) == {}
	vouch.answers({}) == {}
	vouch.answers(null) == {}
	vouch.answers({"responses": [["only-a-key"], "junk"], "errors": [[1, 2, 3]]}) == {}
}

test_answers_turn_conflicting_answers_into_an_error if {
	value := _verified_result("prod", _api)
	answers := vouch.answers(_response([[_prod_api, value]], [[_prod_api, "DEADLINE_EXCEEDED: too slow"]]))
	answers[_prod_api].error.code == "PROVIDER_ERROR"
	vouch.answers(_response([[_prod_api, value], [_prod_api, value]], [])) == {_prod_api: {"value": value}}
}

test_answers_from_items_have_the_same_shape if {
	value := _verified_result("prod", _api)
	items := [
		{"key": _prod_api, "value": value},
		{"key": "[prod]ghcr.io/acme/x:1", "error": "NOT_FOUND: manifest unknown"},
		{"key": "[prod]ghcr.io/acme/y:1", "value": "unexpected", "error": ""},
		{"key": "[prod]ghcr.io/acme/z:1"},
	]
	response := _response(
		[[_prod_api, value], ["[prod]ghcr.io/acme/y:1", "unexpected"], ["[prod]ghcr.io/acme/z:1", null]],
		[["[prod]ghcr.io/acme/x:1", "NOT_FOUND: manifest unknown"]],
	)
	vouch.answers_from_items(items) == vouch.answers(response)
	vouch.answers_from_items(null) == {}
	vouch.answers_from_items([{"value": value}, "junk"]) == {}
}

test_parse_error_knows_every_code if {
	every code in [
		"INVALID_REFERENCE", "UNKNOWN_ENVIRONMENT", "REGISTRY_UNAVAILABLE", "REGISTRY_AUTH", "REGISTRY_NOT_ALLOWED",
		"DEADLINE_EXCEEDED", "NOT_FOUND", "POLICY_ERROR", "PLUGIN_ERROR", "POLICY_DENIED", "INTERNAL",
	] {
		vouch.parse_error(sprintf("%s: detail: with colons", [code])) == {"code": code, "message": "detail: with colons"}
	}
}

test_parse_error_without_a_known_code if {
	vouch.parse_error("connection reset by peer") == {"code": "PROVIDER_ERROR", "message": "connection reset by peer"}
	vouch.parse_error("TIMEOUT: slow") == {"code": "PROVIDER_ERROR", "message": "TIMEOUT: slow"}
	vouch.parse_error(": nothing") == {"code": "PROVIDER_ERROR", "message": ": nothing"}
	vouch.parse_error(42) == {"code": "PROVIDER_ERROR", "message": "42"}
}

test_undecided_keys_reads_only_the_undecided_document if {
	entries := [{"key": "[prod]a:1", "error": "DEADLINE_EXCEEDED: late"}, {"key": 7, "error": "x"}]
	doc := json.marshal({"undecided": entries})
	vouch.undecided_keys(doc) == {"[prod]a:1": {"error": {"code": "DEADLINE_EXCEEDED", "message": "late"}}}
	not vouch.undecided_keys("failed to send external data request")
	not vouch.undecided_keys("{\"undecided\": 1}")
	not vouch.undecided_keys("")
	not vouch.undecided_keys(null)
}

test_system_error_is_a_string if {
	vouch.system_error({"system_error": "failed to send external data request"}) == "failed to send external data request"
	vouch.system_error({"system_error": ""}) == ""
	vouch.system_error({"system_error": null}) == ""
	vouch.system_error({}) == ""
	vouch.system_error({"system_error": 500}) == "500"
}

# --- verify/2 ------------------------------------------------------------------------------------

_echo(request) := {"responses": [], "errors": [], "status_code": 200, "system_error": "", "request": request}

test_verify_calls_once_with_sorted_unique_keys if {
	response := vouch.verify("vouch", ["[prod]b:1", "[prod]a:1", "[prod]b:1"]) with external_data as _echo
	response.request == {"provider": "vouch", "keys": ["[prod]a:1", "[prod]b:1"]}
}

test_verify_skips_the_call_without_keys if {
	vouch.verify("vouch", []) == _no_call with external_data as _echo
	vouch.verify("vouch", set()) == _no_call with external_data as _echo
}
