from __future__ import annotations

import pytest

from components.machines import machine_spec


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
