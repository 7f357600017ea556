"""One-line mistakes a new user makes in a stack file, one per line, across issue 15's families
(config outside the tree, Kubernetes semantics, GCP rules, contradicting sections, messages,
documented values). Each is refused before anything registers, and the refusal names the
setting, says how to fix it, and never shows pydantic's wording or a traceback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers import config
from test_settings_messages import assert_clean

from offline.engine import evaluate

NS = "agent-sandbox-platform"
PAST = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def sandbox_patch(**patch: Any) -> dict[str, Any]:
    """The dev stack's standalone sandbox with ``patch`` applied (lists replace, as in YAML)."""
    cfg = config("dev")
    box = dict(cfg[f"{NS}:sandboxes"]["sandboxes"][0])
    box.update(patch)
    return {"sandboxes": [box]}


def resources(**changes: dict[str, Any]) -> dict[str, Any]:
    base: dict[str, Any] = {
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    for kind, values in changes.items():
        base[kind] = {**base[kind], **values}
    return base


# (what the user wrote, stack, raw config changes, the setting the refusal must name)
MISTAKES: list[tuple[str, str, dict[str, Any], str]] = [
    # 1. config outside the tree
    ("typo'd namespace", "dev", {"agent-sandbox-platfrom:router": {"replicas": 3}}, "platfrom"),
    ("a provider we do not use", "dev", {"aws:region": "us-east-1"}, "aws:region"),
    ("no namespace at all", "dev", {"router": {"replicas": 3}}, "router"),
    ("snake_case key", "dev", {f"{NS}:nodePool": {"machine_type": "n2-standard-8"}}, "machineType"),
    ("typo'd key", "dev", {f"{NS}:router": {"replica": 3}}, "router.replica"),
    # 2. Kubernetes semantics
    (
        "memory in millibytes",
        "dev",
        {f"{NS}:sandboxes": sandbox_patch(resources=resources(requests={"memory": "512m"}))},
        "resources.requests.memory",
    ),
    (
        "limit below request",
        "dev",
        {f"{NS}:sandboxes": sandbox_patch(resources=resources(requests={"cpu": "4"}))},
        "resources.limits.cpu",
    ),
    (
        "CPU in bytes",
        "dev",
        {f"{NS}:sandboxes": sandbox_patch(resources=resources(limits={"cpu": "2Gi"}))},
        "resources.limits.cpu",
    ),
    (
        "service name with a digit first",
        "dev",
        {f"{NS}:sandboxes": sandbox_patch(name="9lives")},
        "sandboxes.sandboxes[0].name",
    ),
    (
        "probe on an undeclared port",
        "dev",
        {f"{NS}:sandboxes": sandbox_patch(readinessProbe={"port": 8080})},
        "readinessProbe.port",
    ),
    ("empty image", "dev", {f"{NS}:sandboxes": sandbox_patch(image="")}, "image"),
    (
        "shutdown in the past",
        "dev",
        {f"{NS}:sandboxes": sandbox_patch(shutdownTime=PAST)},
        "shutdownTime",
    ),
    (
        "hostPath volume",
        "dev",
        {
            f"{NS}:sandboxes": sandbox_patch(
                storage=[{"name": "h", "mountPath": "/h", "size": "1Gi", "type": "hostPath"}]
            )
        },
        "storage[0].type",
    ),
    # 3. GCP rules
    (
        "long node-pool name",
        "dev",
        {f"{NS}:nodePool": {"name": "sandbox-pool-for-the-agents-team-1"}},
        "nodePool.name",
    ),
    (
        "cluster name with underscore",
        "dev",
        {
            f"{NS}:cluster": {
                "mode": "create",
                "project": "my-gcp-project",
                "location": "us-central1",
                "name": "agent_sandbox",
            }
        },
        "cluster.name",
    ),
    (
        "zone of another region",
        "dev",
        {f"{NS}:nodePool": {"zones": ["europe-west4-a"]}},
        "nodePool.zones[0]",
    ),
    (
        "CPU platform of another series",
        "dev",
        {f"{NS}:nodePool": {"minCpuPlatform": "Intel Sapphire Rapids"}},
        "nodePool.minCpuPlatform",
    ),
    ("too many nodes", "dev", {f"{NS}:nodePool": {"maxNodes": 2000}}, "nodePool.maxNodes"),
    (
        "kubelet-reserved node label",
        "dev",
        {f"{NS}:nodePool": {"labels": {"node.kubernetes.io/role": "x"}}},
        "nodePool.labels",
    ),
    # 5. contradicting sections
    (
        "kata in the control plane's namespace",
        "dev",
        {f"{NS}:isolation": {"kata": {"namespace": "agent-sandbox-system"}}},
        "isolation.kata.namespace",
    ),
    # 6. messages that name the cause
    ("no pod slots", "dev", {f"{NS}:nodePool": {"maxPodsPerNode": 10}}, "nodePool.maxPodsPerNode"),
    (
        "huge reserve",
        "dev",
        {f"{NS}:isolation": {"capacity": {"reservedMemoryMib": 65536}}},
        "isolation.capacity.reservedMemoryMib",
    ),
    ("wrong type", "dev", {f"{NS}:router": {"replicas": "two"}}, "router.replicas"),
    (
        "enum in the wrong case",
        "dev",
        {f"{NS}:isolation": {"runtime": "Kata"}},
        "isolation.runtime",
    ),
    # 7. what the README says is refused
    (
        "plain http manifest",
        "dev",
        {f"{NS}:controlPlane": {"manifest": "http://example.com/sandbox-with-extensions.yaml"}},
        "controlPlane.manifest",
    ),
]


def _apply(stack: str, changes: dict[str, Any]) -> dict[str, Any]:
    cfg = config(stack)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    return cfg


@pytest.mark.parametrize(
    ("stack", "changes", "names"),
    [pytest.param(s, ch, n, id=what) for what, s, ch, n in MISTAKES],
)
def test_a_one_line_mistake_is_refused_with_the_setting_and_the_fix(
    stack: str, changes: dict[str, Any], names: str
) -> None:
    plan = evaluate(_apply(stack, changes), stack=stack)
    assert plan.error is not None, "accepted: the stack would deploy something else"
    assert plan.registrations == [], "a bad setting must register nothing"
    assert_clean(plan.error.replace("invalid stack config:", "invalid stack settings:"), names)
