"""The role switch: platform / all-in-one build the platform, tenant builds only a tenant; the
local stack is a platform on a kubeconfig context with no GCP resource and no gateway."""

from __future__ import annotations

import pytest
from conftest import plan_for
from helpers import run

from offline.engine import Plan, stack_config

PLATFORM = "agent-sandbox-platform:platform:SandboxPlatform"
TENANT = "agent-sandbox-platform:tenant:Tenant"


def _plan(stack: str) -> Plan:
    plan = plan_for(stack)
    assert plan.error is None, plan.error
    return plan


@pytest.mark.parametrize("stack", ["dev", "local"])
def test_platform_and_all_in_one_stacks_build_the_platform(stack: str) -> None:
    plan = _plan(stack)
    assert len(plan.by_type(PLATFORM)) == 1
    assert plan.by_type(TENANT) == []
    assert plan.outputs["platformRole"] == stack_config(stack)["agent-sandbox-platform:role"]


def test_a_tenant_stack_builds_no_platform_layer() -> None:
    plan = _plan("team-a")
    assert len(plan.by_type(TENANT)) == 1
    components = {r.type for r in plan.registrations if not r.custom}
    assert components == {TENANT, "agent-sandbox-platform:sandboxes:SandboxSet"}


def test_the_dev_stack_hosts_tenants() -> None:
    assert stack_config("dev")["agent-sandbox-platform:role"] == "platform"


def test_a_platform_stack_requires_the_admission_backstop() -> None:
    plan = run("dev", admission={"enabled": False})
    assert plan.error is not None and "admission.enabled" in plan.error
    assert plan.registrations == []
    assert run("dev", role="all-in-one", admission={"enabled": False}).error is None


def test_the_local_stack_has_no_gcp_resource_and_no_gateway() -> None:
    plan = _plan("local")
    assert not [r.type for r in plan.registrations if r.type.startswith("gcp:")]
    assert not [r.type for r in plan.kubernetes() if "gateway.networking.k8s.io" in r.type]
    assert not [r.type for r in plan.kubernetes() if "networking.gke.io" in r.type]
    assert plan.outputs["gatewayName"] is None


def test_the_local_stack_targets_its_named_context_with_kata_and_a_router() -> None:
    plan = _plan("local")
    context = stack_config("local")["agent-sandbox-platform:cluster"]["kubeconfig"]["context"]
    (provider,) = plan.by_type("pulumi:providers:kubernetes")
    assert provider.inputs["context"] == context
    # Kata through kata-deploy (a DaemonSet of its image) and the guide's kata-qemu class.
    daemonsets = plan.by_type("kubernetes:apps/v1:DaemonSet")
    images = [
        c["image"] for d in daemonsets for c in d.inputs["spec"]["template"]["spec"]["containers"]
    ]
    assert any(i.startswith("quay.io/kata-containers/kata-deploy:") for i in images)
    classes = {
        r.inputs["metadata"]["name"] for r in plan.by_type("kubernetes:node.k8s.io/v1:RuntimeClass")
    }
    assert "kata-qemu" in classes
    # The router the port-forward reaches (DESIGN §3: SDKs hard-code the Service and port).
    services = {
        (r.inputs["metadata"]["name"], r.inputs["metadata"]["namespace"])
        for r in plan.by_type("kubernetes:core/v1:Service")
    }
    assert ("sandbox-router-svc", "agent-sandbox-system") in services
