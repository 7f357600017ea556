from __future__ import annotations

import pytest
from helpers import config, run

from components.gke.machines import machine_spec
from offline.engine import evaluate


@pytest.mark.parametrize(
    ("machine", "vcpus", "memory_mib"),
    [
        ("n2-standard-8", 8, 32 * 1024),
        ("n2-highmem-4", 4, 32 * 1024),
        ("c3-highcpu-22", 22, 44 * 1024),
        ("c4-standard-8", 8, 30 * 1024),
        ("n1-standard-4", 4, 15 * 1024),
        ("n2-custom-6-20480", 6, 20480),
    ],
)
def test_intel_machines_are_sized_and_nestable(machine: str, vcpus: int, memory_mib: int) -> None:
    spec = machine_spec(machine)
    assert (spec.vcpus, spec.memory_mib, spec.nested_virtualization) == (vcpus, memory_mib, True)


def test_amd_machine_is_known_but_not_nestable() -> None:
    spec = machine_spec("n2d-standard-8")
    assert not spec.nested_virtualization and "AMD" in spec.why_not


def test_c2_has_no_highmem_shape() -> None:
    with pytest.raises(ValueError, match="C2 has no 'highmem' shape"):
        machine_spec("c2-highmem-8")


@pytest.mark.parametrize(
    ("machine", "disk"),
    [
        ("c3-standard-8", "pd-standard"),  # C3 has no Standard Persistent Disk
        ("c4-standard-8", "pd-balanced"),  # C4/N4: Hyperdisk only
        ("n4-standard-8", "pd-ssd"),
    ],
)
def test_boot_disk_the_series_cannot_attach_is_refused(machine: str, disk: str) -> None:
    plan = run(nodePool={"machineType": machine, "diskType": disk})
    assert plan.registrations == []
    assert plan.error is not None and "nodePool.diskType" in plan.error
    assert machine.split("-")[0].upper() in plan.error


def test_sandbox_volumes_on_a_hyperdisk_only_pool_need_a_hyperdisk_class() -> None:
    # Issue 12.4: a PVC of the default standard-rwo (pd-balanced) never attaches on C4, so the
    # VS Code sandbox of the dev stack would never become Ready there.
    pool = {"machineType": "c4-standard-8", "diskType": "hyperdisk-balanced"}
    plan = run(nodePool=pool)
    assert plan.registrations == []
    assert plan.error is not None
    assert "sandboxes.sandboxes[0].storage[0].storageClass" in plan.error
    assert "sandbox-hyperdisk-balanced" in plan.error


def test_hyperdisk_class_is_created_for_a_hyperdisk_only_pool() -> None:
    cfg = config(nodePool={"machineType": "c4-standard-8", "diskType": "hyperdisk-balanced"})
    sandboxes = cfg["agent-sandbox-platform:sandboxes"]
    sandboxes["sandboxes"][0]["storage"][0]["storageClass"] = "sandbox-hyperdisk-balanced"
    plan = evaluate(cfg, stack="dev")
    assert plan.error is None, plan.error
    sc = plan.one("kubernetes:storage.k8s.io/v1:StorageClass").inputs
    assert sc["metadata"]["name"] == "sandbox-hyperdisk-balanced"
    assert sc["parameters"] == {"type": "hyperdisk-balanced"}
    assert sc["provisioner"] == "pd.csi.storage.gke.io"
    assert run().by_type("kubernetes:storage.k8s.io/v1:StorageClass") == []


def test_gvisor_pool_disks_are_checked_too() -> None:
    plan = run(
        isolation={"runtime": "gvisor", "defaultRuntimeClass": None},
        nodePool={"machineType": "c4d-standard-8", "diskType": "pd-balanced"},
    )
    assert plan.registrations == []
    assert plan.error is not None and "nodePool.diskType 'pd-balanced'" in plan.error
