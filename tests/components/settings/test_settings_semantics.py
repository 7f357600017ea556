"""Kubernetes semantics, not just types (issue 15, family 2), and docs that agree with the code
(family 7): each case is a one-line mistake in a stack file, refused before anything registers
with the setting and the fix, or a documented value that is accepted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers import config, refused, run

from components.settings import SettingsError, config_sections, parse_settings
from offline.engine import evaluate

NO_SANDBOXES = {"templates": [], "warmPools": [], "sandboxes": []}


def sandbox(**patch: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "name": "box",
        "image": "python:3.12-slim",
        "ports": [{"name": "http", "containerPort": 8888}],
        "resources": {
            "requests": {"cpu": "250m", "memory": "512Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
    }
    item.update(patch)
    return item


def with_sandbox(**patch: Any) -> dict[str, Any]:
    return {**NO_SANDBOXES, "sandboxes": [sandbox(**patch)]}


def resources(requests: dict[str, Any], limits: dict[str, Any]) -> dict[str, Any]:
    return {"requests": requests, "limits": limits}


@pytest.mark.parametrize(
    ("res", "where", "expected"),
    [
        # Legal quantity syntax, nonsense per kind.
        (
            resources({"cpu": "250m", "memory": "512m"}, {"cpu": "1", "memory": "1Gi"}),
            "resources.requests.memory",
            "millibytes",
        ),
        (
            resources(
                {"cpu": "250m", "memory": "512Mi", "ephemeral-storage": "1m"},
                {"cpu": "1", "memory": "1Gi"},
            ),
            "resources.requests.ephemeral-storage",
            "millibytes",
        ),
        (
            resources({"cpu": "2Gi", "memory": "512Mi"}, {"cpu": "4Gi", "memory": "1Gi"}),
            "resources.requests.cpu",
            "never with the byte suffix 'Gi'",
        ),
        (
            resources({"cpu": "0.0001", "memory": "512Mi"}, {"cpu": "1", "memory": "1Gi"}),
            "resources.requests.cpu",
            "precision of 1m",
        ),
        (
            resources({"cpu": "250m", "memory": "512"}, {"cpu": "1", "memory": "1Gi"}),
            "resources.requests.memory",
            "did you mean 512Mi?",
        ),
        # A limit below its request: the API server refuses the pod.
        (
            resources({"cpu": "2", "memory": "512Mi"}, {"cpu": "1", "memory": "1Gi"}),
            "resources.limits.cpu",
            "below resources.requests.cpu (2)",
        ),
        (
            resources({"cpu": "250m", "memory": "2Gi"}, {"cpu": "1", "memory": "1Gi"}),
            "resources.limits.memory",
            "raise the limit or lower the request",
        ),
    ],
)
def test_quantities_are_checked_per_resource_kind(
    res: dict[str, Any], where: str, expected: str
) -> None:
    refused(f"sandboxes.sandboxes[0].{where}: ", expected, sandboxes=with_sandbox(resources=res))


def test_router_and_controller_resources_get_the_same_checks() -> None:
    refused(
        "router.resources.limits.memory",
        "below resources.requests.memory",
        router={"resources": resources({"memory": "1Gi"}, {"memory": "512Mi"})},
    )
    refused(
        "controlPlane.resources.requests.memory",
        "millibytes",
        controlPlane={"resources": resources({"memory": "128m"}, {"memory": "512Mi"})},
    )


def test_tenant_quota_quantities_are_checked_per_kind() -> None:
    # A tenant's quota is declared by the platform stack (tenants[]).
    plan = run("dev", tenants=[{"namespace": "team-x", "quota": {"memory": "64m"}}])
    assert plan.error is not None and "tenants[0].quota.memory" in plan.error
    assert "millibytes" in plan.error and plan.registrations == []


def test_an_unquoted_number_is_a_quantity_as_in_kubernetes() -> None:
    # `cpu: 1` and `cpu: 0.5` are numbers in YAML; Kubernetes reads them as quantities.
    plan = run(
        sandboxes=with_sandbox(
            resources=resources({"cpu": 0.5, "memory": "512Mi"}, {"cpu": 1, "memory": "1Gi"})
        )
    )
    assert plan.error is None, plan.error
    [box] = [r for r in plan.registrations if r.type.endswith(":Sandbox")]
    container = box.inputs["spec"]["podTemplate"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["cpu"] == "1"
    assert container["resources"]["requests"]["cpu"] == "0.5"


def test_a_sandbox_with_a_service_needs_a_dns1035_name() -> None:
    refused(
        "sandboxes.sandboxes[0].name",
        "start with a letter (DNS-1035)",
        "set service: false",
        sandboxes=with_sandbox(name="1-box"),
    )
    plan = run(sandboxes=with_sandbox(name="1-box", service=False))
    assert plan.error is None, plan.error


@pytest.mark.parametrize("probe", ["readinessProbe", "livenessProbe"])
def test_a_probe_on_an_undeclared_port_is_refused(probe: str) -> None:
    refused(
        f"sandboxes.sandboxes[0].{probe}.port",
        "probes port 9000, which it does not declare (ports: 8888)",
        "add {containerPort: 9000} to ports",
        sandboxes=with_sandbox(**{probe: {"path": "/", "port": 9000}}),
    )


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("", "the image is empty"),
        ("Python:3.12", "repository names are lower case"),
        ("python:", "not a container image reference"),
        ("python@sha256:abc", "not a container image reference"),
    ],
)
def test_empty_or_malformed_images_are_refused(image: str, expected: str) -> None:
    refused("sandboxes.sandboxes[0].image", expected, sandboxes=with_sandbox(image=image))


def test_an_empty_router_image_is_refused() -> None:
    refused("router.image", "the image is empty", router={"image": ""})


def test_a_shutdown_time_already_past_is_refused() -> None:
    past = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    refused(
        "sandboxes.sandboxes[0].shutdownTime",
        "already past",
        "set a future time",
        sandboxes=with_sandbox(shutdownTime=past),
    )


def test_a_datetime_shutdown_time_never_becomes_a_traceback() -> None:
    # Stack files are read as the CLI reads them (an unquoted timestamp stays text: see
    # tests/offline/test_preview.py); a program handing parse_settings a YAML 1.1 datetime gets
    # the time it says, or a settings error naming the setting — never a traceback.
    future = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    data = config_sections(config(sandboxes=with_sandbox(shutdownTime=None)))
    data["sandboxes"]["sandboxes"][0]["shutdownTime"] = future
    parsed = parse_settings(data)
    assert parsed.sandboxes.sandboxes[0].shutdown_time == future.strftime("%Y-%m-%dT%H:%M:%SZ")
    data["sandboxes"]["sandboxes"][0]["shutdownTime"] = datetime(2031, 1, 1)
    with pytest.raises(SettingsError) as info:
        parse_settings(data)
    assert "sandboxes.sandboxes[0].shutdownTime" in str(info.value)
    assert "no time zone" in str(info.value)


def test_websocket_timeouts_of_zero_disable_them_as_documented() -> None:
    # README and the router's README: "0 disables" (sandbox_router.py: allow_zero=True).
    plan = run(router={"websocketIdleTimeoutSeconds": 0, "websocketMaxLifetimeSeconds": 0})
    assert plan.error is None, plan.error
    [deploy] = [
        r
        for r in plan.registrations
        if r.type == "kubernetes:apps/v1:Deployment" and "router" in r.name
    ]
    env = {
        e["name"]: e.get("value")
        for e in deploy.inputs["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["WEBSOCKET_IDLE_TIMEOUT_SECONDS"] == "0"
    assert env["WEBSOCKET_MAX_LIFETIME_SECONDS"] == "0"


def test_a_plain_http_manifest_url_needs_a_digest() -> None:
    refused(
        "controlPlane.manifest 'http://mirror.example.com/sandbox-with-extensions.yaml'",
        "use https://, or pin the file with controlPlane.sha256",
        controlPlane={"manifest": "http://mirror.example.com/sandbox-with-extensions.yaml"},
    )


def test_settings_errors_never_reach_the_engine_as_exceptions() -> None:
    cfg = config(sandboxes=with_sandbox(resources="lots"))
    plan = evaluate(cfg)
    assert plan.error is not None and "sandboxes.sandboxes[0].resources" in plan.error
