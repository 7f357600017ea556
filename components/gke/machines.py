"""GCE machine types: which can host Kata (nested virtualization) and how big they are.

Facts (DESIGN §3 GKE): nested virtualization needs an Intel machine of a general-purpose or
compute-optimized series. AMD (N2D, T2D, C2D, C3D, C4D), Arm (T2A, C4A), shared-core E2 and the
memory-optimized M series cannot host it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Intel series that support nested virtualization, with GiB of memory per vCPU by shape.
_INTEL: dict[str, dict[str, float]] = {
    "n1": {"standard": 3.75, "highmem": 6.5, "highcpu": 0.9},
    "n2": {"standard": 4, "highmem": 8, "highcpu": 1},
    "n4": {"standard": 4, "highmem": 8, "highcpu": 2},
    "c2": {"standard": 4},
    "c3": {"standard": 4, "highmem": 8, "highcpu": 2},
    "c4": {"standard": 3.75, "highmem": 7.75, "highcpu": 2},
}
_NOT_SUPPORTED: dict[str, str] = {
    "e2": "E2 machines do not support nested virtualization",
    "n2d": "N2D is AMD",
    "t2d": "T2D is AMD",
    "c2d": "C2D is AMD",
    "c3d": "C3D is AMD",
    "c4d": "C4D is AMD",
    "t2a": "T2A is Arm",
    "c4a": "C4A is Arm",
    "m1": "M-series (memory-optimized) machines do not support nested virtualization",
    "m2": "M-series (memory-optimized) machines do not support nested virtualization",
    "m3": "M-series (memory-optimized) machines do not support nested virtualization",
    "m4": "M-series (memory-optimized) machines do not support nested virtualization",
}
SUPPORTED_SERIES = tuple(_INTEL)

# Disk types each series can attach, boot disk and volumes alike (Compute Engine docs, "Machine
# families resource and comparison guide" / per-series "Supported disk types": C3 has no
# Standard Persistent Disk; C4 and N4 take Hyperdisk only). Series not listed (gVisor pools on
# other series) are not checked.
DISK_TYPES: dict[str, tuple[str, ...]] = {
    "n1": ("pd-standard", "pd-balanced", "pd-ssd"),
    "n2": ("pd-standard", "pd-balanced", "pd-ssd"),
    "c2": ("pd-standard", "pd-balanced", "pd-ssd"),
    "c3": ("pd-balanced", "pd-ssd", "hyperdisk-balanced"),
    "c3d": ("pd-balanced", "pd-ssd", "hyperdisk-balanced"),
    "c4": ("hyperdisk-balanced",),
    "c4d": ("hyperdisk-balanced",),
    "n4": ("hyperdisk-balanced",),
    "n4d": ("hyperdisk-balanced",),
}


def hyperdisk_only(series: str) -> bool:
    """A series whose VMs attach no Persistent Disk, so no GKE default StorageClass works."""
    return DISK_TYPES.get(series, ()) == ("hyperdisk-balanced",)


# Sizing for series we do not run Kata on (gVisor pools may still use them).
_GENERIC_SHAPES = {"standard": 4.0, "highmem": 8.0, "highcpu": 1.0}

_SHAPED = re.compile(r"^(?P<series>[a-z0-9]+)-(?P<shape>standard|highmem|highcpu)-(?P<cpus>\d+)$")
_CUSTOM = re.compile(r"^(?P<series>[a-z0-9]+)-custom-(?P<cpus>\d+)-(?P<mem>\d+)(-ext)?$")


@dataclass(frozen=True)
class MachineSpec:
    name: str
    series: str
    vcpus: int
    memory_mib: int
    nested_virtualization: bool
    why_not: str = ""


def machine_spec(machine_type: str) -> MachineSpec:
    """Parse a machine type; raise ValueError (naming nodePool.machineType) when unusable."""
    custom = _CUSTOM.match(machine_type)
    shaped = _SHAPED.match(machine_type)
    match = custom or shaped
    series = match.group("series") if match else machine_type.split("-")[0]
    hint = (
        f"use an Intel machine of series {', '.join(s.upper() for s in SUPPORTED_SERIES)} "
        "(e.g. n2-standard-8 or c3-standard-8)"
    )
    if series in _NOT_SUPPORTED:
        why = (
            f"nodePool.machineType '{machine_type}' cannot host Kata: "
            f"{_NOT_SUPPORTED[series]} and nested virtualization needs Intel; {hint}"
        )
        cpus = int(match.group("cpus")) if match else 0
        if custom:
            memory_mib = int(custom.group("mem"))
        elif shaped:
            memory_mib = int(cpus * _GENERIC_SHAPES[shaped.group("shape")] * 1024)
        else:
            memory_mib = 0
        return MachineSpec(machine_type, series, cpus, memory_mib, False, why)
    if series not in _INTEL or match is None:
        raise ValueError(
            f"nodePool.machineType '{machine_type}' is not a machine type this platform knows "
            f"how to size for nested virtualization; {hint}"
        )
    cpus = int(match.group("cpus"))
    if custom:
        memory_mib = int(custom.group("mem"))
    else:
        per_cpu = _INTEL[series].get(match.group("shape"))
        if per_cpu is None:
            raise ValueError(
                f"nodePool.machineType '{machine_type}': {series.upper()} has no "
                f"'{match.group('shape')}' shape; {hint}"
            )
        memory_mib = int(cpus * per_cpu * 1024)
    return MachineSpec(machine_type, series, cpus, memory_mib, True)
