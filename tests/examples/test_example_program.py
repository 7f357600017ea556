"""The components as a library: the example program composes SandboxPlatform with resources of
its own and evaluates under the mock engine."""

from __future__ import annotations

import pytest
import yaml
from conftest import ROOT

from offline.engine import Plan, evaluate
from offline.manifests import manifests
from offline.validate import validate_manifest

EXAMPLE = ROOT / "examples" / "platform-with-extras"


@pytest.fixture(scope="module")
def plan() -> Plan:
    project = yaml.safe_load((EXAMPLE / "Pulumi.yaml").read_text())
    cfg = {k: v["value"] for k, v in project["config"].items()}
    # Under the harness the program's own config namespace is the harness project's.
    cfg["agent-sandbox-platform:context"] = "minikube"
    p = evaluate(cfg, stack="example", program=EXAMPLE / "__main__.py")
    assert p.error is None, p.error
    return p


def test_the_example_evaluates_the_platform_and_its_own_resources(plan: Plan) -> None:
    assert len(plan.by_type("agent-sandbox-platform:platform:SandboxPlatform")) == 1
    runner = plan.one("kubernetes:apps/v1:Deployment", "agent-runner")
    assert runner.inputs["metadata"]["namespace"] == "agents"
    assert plan.outputs["agentNamespace"] == "agents"


def test_its_own_resources_use_the_platforms_provider(plan: Plan) -> None:
    (provider,) = plan.by_type("pulumi:providers:kubernetes")
    for reg in plan.kubernetes():
        assert reg.provider.rsplit("::", 1)[0] == provider.urn, reg.name


def test_the_runner_may_claim_in_the_sandboxes_namespace_only(plan: Plan) -> None:
    binding = plan.one("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "agent-runner-claims")
    assert binding.inputs["metadata"]["namespace"] == plan.outputs["sandboxNamespace"]
    assert binding.inputs["subjects"] == [
        {"kind": "ServiceAccount", "name": "agent-runner", "namespace": "agents"}
    ]
    assert not [
        r
        for r in plan.kubernetes()
        if r.type.endswith(":ClusterRoleBinding") and "agent-runner" in r.name
    ]


def test_the_router_token_stays_secret(plan: Plan) -> None:
    secret = plan.one("kubernetes:core/v1:Secret", "router-token")
    assert "stringData" in secret.secret_paths


def test_the_examples_own_manifests_are_strictly_valid(plan: Plan) -> None:
    # The platform's are validated for every committed stack (tests/test_stacks.py).
    own = [m for reg, m in manifests(plan) if reg.parent.split("::")[2] == "pulumi:pulumi:Stack"]
    assert {m["kind"] for m in own} >= {"Namespace", "Deployment", "Role", "RoleBinding"}
    problems = {
        f"{m['kind']}/{m['metadata'].get('name')}": errs
        for m in own
        if (errs := validate_manifest(m))
    }
    assert problems == {}
