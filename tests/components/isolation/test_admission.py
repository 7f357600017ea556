"""AdmissionBackstop: the ValidatingAdmissionPolicies the program registers, their schema, their
wiring, and their CEL evaluated offline (cel-python) on allowed and rejected objects."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml
from celpy import celtypes
from conftest import plan_for
from helpers import config, run

from components import constants as c
from offline.engine import Plan, Registration, evaluate
from offline.manifests import to_manifest
from offline.validate import validate_manifest

VAP = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
COMPONENT = c.type_token("admission", "AdmissionBackstop")


def policy(plan: Plan, name: str) -> dict[str, Any]:
    found = [r for r in plan.by_type(VAP) if r.inputs["metadata"]["name"] == name]
    assert len(found) == 1, [r.name for r in plan.by_type(VAP)]
    return found[0].inputs


def dev_runtime_classes() -> list[str]:
    iso = config("dev")[f"{c.PROJECT}:isolation"]
    assert iso["runtime"] == "kata"
    return [f"kata-{shim}" for shim in iso["kata"]["shims"]]


# ---------------------------------------------------------------------------------------------
# CEL, evaluated the way the API server does for a ValidatingAdmissionPolicy
# ---------------------------------------------------------------------------------------------
_ENV = celpy.Environment()


@functools.cache
def _program(expression: str) -> Any:
    return _ENV.program(_ENV.compile(expression))


def _cel(expression: str, activation: dict[str, Any]) -> Any:
    return _program(expression).evaluate(activation)


def admit(
    spec: dict[str, Any],
    obj: dict[str, Any],
    old: dict[str, Any] | None = None,
    operation: str = "CREATE",
    *,
    namespace: str | None = None,
    user: str = "alice@example.com",
    extra: dict[str, list[str]] | None = None,
    sub_resource: str = "",
) -> list[str]:
    """Messages of the failed validations: [] means admitted. A validation that errors counts
    as failed (failurePolicy: Fail). ``namespace`` defaults to the object's."""
    assert spec["failurePolicy"] == "Fail"
    if namespace is None:
        namespace = obj.get("metadata", {}).get("namespace", "")
    request = {
        "operation": operation,
        "namespace": namespace,
        "kind": {"kind": obj.get("kind", "")},
        "subResource": sub_resource,
        "userInfo": {"username": user, "extra": extra or {}},
    }
    activation: dict[str, Any] = {
        "object": celpy.json_to_cel(obj),
        "oldObject": celpy.json_to_cel(old),
        "request": celpy.json_to_cel(request),
    }
    for condition in spec.get("matchConditions", []):
        if _cel(condition["expression"], activation) != celtypes.BoolType(True):
            return []  # not matched: the policy does not apply
    variables: dict[Any, Any] = {}
    for var in spec.get("variables", []):
        activation["variables"] = celtypes.MapType(variables)
        variables[celtypes.StringType(var["name"])] = _cel(var["expression"], activation)
    activation["variables"] = celtypes.MapType(variables)
    failed = []
    for check in spec["validations"]:
        if _cel(check["expression"], activation) == celtypes.BoolType(True):
            continue
        if "messageExpression" in check:
            failed.append(str(_cel(check["messageExpression"], activation)))
        else:
            failed.append(check["message"])
    return failed


def _rule_matches(rules: list[dict[str, Any]], group: str, resource: str, op: str) -> bool:
    return any(
        group in r["apiGroups"] and resource in r["resources"] and op in r["operations"]
        for r in rules
    )


def in_cluster(
    plan: Plan,
    policy_name: str,
    obj: dict[str, Any],
    *,
    group: str,
    resource: str,
    operation: str = "CREATE",
    **kwargs: Any,
) -> list[str]:
    """What the API server answers: the policy applies only if it matches the request (its
    resource rules) and one of its bindings matches the object's namespace; then ``admit``."""
    spec = policy(plan, policy_name)["spec"]
    if not _rule_matches(spec["matchConstraints"]["resourceRules"], group, resource, operation):
        return []
    namespace = kwargs.get("namespace") or obj.get("metadata", {}).get("namespace", "")
    bound = False
    for binding in plan.by_type(BINDING):
        b = binding.inputs["spec"]
        if b["policyName"] != policy_name:
            continue
        selector = b.get("matchResources", {}).get("namespaceSelector", {})
        exprs = selector.get("matchExpressions", [])
        if all(e["operator"] == "In" and namespace in e["values"] for e in exprs):
            bound = True
    if not bound:
        return []
    return admit(spec, obj, operation=operation, **kwargs)


def hardened_pod_spec(runtime_class: Any = ...) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "containers": [
            {
                "name": "agent",
                "image": "python:3.12-slim",
                "securityContext": {"privileged": False, "capabilities": {"drop": ["ALL"]}},
            }
        ],
    }
    if runtime_class is not ...:
        spec["runtimeClassName"] = runtime_class
    return spec


def sandbox(spec: dict[str, Any], kind: str = c.KIND_SANDBOX) -> dict[str, Any]:
    api = c.SANDBOX_API_VERSION if kind == c.KIND_SANDBOX else c.EXTENSIONS_API_VERSION
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": "s", "namespace": "agent-sandboxes"},
        "spec": {"podTemplate": {"spec": spec}},
    }


def pod(spec: dict[str, Any], namespace: str = "agent-sandboxes") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": namespace},
        "spec": spec,
    }


@pytest.fixture(scope="module")
def sandbox_policy(dev_plan: Plan) -> dict[str, Any]:
    spec: dict[str, Any] = policy(dev_plan, c.ADMISSION_SANDBOX_POLICY_NAME)["spec"]
    return spec


@pytest.fixture(scope="module")
def pod_policy(dev_plan: Plan) -> dict[str, Any]:
    spec: dict[str, Any] = policy(dev_plan, c.ADMISSION_POD_POLICY_NAME)["spec"]
    return spec


KINDS = [c.KIND_SANDBOX, c.KIND_SANDBOX_TEMPLATE]


@pytest.mark.parametrize("kind", KINDS)
def test_sandboxes_with_an_installed_class_are_admitted(
    sandbox_policy: dict[str, Any], kind: str
) -> None:
    for rc in dev_runtime_classes():
        assert admit(sandbox_policy, sandbox(hardened_pod_spec(rc), kind)) == []


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("rc", "expect"),
    [
        (..., "runtimeClassName is required"),
        ("", "runtimeClassName is required"),
        ("   ", "runtimeClassName is required"),
        ("runc", "runtimeClassName runc is not an isolation runtime installed"),
        ("gvisor", "runtimeClassName gvisor is not an isolation runtime installed"),
        ("kata-fc", "runtimeClassName kata-fc is not"),
    ],
    ids=["missing", "empty", "whitespace", "runc", "gvisor-not-installed", "kata-fc"],
)
def test_sandboxes_without_an_installed_class_are_rejected(
    sandbox_policy: dict[str, Any], kind: str, rc: Any, expect: str
) -> None:
    (message,) = admit(sandbox_policy, sandbox(hardened_pod_spec(rc), kind))
    assert expect in message
    assert "spec.podTemplate.spec" in message


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("where", ["containers", "initContainers", "ephemeralContainers"])
def test_privileged_sandboxes_are_rejected(
    sandbox_policy: dict[str, Any], kind: str, where: str
) -> None:
    spec = hardened_pod_spec("kata-qemu")
    spec.setdefault(where, [{"name": "x", "image": "busybox"}])
    spec[where][0]["securityContext"] = {"privileged": True}
    (message,) = admit(sandbox_policy, sandbox(spec, kind))
    assert "privileged" in message


@pytest.mark.parametrize("field", ["hostNetwork", "hostPID", "hostIPC"])
def test_host_namespaces_are_rejected(sandbox_policy: dict[str, Any], field: str) -> None:
    spec = {**hardened_pod_spec("kata-qemu"), field: True}
    (message,) = admit(sandbox_policy, sandbox(spec))
    assert "namespace" in message
    assert admit(sandbox_policy, sandbox({**spec, field: False})) == []


def test_upstream_kata_example_is_admitted_once_it_drops_its_token_and_its_template_is_not(
    sandbox_policy: dict[str, Any], upstream: Path
) -> None:
    kata = yaml.safe_load(
        (upstream / "agent-sandbox/examples/kata-gke-sandbox/sandbox-kata-gke.yaml").read_text()
    )
    kata["metadata"]["namespace"] = "agent-sandboxes"
    assert kata["spec"]["podTemplate"]["spec"]["runtimeClassName"] in dev_runtime_classes()
    # As published it would mount the default service account's token into the VM.
    (message,) = admit(sandbox_policy, kata)
    assert "automountServiceAccountToken: false" in message
    kata["spec"]["podTemplate"]["spec"]["automountServiceAccountToken"] = False
    assert admit(sandbox_policy, kata) == []
    # Upstream's python template leaves runtimeClassName commented out: exactly the mistake.
    template = yaml.safe_load(
        (upstream / "agent-sandbox/examples/python-client/python-sandbox-template.yaml")
        .read_text()
        .replace("${", "x-")
        .replace("}", "")
    )
    template["spec"]["podTemplate"]["spec"]["automountServiceAccountToken"] = False
    (message,) = admit(sandbox_policy, template, namespace="agent-sandboxes")
    assert "runtimeClassName is required" in message


def test_an_update_that_leaves_the_pod_template_alone_is_never_refused(
    sandbox_policy: dict[str, Any],
) -> None:
    # A Sandbox created before the policy must still let its finalizers go.
    legacy = sandbox(hardened_pod_spec(...))
    updated = copy.deepcopy(legacy)
    updated["metadata"]["finalizers"] = []
    assert admit(sandbox_policy, updated, old=legacy, operation="UPDATE") == []
    to_runc = sandbox(hardened_pod_spec("runc"))
    assert admit(sandbox_policy, to_runc, old=legacy, operation="UPDATE") != []


def test_pods_with_an_installed_class_are_admitted(pod_policy: dict[str, Any]) -> None:
    for rc in dev_runtime_classes():
        assert admit(pod_policy, pod(hardened_pod_spec(rc))) == []


@pytest.mark.parametrize(
    ("spec", "expect"),
    [
        (hardened_pod_spec(...), "spec.runtimeClassName is required"),
        (hardened_pod_spec(""), "spec.runtimeClassName is required"),
        (hardened_pod_spec("runc"), "spec.runtimeClassName runc is not"),
        (hardened_pod_spec("gvisor"), "spec.runtimeClassName gvisor is not"),
        (
            {
                **hardened_pod_spec("kata-qemu"),
                "containers": [
                    {"name": "a", "image": "a", "securityContext": {"privileged": True}}
                ],
            },
            "privileged",
        ),
        ({**hardened_pod_spec("kata-qemu"), "hostPID": True}, "PID"),
    ],
    ids=["missing", "empty", "runc", "gvisor-not-installed", "privileged", "hostPID"],
)
def test_pods_are_rejected(pod_policy: dict[str, Any], spec: dict[str, Any], expect: str) -> None:
    (message,) = admit(pod_policy, pod(spec))
    assert expect in message


def test_gvisor_stacks_admit_gvisor_and_nothing_else() -> None:
    plan = run(isolation={"runtime": "gvisor", "defaultRuntimeClass": None})
    assert plan.error is None, plan.error
    spec = policy(plan, c.ADMISSION_POD_POLICY_NAME)["spec"]
    assert admit(spec, pod(hardened_pod_spec(c.GVISOR_RUNTIME_CLASS))) == []
    assert admit(spec, pod(hardened_pod_spec("kata-qemu"))) != []
    # No kata-deploy, so no policy on its node writes.
    names = {r.inputs["metadata"]["name"] for r in plan.by_type(VAP)}
    assert c.ADMISSION_NODE_POLICY_NAME not in names


# ---------------------------------------------------------------------------------------------
# the registered objects
# ---------------------------------------------------------------------------------------------
def _admission_regs(plan: Plan) -> list[Registration]:
    return [r for r in plan.registrations if r.type in (VAP, BINDING)]


def test_policies_and_bindings_validate_against_the_kubernetes_schema(dev_plan: Plan) -> None:
    regs = _admission_regs(dev_plan)
    assert sorted(r.type for r in regs) == sorted([VAP] * 6 + [BINDING] * 6)
    for reg in regs:
        manifest = to_manifest(reg)
        assert manifest["apiVersion"] == "admissionregistration.k8s.io/v1"
        assert validate_manifest(manifest) == [], reg.name


def test_the_schema_check_would_catch_a_typo(dev_plan: Plan) -> None:
    manifest = to_manifest(_admission_regs(dev_plan)[0])
    manifest["spec"]["failurePolicyy"] = "Fail"
    assert validate_manifest(manifest) != []


def test_they_are_children_of_the_component_on_the_platform_provider(dev_plan: Plan) -> None:
    (component,) = dev_plan.by_type(COMPONENT)
    providers = {r.urn for r in dev_plan.registrations if r.type == "pulumi:providers:kubernetes"}
    for reg in _admission_regs(dev_plan):
        assert reg.parent == component.urn
        assert reg.provider.rsplit("::", 1)[0] in providers
        assert reg.name.startswith(f"{component.name}-")


def test_every_binding_denies_cluster_wide(dev_plan: Plan) -> None:
    # The controller creates pods wherever a Sandbox sits: a binding limited to the sandbox
    # namespaces would leave every other namespace unchecked.
    bindings = {r.inputs["spec"]["policyName"]: r for r in dev_plan.by_type(BINDING)}
    policies = {r.inputs["metadata"]["name"]: r for r in dev_plan.by_type(VAP)}
    assert set(bindings) == set(policies)
    for name, binding in bindings.items():
        spec = binding.inputs["spec"]
        assert spec["validationActions"] == ["Deny"]
        assert "matchResources" not in spec
        # A binding created before its policy would bind nothing until the next reconcile.
        assert policies[name].urn in binding.dependencies


def test_the_sandbox_policy_matches_the_upstream_crds(dev_plan: Plan, upstream: Path) -> None:
    rules = policy(dev_plan, c.ADMISSION_SANDBOX_POLICY_NAME)["spec"]["matchConstraints"][
        "resourceRules"
    ]
    matched = {
        (g, v, res)
        for r in rules
        for g in r["apiGroups"]
        for v in r["apiVersions"]
        for res in r["resources"]
    }
    expected = set()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRDs are large
    for path in (upstream / "agent-sandbox/crds").glob("*.yaml"):
        crd = yaml.load(path.read_text(), Loader=loader)
        if crd["spec"]["names"]["kind"] in (c.KIND_SANDBOX, c.KIND_SANDBOX_TEMPLATE):
            for version in crd["spec"]["versions"]:
                expected.add(
                    (crd["spec"]["group"], version["name"], crd["spec"]["names"]["plural"])
                )
    assert matched == expected
    for r in rules:
        assert r["operations"] == ["CREATE", "UPDATE"]


def test_the_pod_policy_checks_pods_at_creation_and_ephemeral_containers(dev_plan: Plan) -> None:
    rules = policy(dev_plan, c.ADMISSION_POD_POLICY_NAME)["spec"]["matchConstraints"][
        "resourceRules"
    ]
    assert rules == [
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]},
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["UPDATE"],
            "resources": ["pods/ephemeralcontainers"],
        },
    ]


@pytest.mark.parametrize("extra", [[], ["team-b", "team-c"]])
def test_sandbox_kinds_are_allowed_in_the_sandboxes_tenants_and_extra_namespaces(
    extra: list[str],
) -> None:
    plan = run(admission={"sandboxNamespaces": extra})
    assert plan.error is None, plan.error
    home = config("dev")[f"{c.PROJECT}:sandboxes"]["namespace"]
    tenants = [t["namespace"] for t in config("dev")[f"{c.PROJECT}:tenants"]]
    for ns in [home, *tenants, *extra]:
        obj = sandbox(hardened_pod_spec("kata-qemu"))
        obj["metadata"]["namespace"] = ns
        assert admit(policy(plan, c.ADMISSION_NAMESPACE_POLICY_NAME)["spec"], obj) == []
    obj["metadata"]["namespace"] = "team-z"
    assert admit(policy(plan, c.ADMISSION_NAMESPACE_POLICY_NAME)["spec"], obj) != []


def test_admission_can_be_turned_off() -> None:
    # A platform stack must keep it (tenants' clients bypass Pulumi); a single-team stack may not.
    plan = run(role="all-in-one", admission={"enabled": False})
    assert plan.error is None, plan.error
    assert _admission_regs(plan) == [] and plan.by_type(COMPONENT) == []


@pytest.mark.parametrize("namespace", ["kube-system", c.AGENT_SANDBOX_NAMESPACE])
def test_system_namespaces_cannot_be_sandbox_namespaces(namespace: str) -> None:
    plan = evaluate(config("dev", admission={"sandboxNamespaces": [namespace]}), stack="dev")
    assert plan.error is not None and plan.registrations == []
    assert "admission.sandboxNamespaces" in plan.error
    assert namespace in plan.error and "remove it" in plan.error


def test_a_namespace_listed_twice_is_refused() -> None:
    plan = evaluate(config("dev", admission={"sandboxNamespaces": ["x", "x"]}), stack="dev")
    assert plan.error is not None and "admission.sandboxNamespaces" in plan.error
    assert "twice" in plan.error and plan.registrations == []


# ---------------------------------------------------------------------------------------------
# issue 18: the guard is cluster-wide, and checks what reaches the node through the VM
# ---------------------------------------------------------------------------------------------
CONTROLLER = f"system:serviceaccount:{c.AGENT_SANDBOX_NAMESPACE}:{c.CONTROLLER_SERVICE_ACCOUNT}"
KATA_DEPLOY = f"system:serviceaccount:kube-system:{c.KATA_DEPLOY_SERVICE_ACCOUNT}"
PODS = {"group": "", "resource": "pods"}
SANDBOXES = {"group": c.AGENTS_GROUP, "resource": c.SANDBOX_RESOURCE}
RESOURCE_OF = {
    c.KIND_SANDBOX: SANDBOXES,
    c.KIND_SANDBOX_TEMPLATE: {"group": c.EXTENSIONS_GROUP, "resource": "sandboxtemplates"},
    c.KIND_SANDBOX_CLAIM: {"group": c.EXTENSIONS_GROUP, "resource": "sandboxclaims"},
    c.KIND_SANDBOX_WARM_POOL: {"group": c.EXTENSIONS_GROUP, "resource": "sandboxwarmpools"},
}


def test_the_controller_service_account_is_upstreams(upstream: Path) -> None:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the manifest is large
    text = (upstream / "agent-sandbox/sandbox-with-extensions.yaml").read_text()
    docs = yaml.load_all(text, Loader=loader)
    bindings = [d for d in docs if d and d["kind"] == "ClusterRoleBinding"]
    subjects = {(s["namespace"], s["name"]) for b in bindings for s in b["subjects"]}
    assert subjects == {(c.AGENT_SANDBOX_NAMESPACE, c.CONTROLLER_SERVICE_ACCOUNT)}
    # ... bound cluster-wide: it creates pods in every namespace (issue 18, point 1).
    assert all(b["roleRef"]["kind"] == "ClusterRole" for b in bindings)


def controller_pod(
    template_spec: dict[str, Any], namespace: str, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """A pod as the controller creates it from a Sandbox (sandbox_controller.go: the template's
    labels and annotations, its tracking label, an owner reference to the Sandbox)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "s",
            "namespace": namespace,
            "labels": {**(labels or {}), c.SANDBOX_POD_LABEL: "1a2b3c4d"},
            "ownerReferences": [
                {
                    "apiVersion": c.SANDBOX_API_VERSION,
                    "kind": c.KIND_SANDBOX,
                    "name": "s",
                    "uid": "u",
                    "controller": True,
                }
            ],
        },
        "spec": copy.deepcopy(template_spec),
    }


ATTACKS: dict[str, tuple[Any, str]] = {
    "no-runtime-class": (lambda s: s.pop("runtimeClassName"), "runtimeClassName is required"),
    "privileged": (
        lambda s: s["containers"][0].update(securityContext={"privileged": True}),
        "privileged",
    ),
    "host-path": (
        lambda s: s.update(volumes=[{"name": "root", "hostPath": {"path": "/"}}]),
        "hostPath",
    ),
    "host-port": (
        lambda s: s["containers"][0].update(ports=[{"containerPort": 22, "hostPort": 22}]),
        "host ports",
    ),
    "sys-admin": (
        lambda s: s["containers"][0].update(
            securityContext={"capabilities": {"add": ["SYS_ADMIN"]}}
        ),
        "capabilities",
    ),
    "controller-service-account": (
        lambda s: s.update(serviceAccountName=c.CONTROLLER_SERVICE_ACCOUNT),
        "no Kubernetes credentials",
    ),
    "token-automount": (
        lambda s: s.update(automountServiceAccountToken=True),
        "no Kubernetes credentials",
    ),
    "projected-token": (
        lambda s: s.update(
            volumes=[
                {
                    "name": "t",
                    "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]},
                }
            ]
        ),
        "no Kubernetes credentials",
    ),
    "seccomp-unconfined-pod": (
        lambda s: s.update(securityContext={"seccompProfile": {"type": "Unconfined"}}),
        "seccomp",
    ),
    "seccomp-unconfined-container": (
        lambda s: s["containers"][0].update(
            securityContext={"seccompProfile": {"type": "Unconfined"}}
        ),
        "seccomp",
    ),
    "apparmor-unconfined": (
        lambda s: s.update(securityContext={"appArmorProfile": {"type": "Unconfined"}}),
        "AppArmor",
    ),
    "proc-mount-unmasked": (
        lambda s: s["containers"][0].update(securityContext={"procMount": "Unmasked"}),
        "procMount",
    ),
    "unsafe-sysctl": (
        lambda s: s.update(
            securityContext={"sysctls": [{"name": "kernel.core_pattern", "value": "|/x"}]}
        ),
        "sysctls",
    ),
}
KATA_KERNEL_PARAMS = "io.katacontainers.config.hypervisor.kernel_params"


@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("kind", KINDS)
def test_sandboxes_that_reach_the_node_are_refused(
    sandbox_policy: dict[str, Any], kind: str, attack: str
) -> None:
    spec = hardened_pod_spec("kata-qemu")
    mutate, expect = ATTACKS[attack]
    mutate(spec)
    (message,) = admit(sandbox_policy, sandbox(spec, kind))
    assert expect in message


@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("namespace", ["agent-sandboxes", "team-a", "evil", "kube-system"])
def test_pods_the_controller_creates_anywhere_that_reach_the_node_are_refused(
    dev_plan: Plan, attack: str, namespace: str
) -> None:
    """Issue 18, 1 + 2: the controller is bound cluster-wide, so a Sandbox in any namespace
    becomes a pod there; the pod policy must see it (on main its binding covered only the
    sandbox namespaces, and it checked none of hostPath, ports, capabilities, tokens...)."""
    spec = hardened_pod_spec("kata-qemu")
    mutate, expect = ATTACKS[attack]
    mutate(spec)
    obj = controller_pod(spec, namespace)
    messages = in_cluster(dev_plan, c.ADMISSION_POD_POLICY_NAME, obj, user=CONTROLLER, **PODS)
    assert messages and expect in messages[0], messages


@pytest.mark.parametrize("where", ["template", "claim"])
def test_kata_annotations_never_reach_a_sandbox_pod(
    dev_plan: Plan, sandbox_policy: dict[str, Any], pod_policy: dict[str, Any], where: str
) -> None:
    """Kata reads io.katacontainers.* pod annotations as VM settings (kernel parameters,
    hypervisor paths). The controller copies a template's annotations onto the pod, and a
    claim's additionalPodMetadata onto the adopted Sandbox (sandboxclaim_controller.go; its
    blocklist is only kubernetes.io, k8s.io and agents.x-k8s.io)."""
    annotations = {KATA_KERNEL_PARAMS: "init=/bin/sh"}
    if where == "template":
        obj = sandbox(hardened_pod_spec("kata-qemu"))
        obj["spec"]["podTemplate"]["metadata"] = {"annotations": annotations}
        (message,) = admit(sandbox_policy, obj)
        assert "io.katacontainers.* annotations are not allowed" in message
    else:
        claim = {
            "apiVersion": c.EXTENSIONS_API_VERSION,
            "kind": c.KIND_SANDBOX_CLAIM,
            "metadata": {"name": "c", "namespace": "team-a"},
            "spec": {
                "warmPoolRef": {"name": "python"},
                "additionalPodMetadata": {"annotations": annotations},
            },
        }
        messages = in_cluster(
            dev_plan, c.ADMISSION_CLAIM_POLICY_NAME, claim, **RESOURCE_OF[c.KIND_SANDBOX_CLAIM]
        )
        assert messages and "additionalPodMetadata" in messages[0]
        # ... and should one get through, the adopted Sandbox's update and its pod are refused.
        before = sandbox(hardened_pod_spec("kata-qemu"))
        after = copy.deepcopy(before)
        after["spec"]["podTemplate"]["metadata"] = {"annotations": annotations}
        assert admit(sandbox_policy, after, old=before, operation="UPDATE", user=CONTROLLER)
    pod_obj = controller_pod(hardened_pod_spec("kata-qemu"), "team-a")
    pod_obj["metadata"]["annotations"] = annotations
    assert admit(pod_policy, pod_obj, user=CONTROLLER)


def test_claims_with_ordinary_pod_metadata_are_admitted(dev_plan: Plan) -> None:
    claim = {
        "apiVersion": c.EXTENSIONS_API_VERSION,
        "kind": c.KIND_SANDBOX_CLAIM,
        "metadata": {"name": "c", "namespace": "team-a"},
        "spec": {
            "warmPoolRef": {"name": "python"},
            "additionalPodMetadata": {
                "labels": {"sandbox.users.io/run": "42"},
                "annotations": {"example.com/trace": "abc"},
            },
        },
    }
    for name in (c.ADMISSION_CLAIM_POLICY_NAME, c.ADMISSION_NAMESPACE_POLICY_NAME):
        assert in_cluster(dev_plan, name, claim, **RESOURCE_OF[c.KIND_SANDBOX_CLAIM]) == []
    bare = {**claim, "spec": {"warmPoolRef": {"name": "python"}}}
    assert (
        in_cluster(
            dev_plan, c.ADMISSION_CLAIM_POLICY_NAME, bare, **RESOURCE_OF[c.KIND_SANDBOX_CLAIM]
        )
        == []
    )


@pytest.mark.parametrize("kind", sorted(RESOURCE_OF))
@pytest.mark.parametrize("namespace", ["evil", c.AGENT_SANDBOX_NAMESPACE, "default"])
def test_sandbox_kinds_are_refused_outside_the_platforms_namespaces(
    dev_plan: Plan, kind: str, namespace: str
) -> None:
    """Issue 18, 1: a Sandbox in agent-sandbox-system (or any namespace the tenant can reach)
    would become a pod there, beside the router, out of the sandbox policies' sight."""
    obj = {
        "apiVersion": c.SANDBOX_API_VERSION if kind == c.KIND_SANDBOX else c.EXTENSIONS_API_VERSION,
        "kind": kind,
        "metadata": {"name": "x", "namespace": namespace},
        "spec": {},
    }
    (message,) = in_cluster(dev_plan, c.ADMISSION_NAMESPACE_POLICY_NAME, obj, **RESOURCE_OF[kind])
    assert f"{kind} objects may be created only in the namespaces" in message
    assert namespace in message and "tenants" in message
    obj["metadata"]["namespace"] = "team-a"
    assert in_cluster(dev_plan, c.ADMISSION_NAMESPACE_POLICY_NAME, obj, **RESOURCE_OF[kind]) == []


def _rendered(plan: Plan, type_: str) -> list[dict[str, Any]]:
    return [to_manifest(r) for r in plan.registrations if r.type == type_]


def test_everything_the_platform_renders_and_the_pods_the_controller_makes_of_it_pass(
    dev_plan: Plan,
) -> None:
    """The legitimate side: every Sandbox, SandboxTemplate and SandboxWarmPool the dev stack
    and its tenant team-a register, and the pods and adopted Sandboxes the controller makes of
    them, are admitted by the dev stack's policies."""
    team_a = plan_for("team-a")
    assert team_a.error is None, team_a.error
    rendered = [
        m
        for plan in (dev_plan, team_a)
        for t in (c.SANDBOX_TYPE, c.SANDBOX_TEMPLATE_TYPE, c.SANDBOX_WARM_POOL_TYPE)
        for m in _rendered(plan, t)
    ]
    assert "team-a" in {m["metadata"]["namespace"] for m in rendered}
    assert {m["kind"] for m in rendered} == {
        c.KIND_SANDBOX,
        c.KIND_SANDBOX_TEMPLATE,
        c.KIND_SANDBOX_WARM_POOL,
    }
    for m in rendered:
        res = RESOURCE_OF[m["kind"]]
        for name in (c.ADMISSION_NAMESPACE_POLICY_NAME, c.ADMISSION_SANDBOX_POLICY_NAME):
            assert in_cluster(dev_plan, name, m, **res) == [], (m["metadata"]["name"], name)
        if m["kind"] == c.KIND_SANDBOX_WARM_POOL:
            continue
        template = m["spec"]["podTemplate"]
        ns = m["metadata"]["namespace"]
        # The controller's Sandbox for a warm pool / claim carries the template's pod template.
        if m["kind"] == c.KIND_SANDBOX_TEMPLATE:
            made = {**m, "kind": c.KIND_SANDBOX, "apiVersion": c.SANDBOX_API_VERSION}
            assert (
                in_cluster(
                    dev_plan, c.ADMISSION_SANDBOX_POLICY_NAME, made, user=CONTROLLER, **SANDBOXES
                )
                == []
            )
        made_pod = controller_pod(template["spec"], ns, template.get("metadata", {}).get("labels"))
        assert (
            in_cluster(dev_plan, c.ADMISSION_POD_POLICY_NAME, made_pod, user=CONTROLLER, **PODS)
            == []
        ), m["metadata"]["name"]


def test_pods_outside_the_sandboxes_are_not_the_backstops_business(dev_plan: Plan) -> None:
    # System pods (no runtime class, a token, hostPath) in other namespaces, created by anyone
    # but the controller and not a sandbox's: untouched, or the cluster would stop.
    spec = {
        "containers": [{"name": "x", "image": "x", "securityContext": {"privileged": True}}],
        "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
    }
    for ns, user in (
        ("kube-system", "system:serviceaccount:kube-system:daemon-set-controller"),
        (c.AGENT_SANDBOX_NAMESPACE, "system:serviceaccount:kube-system:replicaset-controller"),
    ):
        assert (
            in_cluster(dev_plan, c.ADMISSION_POD_POLICY_NAME, pod(spec, ns), user=user, **PODS)
            == []
        )


def test_ephemeral_containers_are_checked(dev_plan: Plan) -> None:
    """Issue 13, 5: `kubectl debug` adds containers through pods/ephemeralcontainers (UPDATE),
    by a user other than the controller, into a pod that exists already."""
    running = controller_pod(hardened_pod_spec("kata-qemu"), "team-a")
    debug = copy.deepcopy(running)
    debug["spec"]["ephemeralContainers"] = [
        {"name": "debugger", "image": "busybox", "securityContext": {"privileged": True}}
    ]
    messages = in_cluster(
        dev_plan,
        c.ADMISSION_POD_POLICY_NAME,
        debug,
        operation="UPDATE",
        sub_resource="ephemeralcontainers",
        group="",
        resource="pods/ephemeralcontainers",
    )
    assert messages and "privileged" in messages[0]
    debug["spec"]["ephemeralContainers"][0]["securityContext"] = {"privileged": False}
    assert (
        in_cluster(
            dev_plan,
            c.ADMISSION_POD_POLICY_NAME,
            debug,
            operation="UPDATE",
            sub_resource="ephemeralcontainers",
            group="",
            resource="pods/ephemeralcontainers",
        )
        == []
    )


@pytest.mark.parametrize("debug", [False, True])
def test_debug_runtime_classes_are_admitted_only_where_kata_debug_is_on(debug: bool) -> None:
    """Issue 13, 4: isolation.kata.debug installs kata-<shim>-debug RuntimeClasses; a sandbox
    may name them (settings and backstop agree) only on a stack that installs them."""
    templates = copy.deepcopy(config("dev")[f"{c.PROJECT}:sandboxes"]["templates"])
    templates[0]["runtimeClass"] = "kata-qemu-debug"
    plan = run(isolation={"kata": {"debug": debug}}, sandboxes={"templates": templates})
    if not debug:
        assert plan.error is not None and plan.registrations == []
        assert "sandboxes.templates[0].runtimeClass" in plan.error
        assert "kata-qemu-debug" in plan.error
        plan = run(isolation={"kata": {"debug": False}})
    assert plan.error is None, plan.error
    spec = policy(plan, c.ADMISSION_SANDBOX_POLICY_NAME)["spec"]
    messages = admit(spec, sandbox(hardened_pod_spec("kata-qemu-debug")))
    assert (messages == []) is debug
    names = {
        r.inputs["metadata"]["name"] for r in plan.by_type("kubernetes:node.k8s.io/v1:RuntimeClass")
    }
    assert ("kata-qemu-debug" in names) is debug


# --- Pod Security labels of the namespaces the platform creates ------------------------------
def namespace_obj(name: str, enforce: str | None, version: str = "latest") -> dict[str, Any]:
    labels = {c.NAMESPACE_NAME_LABEL: name}
    if enforce is not None:
        labels[f"{c.PSA_LABEL_PREFIX}enforce"] = enforce
        labels[f"{c.PSA_LABEL_PREFIX}enforce-version"] = version
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


@pytest.mark.parametrize(
    ("enforce", "version", "refused"),
    [
        ("restricted", "latest", False),
        ("baseline", "latest", True),
        ("privileged", "latest", True),
        (None, "latest", True),
        ("restricted", "v1.0", True),
        ("bogus", "latest", True),
    ],
)
def test_a_tenants_pod_security_level_cannot_be_lowered(
    dev_plan: Plan, enforce: str | None, version: str, refused: bool
) -> None:
    """Issue 18, 3: team-a enforces restricted (Pulumi.dev.yaml tenants[0].podSecurity)."""
    spec = policy(dev_plan, c.ADMISSION_POD_SECURITY_POLICY_NAME)["spec"]
    before = namespace_obj("team-a", "restricted")
    after = namespace_obj("team-a", enforce, version)
    messages = admit(spec, after, old=before, operation="UPDATE", user="team-a-ci@example.com")
    assert bool(messages) is refused
    if refused:
        assert "pod-security.kubernetes.io/enforce=restricted" in messages[0]
    # Other namespaces are not this policy's business.
    other = namespace_obj("scratch", "privileged")
    assert admit(spec, other, old=namespace_obj("scratch", None), operation="UPDATE") == []


def test_the_platforms_baseline_namespace_may_not_go_below_baseline() -> None:
    plan = run(tenants=[{"namespace": "ide", "podSecurity": "baseline"}])
    assert plan.error is None, plan.error
    spec = policy(plan, c.ADMISSION_POD_SECURITY_POLICY_NAME)["spec"]
    ok = namespace_obj("ide", "restricted")
    assert admit(spec, ok, old=namespace_obj("ide", "baseline"), operation="UPDATE") == []
    low = namespace_obj("ide", "privileged")
    assert admit(spec, low, old=namespace_obj("ide", "baseline"), operation="UPDATE") != []


# --- kata-deploy's node writes -----------------------------------------------------------------
def node(
    name: str, labels: dict[str, str], taints: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "taints": [{"key": "agent-sandbox.dev/sandbox", "effect": "NoSchedule"}]
            if taints is None
            else taints
        },
    }


BOUND_TO_A = {c.NODE_NAME_CLAIM: ["node-a"]}
BASE_LABELS = {"kubernetes.io/hostname": "node-a", "cloud.google.com/gke-nodepool": "sandbox"}


@pytest.mark.parametrize(
    "change",
    [
        {c.KATA_READY_LABEL: "false", c.KATA_INSTANCE_LABEL: "false"},  # claim_node
        {c.KATA_READY_LABEL: "true", c.KATA_INSTANCE_LABEL: "true"},  # installed
    ],
)
def test_kata_deploy_may_label_its_own_node(dev_plan: Plan, change: dict[str, str]) -> None:
    spec = policy(dev_plan, c.ADMISSION_NODE_POLICY_NAME)["spec"]
    before = node("node-a", BASE_LABELS)
    after = node("node-a", {**BASE_LABELS, **change})
    assert (
        admit(spec, after, old=before, operation="UPDATE", user=KATA_DEPLOY, extra=BOUND_TO_A) == []
    )
    # ... and remove them again on uninstall.
    assert (
        admit(spec, before, old=after, operation="UPDATE", user=KATA_DEPLOY, extra=BOUND_TO_A) == []
    )


@pytest.mark.parametrize(
    ("target", "labels", "taints", "expect"),
    [
        ("node-b", {c.KATA_READY_LABEL: "true"}, None, "only the node its pod runs on"),
        ("node-a", {"cloud.google.com/gke-nodepool": "system"}, None, "only its own node labels"),
        ("node-a", {"evil.example.com/x": "1"}, None, "only its own node labels"),
        ("node-a", {}, [], "only its own node labels"),  # drops the sandbox pool's taint
    ],
    ids=["other-node", "relabel-pool", "new-label", "untaint"],
)
def test_an_escaped_vm_holding_kata_deploys_token_cannot_move_nodes(
    dev_plan: Plan, target: str, labels: dict[str, str], taints: Any, expect: str
) -> None:
    """Issue 18, 4: the token is on every sandbox node; with it, one escape could relabel or
    untaint any node and pull other workloads (the router, other tenants) onto it."""
    spec = policy(dev_plan, c.ADMISSION_NODE_POLICY_NAME)["spec"]
    before = node(target, BASE_LABELS)
    after = node(target, {**BASE_LABELS, **labels}, taints)
    messages = admit(
        spec, after, old=before, operation="UPDATE", user=KATA_DEPLOY, extra=BOUND_TO_A
    )
    assert messages and expect in messages[0], messages
    # A token without the node claim (not a bound pod token) is refused too.
    ok = node("node-a", {**BASE_LABELS, c.KATA_READY_LABEL: "true"})
    assert admit(spec, ok, old=node("node-a", BASE_LABELS), operation="UPDATE", user=KATA_DEPLOY)
    # Everyone else's node writes (kubelet, GKE) are not this policy's business.
    assert admit(spec, after, old=before, operation="UPDATE", user="system:node:node-a") == []
