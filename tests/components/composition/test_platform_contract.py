"""The platform -> tenant contract: what a platform stack exports, and how a tenant reads it."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from conftest import plan_for

from components.composition import platform_contract as pc
from components.settings import SettingsError
from offline.engine import Plan, stack_config

STACK = "my-org/agent-sandbox-platform/dev"


@pytest.fixture(scope="module")
def dev() -> Plan:
    plan = plan_for("dev")
    assert plan.error is None, plan.error
    return plan


def _plain_secret(outputs: dict[str, Any]) -> Any:
    return lambda name: pulumi.Output.secret(outputs[name])


def test_the_platform_stack_exports_every_contract_output(dev: Plan) -> None:
    missing = [n for n in pc.NAMES if n not in dev.outputs]
    assert missing == []
    unset = [n for n in pc.REQUIRED if dev.outputs[n] is None]
    assert unset == []


def test_secret_contract_outputs_are_stack_secrets(dev: Plan) -> None:
    secret = {o.name for o in pc.OUTPUTS if o.secret}
    assert secret == {"kubeconfig", "routerAuthToken"}
    assert secret <= dev.secret_outputs


def test_dev_contract_carries_the_platforms_real_coordinates(dev: Plan) -> None:
    cfg = stack_config("dev")
    shims = cfg["agent-sandbox-platform:isolation"]["kata"]["shims"]
    out = dev.outputs
    assert out["contractVersion"] == pc.CONTRACT_VERSION
    assert out["platformRole"] == cfg["agent-sandbox-platform:role"]
    assert out["runtimeClasses"] == [f"kata-{s}" for s in shims]
    assert out["defaultRuntimeClass"] == f"kata-{shims[0]}"
    # The SDKs hard-code the router Service and port (DESIGN §3 Sandbox router).
    assert (out["routerServiceName"], out["routerPort"]) == ("sandbox-router-svc", 8080)
    assert out["routerNamespace"] == "agent-sandbox-system"
    assert out["gatewayName"] == cfg["agent-sandbox-platform:gateway"]["name"]
    # The admission backstop always guards the platform's own sandboxes namespace.
    assert cfg["agent-sandbox-platform:sandboxes"]["namespace"] in out["admissionNamespaces"]


def test_the_dev_contract_parses(dev: Plan) -> None:
    contract = pc.parse_contract(STACK, dev.outputs, _plain_secret(dev.outputs))
    assert contract.runtime_classes == tuple(dev.outputs["runtimeClasses"])
    assert contract.kubeconfig is not None
    assert contract.router is not None and contract.router.port == 8080
    assert contract.gateway is not None
    # Tenants' clients outside the cluster need the gateway's URL, not only its name.
    assert contract.gateway.url is not None
    assert contract.gateway.url == dev.outputs["gatewayUrl"]


def test_a_kubeconfig_platform_has_no_kubeconfig_or_gateway_in_its_contract() -> None:
    local = plan_for("local")
    assert local.error is None, local.error
    # Pulumi drops outputs whose value is None: what a tenant would see.
    outputs = {k: v for k, v in local.outputs.items() if v is not None}
    contract = pc.parse_contract("org/p/local", outputs, _plain_secret(outputs))
    assert contract.kubeconfig is None
    assert contract.gateway is None
    assert contract.router is not None


@pytest.mark.parametrize("name", pc.REQUIRED)
def test_a_missing_required_output_is_an_error_naming_it_and_the_stack(
    dev: Plan, name: str
) -> None:
    outputs = {k: v for k, v in dev.outputs.items() if k != name}
    with pytest.raises(SettingsError) as err:
        pc.parse_contract(STACK, outputs, _plain_secret(outputs))
    assert name in str(err.value)
    assert STACK in str(err.value)
    assert "tenant.platformStack" in str(err.value)


def test_another_contract_version_is_refused(dev: Plan) -> None:
    outputs = {**dev.outputs, "contractVersion": pc.CONTRACT_VERSION + 1}
    with pytest.raises(SettingsError, match="contractVersion"):
        pc.parse_contract(STACK, outputs, _plain_secret(outputs))


def test_a_default_class_outside_the_installed_ones_is_refused(dev: Plan) -> None:
    outputs = {**dev.outputs, "defaultRuntimeClass": "runc"}
    with pytest.raises(SettingsError, match="defaultRuntimeClass"):
        pc.parse_contract(STACK, outputs, _plain_secret(outputs))
