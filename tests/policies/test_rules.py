"""The pack's checks, called directly on good and bad objects.

Objects are built the way the engine hands them to a policy: camelCase keys behind
pulumi_policy's unknown-checking proxies (Mappings, not dicts) — see ``proxied``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_policy.proxy import (
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_STRING_VALUE,
    unknown_checking_proxy,
)

from components import constants as cc
from components.gke.machines import _NOT_SUPPORTED, SUPPORTED_SERIES
from policies import constants as pc
from policies import rules

SANDBOX = cc.SANDBOX_TYPE
TEMPLATE = cc.SANDBOX_TEMPLATE_TYPE
ALLOWED = cc.ALLOWED_RUNTIME_CLASSES
NAMESPACES = ("agent-sandboxes",)


def proxied(obj: dict[str, Any]) -> Any:
    return unknown_checking_proxy(copy.deepcopy(obj))


def hardened_container(name: str = "sandbox") -> dict[str, Any]:
    return {
        "name": name,
        "image": "python:3.12-slim",
        "securityContext": {
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
    }


def pod_spec(runtime_class: Any = "kata-qemu", **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "containers": [hardened_container()],
    }
    if runtime_class is not ...:
        spec["runtimeClassName"] = runtime_class
    spec.update(extra)
    return spec


def sandbox(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": cc.SANDBOX_API_VERSION,
        "kind": cc.KIND_SANDBOX,
        "metadata": {"name": "s", "namespace": "agent-sandboxes"},
        "spec": {"podTemplate": {"spec": spec}},
    }


def workload(kind: str, spec: dict[str, Any], namespace: str | None) -> tuple[str, dict]:
    meta = {"name": "w", **({"namespace": namespace} if namespace else {})}
    if kind == "Pod":
        return "kubernetes:core/v1:Pod", {"metadata": meta, "spec": spec}
    if kind == "CronJob":
        body = {"jobTemplate": {"spec": {"template": {"spec": spec}}}, "schedule": "* * * * *"}
        return "kubernetes:batch/v1:CronJob", {"metadata": meta, "spec": body}
    group = "batch/v1" if kind == "Job" else "apps/v1"
    return f"kubernetes:{group}:{kind}", {"metadata": meta, "spec": {"template": {"spec": spec}}}


# ---------------------------------------------------------------------------------------------
# runtime class on Sandbox and SandboxTemplate
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("type_", [SANDBOX, TEMPLATE])
@pytest.mark.parametrize("rc", ALLOWED)
def test_every_allowed_class_passes_both_runtime_class_rules(type_: str, rc: str) -> None:
    props = proxied(sandbox(pod_spec(rc)))
    assert rules.sandbox_runtime_class_required(type_, props) == []
    assert rules.sandbox_runtime_class_allowed(type_, props, ALLOWED) == []


@pytest.mark.parametrize("type_", [SANDBOX, TEMPLATE])
@pytest.mark.parametrize(
    ("rc", "why"),
    [(..., "not set"), (None, "not set"), ("", "''"), ("   ", "'   '"), ("\t", "'\\t'")],
    ids=["missing", "null", "empty", "spaces", "tab"],
)
def test_missing_or_blank_runtime_class_is_required(type_: str, rc: Any, why: str) -> None:
    props = proxied(sandbox(pod_spec(rc)))
    (message,) = rules.sandbox_runtime_class_required(type_, props)
    assert "spec.podTemplate.spec.runtimeClassName" in message
    assert why in message
    # Missing is one problem, reported once: the allowlist rule leaves it alone.
    assert rules.sandbox_runtime_class_allowed(type_, props, ALLOWED) == []


@pytest.mark.parametrize("type_", [SANDBOX, TEMPLATE])
@pytest.mark.parametrize("rc", ["runc", "kata", "Kata-Qemu", "gvisor-debug", " kata-qemu"])
def test_classes_outside_the_allowlist_are_refused(type_: str, rc: str) -> None:
    props = proxied(sandbox(pod_spec(rc)))
    assert rules.sandbox_runtime_class_required(type_, props) == []
    (message,) = rules.sandbox_runtime_class_allowed(type_, props, ALLOWED)
    assert f"'{rc}'" in message and "kata-qemu" in message


def test_the_allowlist_is_the_callers() -> None:
    props = proxied(sandbox(pod_spec("kata-qemu")))
    assert rules.sandbox_runtime_class_allowed(SANDBOX, props, ["gvisor"]) != []
    assert rules.sandbox_runtime_class_allowed(SANDBOX, props, ["kata-qemu"]) == []


def test_non_string_runtime_class_is_a_violation() -> None:
    props = proxied(sandbox(pod_spec(7)))
    assert "must be a string" in rules.sandbox_runtime_class_required(SANDBOX, props)[0]


def test_a_sandbox_without_a_pod_spec_is_a_violation() -> None:
    props = proxied({"spec": {"podTemplate": {}}})
    assert rules.sandbox_runtime_class_required(SANDBOX, props) != []


def test_other_kinds_are_not_sandboxes() -> None:
    props = proxied(sandbox(pod_spec(...)))
    for type_ in (cc.SANDBOX_CLAIM_TYPE, cc.SANDBOX_WARM_POOL_TYPE, "kubernetes:core/v1:Pod"):
        assert rules.sandbox_runtime_class_required(type_, props) == []


# ---------------------------------------------------------------------------------------------
# unknown values during preview
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "spec",
    [
        pod_spec(UNKNOWN_STRING_VALUE),
        {
            "containers": UNKNOWN_ARRAY_VALUE,
            "runtimeClassName": UNKNOWN_STRING_VALUE,
            "automountServiceAccountToken": False,
        },
        {
            "runtimeClassName": UNKNOWN_STRING_VALUE,
            "automountServiceAccountToken": UNKNOWN_BOOLEAN_VALUE,
            "containers": [
                {
                    "name": "c",
                    "securityContext": UNKNOWN_STRING_VALUE,
                    "resources": {"limits": UNKNOWN_STRING_VALUE},
                }
            ],
            "volumes": UNKNOWN_ARRAY_VALUE,
        },
    ],
    ids=["runtime-class", "containers", "everything"],
)
def test_unknown_values_are_skipped_not_crashed_on(spec: dict[str, Any]) -> None:
    # The proxies raise UnknownValueError on access; the rules must absorb it.
    props = proxied(sandbox(spec))
    assert rules.sandbox_runtime_class_required(SANDBOX, props) == []
    assert rules.sandbox_runtime_class_allowed(SANDBOX, props, ALLOWED) == []
    assert rules.sandbox_pod_hardening(SANDBOX, props, NAMESPACES) == []


def test_an_unknown_pod_template_is_skipped() -> None:
    props = proxied({"spec": {"podTemplate": UNKNOWN_STRING_VALUE}})
    assert rules.sandbox_runtime_class_required(SANDBOX, props) == []
    assert rules.sandbox_pod_hardening(SANDBOX, props, NAMESPACES) == []


def test_raw_sentinels_count_as_unknown_too() -> None:
    raw = sandbox(pod_spec(UNKNOWN_STRING_VALUE))
    assert rules.sandbox_runtime_class_required(SANDBOX, raw) == []


def test_known_parts_are_still_checked_next_to_unknown_ones() -> None:
    spec = pod_spec(UNKNOWN_STRING_VALUE, hostNetwork=True)
    assert any(
        "hostNetwork" in m
        for m in rules.sandbox_pod_hardening(SANDBOX, proxied(sandbox(spec)), NAMESPACES)
    )


# ---------------------------------------------------------------------------------------------
# pods and pod-owning workloads in sandbox namespaces
# ---------------------------------------------------------------------------------------------
KINDS = ["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"]


@pytest.mark.parametrize("kind", KINDS)
def test_workloads_in_sandbox_namespaces_need_an_allowed_class(kind: str) -> None:
    type_, good = workload(kind, pod_spec("kata-clh"), "agent-sandboxes")
    assert rules.workload_runtime_class_required(type_, proxied(good), NAMESPACES) == []
    assert rules.workload_runtime_class_allowed(type_, proxied(good), NAMESPACES, ALLOWED) == []
    assert rules.sandbox_pod_hardening(type_, proxied(good), NAMESPACES) == []

    _, missing = workload(kind, pod_spec(...), "agent-sandboxes")
    assert rules.workload_runtime_class_required(type_, proxied(missing), NAMESPACES) != []
    _, runc = workload(kind, pod_spec("runc"), "agent-sandboxes")
    assert rules.workload_runtime_class_allowed(type_, proxied(runc), NAMESPACES, ALLOWED) != []


@pytest.mark.parametrize("kind", KINDS)
def test_workloads_elsewhere_are_not_sandboxes(kind: str) -> None:
    type_, props = workload(kind, pod_spec(..., hostNetwork=True), "agent-sandbox-system")
    assert rules.workload_runtime_class_required(type_, proxied(props), NAMESPACES) == []
    assert rules.sandbox_pod_hardening(type_, proxied(props), NAMESPACES) == []


def test_a_workload_without_namespace_lives_in_the_providers_default() -> None:
    type_, props = workload("Deployment", pod_spec(...), None)
    assert rules.workload_runtime_class_required(type_, proxied(props), ["default"]) != []
    assert rules.workload_runtime_class_required(type_, proxied(props), NAMESPACES) == []
    assert (
        rules.workload_runtime_class_required(
            type_, proxied(props), NAMESPACES, default_namespace="agent-sandboxes"
        )
        != []
    )


def test_a_workload_in_an_unknown_namespace_is_skipped() -> None:
    type_, props = workload("Pod", pod_spec(...), UNKNOWN_STRING_VALUE)
    assert rules.workload_runtime_class_required(type_, proxied(props), NAMESPACES) == []


# ---------------------------------------------------------------------------------------------
# hardening
# ---------------------------------------------------------------------------------------------
def _hardening(spec: dict[str, Any]) -> list[str]:
    return rules.sandbox_pod_hardening(TEMPLATE, proxied(sandbox(spec)), NAMESPACES)


def test_a_hardened_pod_passes() -> None:
    spec = pod_spec(initContainers=[hardened_container("init")])
    spec["volumes"] = [{"name": "work", "persistentVolumeClaim": {"claimName": "w"}}]
    assert _hardening(spec) == []


@pytest.mark.parametrize(
    ("mutate", "expect"),
    [
        (lambda s: s["containers"][0]["securityContext"].update(privileged=True), "privileged"),
        (
            lambda s: s.update(
                initContainers=[
                    {
                        **hardened_container("i"),
                        "securityContext": {
                            "privileged": True,
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }
                ]
            ),
            "initContainers[0] ('i') is privileged",
        ),
        (lambda s: s.update(hostNetwork=True), "hostNetwork"),
        (lambda s: s.update(hostPID=True), "hostPID"),
        (lambda s: s.update(hostIPC=True), "hostIPC"),
        (
            lambda s: s.update(volumes=[{"name": "sock", "hostPath": {"path": "/var/run"}}]),
            "hostPath",
        ),
        (
            lambda s: s["containers"][0]["securityContext"].pop("allowPrivilegeEscalation"),
            "allowPrivilegeEscalation",
        ),
        (
            lambda s: s["containers"][0]["securityContext"].update(allowPrivilegeEscalation=True),
            "allowPrivilegeEscalation",
        ),
        (
            lambda s: s["containers"][0]["securityContext"].update(
                capabilities={"drop": ["NET_RAW"]}
            ),
            "drop all capabilities",
        ),
        (lambda s: s["containers"][0].pop("securityContext"), "allowPrivilegeEscalation"),
        (lambda s: s["containers"][0]["resources"]["limits"].pop("memory"), "no memory limit"),
        (lambda s: s["containers"][0].pop("resources"), "no cpu or memory limit"),
        (lambda s: s.pop("automountServiceAccountToken"), "automountServiceAccountToken"),
        (lambda s: s.update(automountServiceAccountToken=True), "automountServiceAccountToken"),
        (
            lambda s: s.update(ephemeralContainers=[{"name": "dbg", "image": "busybox"}]),
            "ephemeralContainers[0] ('dbg') must set securityContext.allowPrivilegeEscalation",
        ),
        # the admission backstop's further checks (components/isolation/admission.py)
        (
            lambda s: s["containers"][0].update(ports=[{"containerPort": 22, "hostPort": 22}]),
            "binds host port 22",
        ),
        (
            lambda s: s["containers"][0]["securityContext"]["capabilities"].update(
                add=["SYS_ADMIN"]
            ),
            "adds SYS_ADMIN, beyond the Pod Security baseline",
        ),
        (lambda s: s.update(serviceAccountName="agent-runner"), "serviceAccountName"),
        (
            lambda s: s.update(
                volumes=[
                    {
                        "name": "t",
                        "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]},
                    }
                ]
            ),
            "projects a service-account token",
        ),
        (
            lambda s: s.update(securityContext={"seccompProfile": {"type": "Unconfined"}}),
            "seccompProfile is Unconfined",
        ),
        (
            lambda s: s["containers"][0]["securityContext"].update(
                appArmorProfile={"type": "Unconfined"}
            ),
            "appArmorProfile is Unconfined",
        ),
        (
            lambda s: s["containers"][0]["securityContext"].update(procMount="Unmasked"),
            "procMount: Unmasked",
        ),
        (
            lambda s: s.update(
                securityContext={"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}
            ),
            "kernel.msgmax, beyond the Pod Security baseline's safe sysctls",
        ),
    ],
    ids=[
        "privileged",
        "privileged-init",
        "hostNetwork",
        "hostPID",
        "hostIPC",
        "hostPath",
        "escalation-unset",
        "escalation-true",
        "capabilities",
        "no-security-context",
        "memory-limit",
        "no-limits",
        "token-unset",
        "token-true",
        "ephemeral",
        "host-port",
        "sys-admin",
        "service-account",
        "projected-token",
        "seccomp-unconfined",
        "apparmor-unconfined",
        "proc-mount",
        "unsafe-sysctl",
    ],
)
def test_each_hardening_gap_is_reported(mutate: Any, expect: str) -> None:
    spec = pod_spec()
    mutate(spec)
    messages = _hardening(spec)
    assert any(expect in m for m in messages), messages


def test_kata_annotations_on_the_pod_template_are_reported() -> None:
    obj = sandbox(pod_spec())
    obj["spec"]["podTemplate"]["metadata"] = {
        "annotations": {"io.katacontainers.config.hypervisor.kernel_params": "init=/bin/sh"}
    }
    messages = rules.sandbox_pod_hardening(TEMPLATE, proxied(obj), NAMESPACES)
    assert [m for m in messages if "spec.podTemplate.metadata.annotations has io.kata" in m]
    obj["spec"]["podTemplate"]["metadata"] = {"annotations": {"example.com/x": "y"}}
    assert rules.sandbox_pod_hardening(TEMPLATE, proxied(obj), NAMESPACES) == []


def test_ephemeral_containers_need_no_limits() -> None:
    spec = pod_spec(ephemeralContainers=[{**hardened_container("dbg"), "resources": {}}])
    assert _hardening(spec) == []


# ---------------------------------------------------------------------------------------------
# the Kata node pool
# ---------------------------------------------------------------------------------------------
def kata_pool(**node: Any) -> dict[str, Any]:
    config = {
        "machineType": "n2-standard-8",
        "imageType": "UBUNTU_CONTAINERD",
        "advancedMachineFeatures": {"threadsPerCore": 2, "enableNestedVirtualization": True},
        "labels": {cc.SANDBOX_POOL_LABEL: cc.SANDBOX_POOL_LABEL_VALUE},
        "taints": [{"key": cc.SANDBOX_POOL_TAINT_KEY, "value": "true", "effect": "NO_SCHEDULE"}],
    }
    config.update(node)
    return {"nodeConfig": {k: v for k, v in config.items() if v is not None}}


POOL = "gcp:container/nodePool:NodePool"


def test_a_kata_ready_pool_passes() -> None:
    assert rules.kata_node_pool(POOL, proxied(kata_pool())) == []


@pytest.mark.parametrize(
    ("node", "expect"),
    [
        ({"advancedMachineFeatures": {"threadsPerCore": 2}}, "enableNestedVirtualization"),
        ({"imageType": "COS_CONTAINERD"}, "imageType is 'COS_CONTAINERD'"),
        ({"imageType": None}, "imageType is not set"),
        ({"machineType": "e2-standard-8"}, "'e2-standard-8' cannot nest"),
        ({"machineType": "n2d-standard-8"}, "N2D"),
        ({"machineType": "t2a-standard-8"}, "T2A"),
        ({"machineType": None}, "machineType is not set"),
        ({"machineType": "n1-standard-8"}, "Intel Haswell"),
        ({"machineType": "custom-8-32768"}, "Intel Haswell"),
        ({"machineType": "n1-standard-8", "minCpuPlatform": "Intel Ivy Bridge"}, "Haswell"),
    ],
)
def test_a_pool_that_cannot_run_kata_is_caught(node: dict[str, Any], expect: str) -> None:
    messages = rules.kata_node_pool(POOL, proxied(kata_pool(**node)))
    assert any(expect in m for m in messages), messages


@pytest.mark.parametrize(
    "series", [*SUPPORTED_SERIES, *_NOT_SUPPORTED], ids=[*SUPPORTED_SERIES, *_NOT_SUPPORTED]
)
def test_the_machine_table_agrees_with_the_programs(series: str) -> None:
    node = {"machineType": f"{series}-standard-8", "minCpuPlatform": "Intel Skylake"}
    ok = rules.kata_node_pool(POOL, proxied(kata_pool(**node))) == []
    assert ok == (series in SUPPORTED_SERIES)


@pytest.mark.parametrize(
    "pool",
    [
        # The system pool: no sandbox label, taint or nested virtualization.
        {
            "nodeConfig": {
                "machineType": "e2-standard-4",
                "labels": {cc.SANDBOX_POOL_LABEL: "system"},
            }
        },
        # A GKE Sandbox (gVisor) pool keeps our label but runs COS without nesting.
        kata_pool(
            machineType="e2-standard-8",
            imageType="COS_CONTAINERD",
            advancedMachineFeatures=None,
            taints=None,
            sandboxConfig={"type": "GVISOR"},
        ),
    ],
    ids=["system-pool", "gvisor-pool"],
)
def test_pools_that_do_not_serve_kata_are_left_alone(pool: dict[str, Any]) -> None:
    assert rules.kata_node_pool(POOL, proxied(pool)) == []


@pytest.mark.parametrize(
    "node",
    [
        {"labels": {cc.SANDBOX_POOL_LABEL: cc.SANDBOX_POOL_LABEL_VALUE}},
        {"taints": [{"key": cc.SANDBOX_POOL_TAINT_KEY, "value": "true"}]},
        {"advancedMachineFeatures": {"threadsPerCore": 1}},
    ],
    ids=["label", "taint", "advanced-machine-features"],
)
def test_any_kata_marker_makes_a_pool_a_kata_pool(node: dict[str, Any]) -> None:
    pool = {"nodeConfig": {"machineType": "e2-standard-8", **node}}
    assert rules.kata_node_pool(POOL, proxied(pool)) != []


def test_an_unknown_node_config_is_skipped() -> None:
    assert rules.kata_node_pool(POOL, proxied({"nodeConfig": UNKNOWN_STRING_VALUE})) == []
    pool = kata_pool(imageType=UNKNOWN_STRING_VALUE, machineType=UNKNOWN_STRING_VALUE)
    assert rules.kata_node_pool(POOL, proxied(pool)) == []


# ---------------------------------------------------------------------------------------------
# router, images, gateway timeout
# ---------------------------------------------------------------------------------------------
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def router(env: list[dict[str, Any]], image: str = "r.example/router@sha256:" + "a" * 64) -> dict:
    return {
        "metadata": {"name": "sandbox-router", "labels": dict(cc.ROUTER_APP_LABEL)},
        "spec": {
            "template": {
                "metadata": {"labels": dict(cc.ROUTER_APP_LABEL)},
                "spec": {"containers": [{"name": "router", "image": image, "env": env}]},
            }
        },
    }


TOKEN = {"name": "ROUTER_AUTH_TOKEN", "valueFrom": {"secretKeyRef": {"name": "t", "key": "k"}}}


def test_an_authenticated_router_passes() -> None:
    assert rules.router_authentication_required(DEPLOYMENT, proxied(router([TOKEN]))) == []
    off = {"name": "ALLOW_UNAUTHENTICATED_ROUTER", "value": "false"}
    assert rules.router_authentication_required(DEPLOYMENT, proxied(router([off]))) == []


@pytest.mark.parametrize("value", ["true", "True", " TRUE "])
def test_an_unauthenticated_router_is_caught(value: str) -> None:
    env = [{"name": "ALLOW_UNAUTHENTICATED_ROUTER", "value": value}]
    (message,) = rules.router_authentication_required(DEPLOYMENT, proxied(router(env)))
    assert "ALLOW_UNAUTHENTICATED_ROUTER" in message


def go_router(upstream: Path, *extra_args: str) -> dict[str, Any]:
    """Upstream's Go router Deployment (go-sandbox-router-deploy), as a platform would label it."""
    path = upstream / "agent-sandbox/examples/go-sandbox-router-deploy/deployment.yaml"
    deployment = yaml.safe_load(path.read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    container["args"] = [*container.get("args", []), *extra_args]
    deployment["metadata"]["labels"] = dict(cc.ROUTER_APP_LABEL)
    deployment["spec"]["template"]["metadata"]["labels"] = dict(cc.ROUTER_APP_LABEL)
    return dict(deployment)


def test_the_go_router_as_upstream_deploys_it_is_open(upstream: Path) -> None:
    """Its image reads no ROUTER_AUTH_TOKEN, and upstream's Deployment sets no --authz-mode
    (default allow-all): the rule must not pass it for lack of ALLOW_UNAUTHENTICATED_ROUTER."""
    (message,) = rules.router_authentication_required(DEPLOYMENT, proxied(go_router(upstream)))
    assert "--authz-mode=allow-all" in message


@pytest.mark.parametrize(
    ("args", "ok"),
    [
        (("--authz-mode=scoped-token", "--authz-scoped-token-secret-file=/s/key"), True),
        (("--authz-mode", "scoped-token"), True),
        (("--authz-mode=tokenreview", "--authz-tokenreview-require-token=true"), True),
        (("--authz-mode=tokenreview",), False),  # tokenless requests still pass
        (("--authz-mode=allow-all",), False),
    ],
)
def test_the_go_router_needs_an_enforcing_authz_mode(
    upstream: Path, args: tuple[str, ...], ok: bool
) -> None:
    violations = rules.router_authentication_required(
        DEPLOYMENT, proxied(go_router(upstream, *args))
    )
    assert (violations == []) is ok, violations


def test_go_router_flags_are_upstreams(upstream: Path) -> None:
    folder = upstream / "agent-sandbox/examples/go-sandbox-router-deploy"
    text = "".join(p.read_text() for p in folder.iterdir())
    assert f"{pc.GO_ROUTER_AUTHZ_FLAG}=tokenreview" in text
    assert f"{pc.GO_ROUTER_AUTHZ_FLAG}=allow-all" in text
    assert f"/{pc.GO_ROUTER_IMAGE_NAME}:" in text


def test_only_the_router_is_a_router() -> None:
    other = router([{"name": "ALLOW_UNAUTHENTICATED_ROUTER", "value": "true"}])
    other["metadata"]["labels"] = {"app": "something-else"}
    other["spec"]["template"]["metadata"]["labels"] = {"app": "something-else"}
    assert rules.router_authentication_required(DEPLOYMENT, proxied(other)) == []


def controller(image: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "c", "namespace": cc.AGENT_SANDBOX_NAMESPACE},
        "spec": {"template": {"spec": {"containers": [{"name": "manager", "image": image}]}}},
    }


@pytest.mark.parametrize(
    ("props", "pinned"),
    [
        (router([TOKEN], image=cc.ROUTER_DEFAULT_IMAGE), False),
        (router([TOKEN]), True),
        (controller(f"{cc.CONTROLLER_IMAGE_REPOSITORY}:v1.0.3"), False),
        (
            controller("mirror.example.com/k8s/agent-sandbox/agent-sandbox-controller:v1.0.3"),
            False,
        ),
        (controller(f"{cc.CONTROLLER_IMAGE_REPOSITORY}@sha256:{'b' * 64}"), True),
    ],
    ids=[
        "router-tag",
        "router-digest",
        "controller-tag",
        "mirrored-controller-tag",
        "controller-digest",
    ],
)
def test_controller_and_router_images_must_be_pinned(props: dict, pinned: bool) -> None:
    messages = rules.images_pinned_by_digest(DEPLOYMENT, proxied(props))
    assert (messages == []) == pinned


def test_other_images_are_not_this_rules_business() -> None:
    assert rules.images_pinned_by_digest(DEPLOYMENT, proxied(controller("nginx:latest"))) == []


BACKEND_POLICY = "kubernetes:networking.gke.io/v1:GCPBackendPolicy"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"


def backend_policy(timeout: Any) -> dict[str, Any]:
    default = {} if timeout is None else {"timeoutSec": timeout}
    return {
        "spec": {
            "default": default,
            "targetRef": {"group": "", "kind": "Service", "name": cc.ROUTER_SERVICE_NAME},
        }
    }


ROUTE_PROPS = {
    "spec": {"rules": [{"backendRefs": [{"name": cc.ROUTER_SERVICE_NAME, "port": 8080}]}]}
}


def stack(*resources: tuple[str, dict[str, Any]]) -> list[rules.StackResource]:
    return [rules.StackResource(t, proxied(p), f"urn:{i}") for i, (t, p) in enumerate(resources)]


@pytest.mark.parametrize(
    ("router_timeout", "backend_timeout", "ok"),
    [
        (None, 180, True),  # the router's default is 180 s
        (None, 179, False),
        ("600", 600, True),
        ("600", 180, False),
        (None, None, False),  # GCP's 30 s default
        ("20", None, True),
    ],
)
def test_the_gateway_timeout_must_cover_the_routers(
    router_timeout: str | None, backend_timeout: int | None, ok: bool
) -> None:
    env = [TOKEN]
    if router_timeout is not None:
        env.append({"name": "PROXY_TIMEOUT_SECONDS", "value": router_timeout})
    found = rules.gateway_timeout_covers_router(
        stack((DEPLOYMENT, router(env)), (BACKEND_POLICY, backend_policy(backend_timeout)))
    )
    assert (found == []) == ok
    if not ok:
        assert found[0].urn == "urn:1" and "below the router's" in found[0].message


def test_a_route_to_the_router_without_any_backend_policy_gets_30_seconds() -> None:
    (found,) = rules.gateway_timeout_covers_router(
        stack((DEPLOYMENT, router([TOKEN])), (ROUTE, ROUTE_PROPS))
    )
    assert found.urn == "urn:1" and "30 s" in found.message


def test_no_router_or_no_route_means_nothing_to_check() -> None:
    assert rules.gateway_timeout_covers_router(stack((ROUTE, ROUTE_PROPS))) == []
    assert rules.gateway_timeout_covers_router(stack((DEPLOYMENT, router([TOKEN])))) == []


def test_an_unknown_timeout_is_skipped() -> None:
    env = [TOKEN, {"name": "PROXY_TIMEOUT_SECONDS", "value": UNKNOWN_STRING_VALUE}]
    assert (
        rules.gateway_timeout_covers_router(
            stack((DEPLOYMENT, router(env)), (BACKEND_POLICY, backend_policy(1)))
        )
        == []
    )
    assert (
        rules.gateway_timeout_covers_router(
            stack(
                (DEPLOYMENT, router([TOKEN])),
                (BACKEND_POLICY, backend_policy(UNKNOWN_STRING_VALUE)),
            )
        )
        == []
    )
