"""Sections that contradict each other (issue 15, family 5) and refusals that name what is
actually short (family 6): capacity errors and a tenant's platform stack."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import refused, run

from components import constants as c
from components.settings import SettingsError, parse_settings


@pytest.mark.parametrize(
    ("namespace", "sections", "expected"),
    [
        (c.AGENT_SANDBOX_NAMESPACE, {}, "declare that Namespace twice"),
        (c.SANDBOXES_DEFAULT_NAMESPACE, {}, "share a privileged namespace"),
        ("default", {}, "always exists"),
        ("team-x", {"admission": {"sandboxNamespaces": ["team-x"]}}, "refuse kata-deploy's pods"),
    ],
)
def test_the_kata_namespace_never_doubles_as_another_sections(
    namespace: str, sections: dict[str, Any], expected: str
) -> None:
    refused(
        f"isolation.kata.namespace '{namespace}'",
        expected,
        "give kata-deploy a namespace of its own",
        isolation={"kata": {"namespace": namespace}},
        **sections,
    )


def test_a_namespace_of_its_own_for_kata_is_fine() -> None:
    plan = run(isolation={"kata": {"namespace": "kata-system"}})
    assert plan.error is None, plan.error


def test_a_pool_without_pod_slots_names_max_pods_per_node() -> None:
    err = refused(
        "nodePool.maxPodsPerNode 16 leaves no pod slot for sandboxes",
        "raise it to at least 17",
        nodePool={"maxPodsPerNode": 16},
    )
    assert "resources.requests" not in err  # not the sandbox sizes: no resize could fix it


def test_a_huge_reserve_names_reserved_memory() -> None:
    err = refused(
        "isolation.capacity.reservedMemoryMib keeps 40000 MiB back",
        "lower isolation.capacity.reservedMemoryMib",
        isolation={"capacity": {"reservedMemoryMib": 40000}},
    )
    assert "resources.requests" not in err


def test_a_huge_cpu_reserve_names_reserved_cpu() -> None:
    refused(
        "isolation.capacity.reservedCpuMillis keeps 7900m back",
        isolation={"capacity": {"reservedCpuMillis": 7900}},
    )


def test_a_platform_stack_of_another_project_is_refused() -> None:
    with pytest.raises(SettingsError) as info:
        parse_settings(
            {
                "role": "tenant",
                "tenant": {"platformStack": "my-org/other/dev", "namespace": "team-b"},
            }
        )
    assert "tenant.platformStack 'my-org/other/dev' names project 'other'" in str(info.value)
    assert f"write my-org/{c.PROJECT}/dev" in str(info.value)
