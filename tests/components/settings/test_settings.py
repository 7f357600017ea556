"""Every bad setting is rejected before any resource registers, naming the setting and the fix."""

from __future__ import annotations

import pytest
from helpers import config, run

from components.settings import SettingsError, parse_settings
from offline.engine import evaluate


def rejected(expected: str, **sections: object) -> str:
    plan = run(**sections)  # type: ignore[arg-type]
    assert plan.error is not None, "expected a settings error"
    assert plan.registrations == [], "a bad setting must register nothing"
    assert expected in plan.error, plan.error
    return plan.error


@pytest.mark.parametrize(
    "machine",
    [
        "e2-standard-8",
        "n2d-standard-8",
        "t2d-standard-8",
        "t2a-standard-8",
        "c2d-standard-8",
        "c3d-standard-8",
        "c4a-standard-8",
        "c4d-standard-8",
        "m1-megamem-96",
        "m3-ultramem-32",
    ],
)
def test_machines_that_cannot_nest_are_rejected(machine: str) -> None:
    err = rejected(
        f"nodePool.machineType '{machine}' cannot host Kata", nodePool={"machineType": machine}
    )
    assert "Intel" in err and "n2-standard-8" in err  # says how to fix it


def test_unknown_machine_series_is_rejected() -> None:
    rejected("nodePool.machineType 'z9-standard-8'", nodePool={"machineType": "z9-standard-8"})


def test_non_ubuntu_image_with_kata_is_rejected() -> None:
    err = rejected("nodePool.imageType 'COS_CONTAINERD'", nodePool={"imageType": "COS_CONTAINERD"})
    assert "UBUNTU_CONTAINERD" in err


def test_autopilot_is_rejected() -> None:
    err = rejected("cluster.autopilot", cluster={"autopilot": True})
    assert "Standard" in err


def test_min_nodes_above_max_nodes_is_rejected() -> None:
    rejected(
        "nodePool.minNodes (5) is greater than nodePool.maxNodes (2)",
        nodePool={"minNodes": 5, "maxNodes": 2},
    )


def test_boot_disk_too_small_for_kata_is_rejected() -> None:
    err = rejected("nodePool.diskSizeGb 100 is too small for Kata", nodePool={"diskSizeGb": 100})
    assert "150" in err


def test_c4_needs_hyperdisk() -> None:
    rejected("nodePool.diskType: hyperdisk-balanced", nodePool={"machineType": "c4-standard-8"})


@pytest.mark.parametrize("missing", ["project", "location"])
def test_gke_needs_project_and_location(missing: str) -> None:
    rejected(f"cluster.{missing} must be set", cluster={missing: None})


def test_unknown_keys_are_rejected_at_every_level() -> None:
    err = rejected("nodePool.machineTyp: unknown setting", nodePool={"machineTyp": "n2-standard-8"})
    assert "README" in err
    cfg = config()
    cfg["agent-sandbox-platform:nodepool"] = {"machineType": "n2-standard-8"}
    plan = evaluate(cfg)
    assert plan.error and "agent-sandbox-platform:nodepool: unknown setting" in plan.error
    assert plan.registrations == []


def test_kubeconfig_mode_needs_an_explicit_context() -> None:
    err = rejected("cluster.kubeconfig.context is not set", cluster={"mode": "kubeconfig"})
    assert "active" in err


def test_settings_error_is_a_pulumi_run_error_without_traceback() -> None:
    import pulumi

    with pytest.raises(SettingsError) as info:
        parse_settings({"cluster": {"mode": "create"}})
    assert isinstance(info.value, pulumi.RunError)
    assert "agent-sandbox-platform:cluster" in str(info.value)


def test_n1_below_haswell_is_rejected() -> None:
    rejected(
        "nodePool.minCpuPlatform 'Intel Ivy Bridge'",
        nodePool={"machineType": "n1-standard-8", "minCpuPlatform": "Intel Ivy Bridge"},
    )


def test_config_namespaces_outside_the_program_are_refused_with_the_fix() -> None:
    from components.settings import config_sections

    with pytest.raises(SettingsError) as info:
        config_sections(
            {
                "agent-sandbox-platfrom:router": "{}",
                "nodePool": "{}",
                "gcp:project": "p",
                "kubernetes:context": "c",
                "pulumi:tags": "{}",
            }
        )
    message = str(info.value)
    assert "agent-sandbox-platfrom:router: unknown config namespace" in message
    assert "did you mean 'agent-sandbox-platform'?" in message
    assert "nodePool: a config key without a namespace" in message
    assert "did you mean 'agent-sandbox-platform:nodePool'?" in message
    assert "gcp:project" not in message and "kubernetes:context" not in message
    # The components used as a library: the running project's own namespace is known too.
    assert config_sections({"my-platform:extra": "1"}, also=("my-platform",)) == {}
