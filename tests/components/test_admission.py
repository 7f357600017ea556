"""AdmissionBackstop: the ValidatingAdmissionPolicies the program registers, their schema, their
wiring, and their CEL evaluated offline (cel-python) on allowed and rejected objects."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml
from celpy import celtypes
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


def dev_sandbox_namespaces() -> list[str]:
    """What Pulumi.dev.yaml says, read independently of the program."""
    cfg = config("dev")
    sandboxes = cfg.get(f"{c.PROJECT}:sandboxes", {}).get("namespace", "agent-sandboxes")
    extra = cfg.get(f"{c.PROJECT}:admission", {}).get("sandboxNamespaces", [])
    return [sandboxes, *[n for n in extra if n != sandboxes]]


def dev_runtime_classes() -> list[str]:
    iso = config("dev")[f"{c.PROJECT}:isolation"]
    assert iso["runtime"] == "kata"
    return [f"kata-{shim}" for shim in iso["kata"]["shims"]]


# ---------------------------------------------------------------------------------------------
# CEL, evaluated the way the API server does for a ValidatingAdmissionPolicy
# ---------------------------------------------------------------------------------------------
_ENV = celpy.Environment()


def _cel(expression: str, activation: dict[str, Any]) -> Any:
    return _ENV.program(_ENV.compile(expression)).evaluate(activation)


def admit(
    spec: dict[str, Any],
    obj: dict[str, Any],
    old: dict[str, Any] | None = None,
    operation: str = "CREATE",
) -> list[str]:
    """Messages of the failed validations: [] means admitted. A validation that errors counts
    as failed (failurePolicy: Fail)."""
    assert spec["failurePolicy"] == "Fail"
    activation: dict[str, Any] = {
        "object": celpy.json_to_cel(obj),
        "oldObject": celpy.json_to_cel(old),
        "request": celpy.json_to_cel({"operation": operation}),
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


def hardened_pod_spec(runtime_class: Any = ...) -> dict[str, Any]:
    spec: dict[str, Any] = {
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


def pod(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}


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


def test_upstream_kata_example_is_admitted_and_its_template_example_is_not(
    sandbox_policy: dict[str, Any], upstream: Path
) -> None:
    kata = yaml.safe_load(
        (upstream / "agent-sandbox/examples/kata-gke-sandbox/sandbox-kata-gke.yaml").read_text()
    )
    assert kata["spec"]["podTemplate"]["spec"]["runtimeClassName"] in dev_runtime_classes()
    assert admit(sandbox_policy, kata) == []
    # Upstream's python template leaves runtimeClassName commented out: exactly the mistake.
    template = yaml.safe_load(
        (upstream / "agent-sandbox/examples/python-client/python-sandbox-template.yaml")
        .read_text()
        .replace("${", "x-")
        .replace("}", "")
    )
    (message,) = admit(sandbox_policy, template)
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


# ---------------------------------------------------------------------------------------------
# the registered objects
# ---------------------------------------------------------------------------------------------
def _admission_regs(plan: Plan) -> list[Registration]:
    return [r for r in plan.registrations if r.type in (VAP, BINDING)]


def test_policies_and_bindings_validate_against_the_kubernetes_schema(dev_plan: Plan) -> None:
    regs = _admission_regs(dev_plan)
    assert sorted(r.type for r in regs) == sorted([VAP, VAP, BINDING, BINDING])
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


def test_bindings_deny_in_exactly_the_sandbox_namespaces(dev_plan: Plan) -> None:
    bindings = {r.inputs["spec"]["policyName"]: r for r in dev_plan.by_type(BINDING)}
    assert set(bindings) == {c.ADMISSION_SANDBOX_POLICY_NAME, c.ADMISSION_POD_POLICY_NAME}
    policies = {r.inputs["metadata"]["name"]: r for r in dev_plan.by_type(VAP)}
    for name, binding in bindings.items():
        spec = binding.inputs["spec"]
        assert spec["validationActions"] == ["Deny"]
        (selector,) = spec["matchResources"]["namespaceSelector"]["matchExpressions"]
        assert selector == {
            "key": "kubernetes.io/metadata.name",
            "operator": "In",
            "values": dev_sandbox_namespaces(),
        }
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


def test_the_pod_policy_checks_pods_at_creation_only(dev_plan: Plan) -> None:
    (rule,) = policy(dev_plan, c.ADMISSION_POD_POLICY_NAME)["spec"]["matchConstraints"][
        "resourceRules"
    ]
    assert rule == {
        "apiGroups": [""],
        "apiVersions": ["v1"],
        "operations": ["CREATE"],
        "resources": ["pods"],
    }


@pytest.mark.parametrize("extra", [[], ["team-b", "team-c"]])
def test_the_sandboxes_namespace_is_always_bound_and_extras_too(extra: list[str]) -> None:
    plan = run(admission={"sandboxNamespaces": extra})
    assert plan.error is None, plan.error
    home = config("dev")[f"{c.PROJECT}:sandboxes"]["namespace"]
    for binding in plan.by_type(BINDING):
        (selector,) = binding.inputs["spec"]["matchResources"]["namespaceSelector"][
            "matchExpressions"
        ]
        assert selector["values"] == [home, *extra]


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
