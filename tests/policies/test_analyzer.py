"""The pack through pulumi_policy's analyzer servicer, fed what the real program registers.

``offline.policy.run_policies`` turns each mock-engine registration into the protobuf request
the engine sends, so the rules see Mapping proxies with camelCase keys — as under
``pulumi preview --policy-pack policies``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
import jsonschema
import pytest
from google.protobuf import empty_pb2, json_format
from helpers import run
from pulumi.runtime import proto
from pulumi.runtime.proto import analyzer_pb2_grpc
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy
from pulumi_policy.policy import _PolicyAnalyzerServicer

from components import constants as cc
from offline.engine import Plan, Registration
from offline.policy import (
    PolicyConfigError,
    Violation,
    analyze_request,
    analyzer,
    load_config,
    run_policies,
)
from policies import pack

PACK_DIR = Path(pack.__file__).parent
SANDBOX_KINDS = [cc.SANDBOX_TYPE, cc.SANDBOX_TEMPLATE_TYPE]
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def first(plan: Plan, type_: str) -> Registration:
    found = plan.by_type(type_)
    assert found, f"the dev stack declares no {type_} (Pulumi.dev.yaml sandboxes section)"
    return found[0]


def mutated(plan: Plan, reg: Registration, mutate: Callable[[dict[str, Any]], Any]) -> Plan:
    """A copy of ``plan`` where ``reg``'s inputs went through ``mutate``."""
    inputs = copy.deepcopy(reg.inputs)
    mutate(inputs)
    new = dataclasses.replace(reg, inputs=inputs)
    return dataclasses.replace(
        plan, registrations=[new if r is reg else r for r in plan.registrations]
    )


def pod_template(inputs: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = inputs["spec"]["podTemplate"]["spec"]
    return spec


def of(violations: Sequence[Violation], reg: Registration) -> list[Violation]:
    return [v for v in violations if v.urn == reg.urn]


def check(plan: Plan, reg: Registration, config: dict[str, Any] | None = None) -> list[Violation]:
    """What the pack reports against ``reg`` (the stack policies still see the whole plan)."""
    return of(run_policies(plan, config, only=[reg.urn]), reg)


# ---------------------------------------------------------------------------------------------
# the dev stack
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dev_violations(dev_plan: Plan) -> list[Violation]:
    return run_policies(dev_plan)


def test_the_dev_stack_has_no_mandatory_violation(dev_violations: list[Violation]) -> None:
    assert [str(v) for v in dev_violations if v.mandatory] == []


def test_the_dev_stacks_only_advisories_are_its_unpinned_upstream_images(
    dev_violations: list[Violation],
) -> None:
    # Upstream publishes the router only as a staging tag and the controller by tag (DESIGN §3):
    # a dev stack cannot pin them, a production one must (and gets told).
    advisories = [v for v in dev_violations if not v.mandatory]
    assert {v.policy for v in advisories} <= {pack.IMAGES_PINNED_BY_DIGEST.name}
    for v in advisories:
        image = re.search(r"image '([^']+)'", v.message)
        assert image and "@sha256:" not in image.group(1)


def test_the_dev_stack_really_has_what_the_rules_look_at(dev_plan: Plan) -> None:
    # A pass means something only if the checked objects are there.
    for type_ in (*SANDBOX_KINDS, "gcp:container/nodePool:NodePool", DEPLOYMENT):
        first(dev_plan, type_)
    for type_ in SANDBOX_KINDS:
        for reg in dev_plan.by_type(type_):
            assert pod_template(reg.inputs)["runtimeClassName"] in cc.ALLOWED_RUNTIME_CLASSES


# ---------------------------------------------------------------------------------------------
# mutated copies of the dev stack's sandboxes
# ---------------------------------------------------------------------------------------------
def _drop(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda inputs: pod_template(inputs).pop(key)


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], Any]:
    return lambda inputs: pod_template(inputs).__setitem__(key, value)


def _privileged(inputs: dict[str, Any]) -> None:
    container = pod_template(inputs)["containers"][0]
    container.setdefault("securityContext", {})["privileged"] = True


MUTATIONS = [
    ("removed", _drop("runtimeClassName"), pack.SANDBOX_RUNTIME_CLASS_REQUIRED.name),
    ("null", _set("runtimeClassName", None), pack.SANDBOX_RUNTIME_CLASS_REQUIRED.name),
    ("emptied", _set("runtimeClassName", ""), pack.SANDBOX_RUNTIME_CLASS_REQUIRED.name),
    ("whitespace", _set("runtimeClassName", "  \t"), pack.SANDBOX_RUNTIME_CLASS_REQUIRED.name),
    ("runc", _set("runtimeClassName", "runc"), pack.SANDBOX_RUNTIME_CLASS_ALLOWED.name),
    ("privileged", _privileged, pack.SANDBOX_POD_HARDENING.name),
    ("hostNetwork", _set("hostNetwork", True), pack.SANDBOX_POD_HARDENING.name),
    ("token", _set("automountServiceAccountToken", True), pack.SANDBOX_POD_HARDENING.name),
]


@pytest.mark.parametrize("type_", SANDBOX_KINDS, ids=["Sandbox", "SandboxTemplate"])
@pytest.mark.parametrize(
    ("mutate", "policy"), [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS]
)
def test_a_mutated_sandbox_is_caught_by_the_right_policy(
    dev_plan: Plan, type_: str, mutate: Callable[[dict[str, Any]], Any], policy: str
) -> None:
    reg = first(dev_plan, type_)
    violations = check(mutated(dev_plan, reg, mutate), reg)
    assert {v.policy for v in violations} == {policy}, [str(v) for v in violations]
    assert all(v.mandatory and v.type == type_ and v.name == reg.name for v in violations)


def test_an_unknown_runtime_class_during_preview_is_skipped(dev_plan: Plan) -> None:
    reg = first(dev_plan, cc.SANDBOX_TYPE)
    plan = mutated(dev_plan, reg, _set("runtimeClassName", "<unknown>"))
    assert check(plan, reg) == []


# ---------------------------------------------------------------------------------------------
# the rest of the platform
# ---------------------------------------------------------------------------------------------
def test_a_deployment_moved_into_the_sandbox_namespace_needs_a_runtime_class(
    dev_plan: Plan,
) -> None:
    reg = next(r for r in dev_plan.by_type(DEPLOYMENT) if "router" in r.name)
    plan = mutated(
        dev_plan, reg, lambda i: i["metadata"].__setitem__("namespace", "agent-sandboxes")
    )
    policies = {v.policy for v in check(plan, reg) if v.mandatory}
    assert pack.WORKLOAD_RUNTIME_CLASS_REQUIRED.name in policies


def test_a_sandbox_pool_on_cos_is_caught(dev_plan: Plan) -> None:
    reg = dev_plan.one("gcp:container/nodePool:NodePool", "sandbox-pool-pool")
    plan = mutated(dev_plan, reg, lambda i: i["nodeConfig"].update(imageType="COS_CONTAINERD"))
    (violation,) = check(plan, reg)
    assert violation.policy == pack.KATA_NODE_POOL.name and violation.mandatory


def test_an_unauthenticated_router_from_settings_is_caught() -> None:
    plan = run(router={"allowUnauthenticated": True})
    assert plan.error is None, plan.error
    routers = [r.urn for r in plan.by_type(DEPLOYMENT)]
    found = [
        v
        for v in run_policies(plan, only=routers)
        if v.policy == pack.ROUTER_AUTHENTICATION_REQUIRED.name
    ]
    assert len(found) == 1 and found[0].mandatory and found[0].type == DEPLOYMENT


def test_a_gateway_timeout_below_the_routers_is_caught(dev_plan: Plan) -> None:
    reg = first(dev_plan, "kubernetes:networking.gke.io/v1:GCPBackendPolicy")
    plan = mutated(dev_plan, reg, lambda i: i["spec"]["default"].update(timeoutSec=60))
    (violation,) = [
        v
        for v in run_policies(plan, only=[])
        if v.policy == pack.GATEWAY_TIMEOUT_COVERS_ROUTER.name
    ]
    assert violation.urn == reg.urn and violation.mandatory and "60 s" in violation.message


# ---------------------------------------------------------------------------------------------
# config: enforcement levels, allowlist, namespaces
# ---------------------------------------------------------------------------------------------
def _runc(dev_plan: Plan) -> tuple[Plan, Registration]:
    reg = first(dev_plan, cc.SANDBOX_TYPE)
    return mutated(dev_plan, reg, _set("runtimeClassName", "runc")), reg


def test_all_can_lower_every_policy_to_advisory(dev_plan: Plan) -> None:
    plan, reg = _runc(dev_plan)
    (violation,) = check(plan, reg, {"all": "advisory"})
    assert violation.enforcement_level == "advisory"


def test_a_policy_can_be_disabled_by_name(dev_plan: Plan) -> None:
    plan, reg = _runc(dev_plan)
    config = {pack.SANDBOX_RUNTIME_CLASS_ALLOWED.name: {"enforcementLevel": "disabled"}}
    assert check(plan, reg, config) == []


def test_the_allowlist_is_configurable(dev_plan: Plan) -> None:
    reg = first(dev_plan, cc.SANDBOX_TYPE)
    used = pod_template(reg.inputs)["runtimeClassName"]
    others = [rc for rc in cc.ALLOWED_RUNTIME_CLASSES if rc != used]
    name = pack.SANDBOX_RUNTIME_CLASS_ALLOWED.name
    (violation,) = check(dev_plan, reg, {name: {"allowedRuntimeClasses": others}})
    assert violation.policy == name and f"'{used}'" in violation.message
    plan, reg = _runc(dev_plan)
    assert check(plan, reg, {name: {"allowedRuntimeClasses": ["runc", used]}}) == []


def test_sandbox_namespaces_are_configurable(dev_plan: Plan) -> None:
    reg = next(r for r in dev_plan.by_type(DEPLOYMENT) if "router" in r.name)
    namespace = reg.inputs["metadata"]["namespace"]
    name = pack.WORKLOAD_RUNTIME_CLASS_REQUIRED.name
    found = check(dev_plan, reg, {name: {"sandboxNamespaces": [namespace]}})
    assert [v.policy for v in found if v.mandatory] == [name]


@pytest.mark.parametrize(
    ("config", "expect"),
    [
        ({"no-such-policy": "mandatory"}, "unknown policies no-such-policy"),
        ({"all": "strict"}, "'strict' is not one of"),
        ({"all": {"sandboxNamespaces": ["a"]}}, "only enforcementLevel applies"),
        (
            {pack.SANDBOX_POD_HARDENING.name: {"sandboxNamespace": ["a"]}},
            "unknown property sandboxNamespace",
        ),
        (
            {pack.SANDBOX_RUNTIME_CLASS_ALLOWED.name: {"allowedRuntimeClasses": "kata-qemu"}},
            "is not of type 'array'",
        ),
        (
            {pack.SANDBOX_RUNTIME_CLASS_ALLOWED.name: {"allowedRuntimeClasses": []}},
            "should be non-empty",
        ),
        (
            {pack.SANDBOX_POD_HARDENING.name: {"sandboxNamespaces": ["Not_A_Namespace"]}},
            "does not match",
        ),
    ],
)
def test_bad_config_is_refused_with_the_setting_named(
    dev_plan: Plan, config: dict[str, Any], expect: str
) -> None:
    with pytest.raises(PolicyConfigError, match=re.escape(expect)):
        run_policies(dev_plan, config, only=[])


# ---------------------------------------------------------------------------------------------
# the config schema and the documented defaults
# ---------------------------------------------------------------------------------------------
EXAMPLE_CONFIG = PACK_DIR / "config.example.json"


def test_the_config_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft7Validator.check_schema(pack.config_json_schema())


def test_the_example_config_validates_and_runs(dev_plan: Plan) -> None:
    config = load_config(EXAMPLE_CONFIG)
    jsonschema.validate(config, pack.config_json_schema())
    assert [str(v) for v in run_policies(dev_plan, config) if v.mandatory] == []


@pytest.mark.parametrize(
    "config",
    [
        {"sandbox-runtime-class-allowed": {"allowedRuntimeClasses": "kata-qemu"}},
        {"sandbox-runtime-class-allowed": {"allowedRuntimeClass": ["kata-qemu"]}},  # typo
        {"kata-node-pool": "mandatroy"},  # typo
        {"all": {"sandboxNamespaces": ["a"]}},  # `all` carries only a level
        {"workload-runtime-class-required": {"sandboxNamespaces": ["UPPER"]}},
    ],
)
def test_the_config_schema_rejects_bad_configs(config: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(config, pack.config_json_schema())


def test_the_engine_sees_each_policys_metadata_and_schema() -> None:
    info = analyzer().GetAnalyzerInfo(None, None)
    specs = {s.name: s for s in pack.SPECS}
    assert [p.name for p in info.policies] == list(specs)
    for policy in info.policies:
        spec = specs[policy.name]
        assert policy.description == spec.description
        assert policy.remediation_steps == spec.remediation
        assert (
            policy.enforcementLevel
            == {"mandatory": proto.MANDATORY, "advisory": 0}[spec.level.value]
        )
        schema = json_format.MessageToDict(policy.configSchema).get("properties", {})
        assert schema == json.loads(json.dumps(dict(spec.config)))


def _readme_table() -> dict[str, str]:
    """Policy name -> default level, from the README's "Policies" table."""
    text = (PACK_DIR / "README.md").read_text()
    section = text.split("## Policies", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`") and cells[0].endswith("`"):
            rows[cells[0].strip("`")] = cells[1]
    return rows


def test_the_readme_documents_every_policy_and_its_default_level() -> None:
    assert _readme_table() == {s.name: s.level.value for s in pack.SPECS}


def test_runtime_class_and_hardening_rules_default_to_mandatory() -> None:
    levels = {s.name: s.level.value for s in pack.SPECS}
    for name, level in levels.items():
        expected = "advisory" if name == pack.IMAGES_PINNED_BY_DIGEST.name else "mandatory"
        assert level == expected, name


# ---------------------------------------------------------------------------------------------
# what a policy receives
# ---------------------------------------------------------------------------------------------
def _spy(reg: Registration, plan: Plan) -> Any:
    """What a policy's validate() receives for ``reg``."""
    seen: list[Any] = []
    spy = ResourceValidationPolicy(
        name="spy", description="records what it sees", validate=lambda a, r: seen.append(a)
    )
    servicer = _PolicyAnalyzerServicer("spy-pack", "0.0.1", [spy], EnforcementLevel.ADVISORY)
    servicer.Analyze(analyze_request(reg, plan.by_urn()), None)
    (args,) = seen
    return args


def test_props_reach_a_policy_as_camel_case_mapping_proxies(dev_plan: Plan) -> None:
    pool = dev_plan.one("gcp:container/nodePool:NodePool", "sandbox-pool-pool")
    args = _spy(pool, dev_plan)
    assert isinstance(args.props, Mapping) and not isinstance(args.props, dict)
    node = args.props["nodeConfig"]
    assert isinstance(node, Mapping) and not isinstance(node, dict)
    assert node["advancedMachineFeatures"]["enableNestedVirtualization"] is True
    assert args.urn == pool.urn and args.name == pool.name


def test_a_kubernetes_resource_arrives_with_the_platform_provider(dev_plan: Plan) -> None:
    reg = next(r for r in dev_plan.by_type(DEPLOYMENT) if "router" in r.name)
    args = _spy(reg, dev_plan)
    assert args.provider.resource_type == "pulumi:providers:kubernetes"
    assert args.provider.urn == reg.provider.rsplit("::", 1)[0]
    assert args.opts.parent == reg.parent


def test_secrets_reach_a_policy_unwrapped(dev_plan: Plan) -> None:
    secret = next(r for r in dev_plan.registrations if r.secret_paths)
    path = secret.secret_paths[0].split(".")
    value: Any = _spy(secret, dev_plan).props
    expected: Any = secret.inputs
    for key in path:
        value, expected = value[key], expected[key]
    assert value == expected


# ---------------------------------------------------------------------------------------------
# the pack's entry point, as the CLI starts it
# ---------------------------------------------------------------------------------------------
def test_the_pack_starts_as_the_cli_runs_it_and_serves_its_policies(tmp_path: Path) -> None:
    # pulumi-analyzer-policy-python runs `python -u -m pulumi.policy <engine> <pack dir>`, from a
    # working directory that is not the repository.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHONPATH")}
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", str(PACK_DIR)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().decode().strip()
        assert port.isdigit(), proc.stderr.read().decode() if proc.stderr else port
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = analyzer_pb2_grpc.AnalyzerStub(channel)
            info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=20)
        assert info.name == pack.PACK_NAME
        assert [p.name for p in info.policies] == [s.name for s in pack.SPECS]
    finally:
        proc.kill()
        proc.wait(timeout=10)
