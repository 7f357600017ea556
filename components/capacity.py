"""How many sandboxes really fit: the capacity plan of the sandbox node pool.

RuntimeClass ``overhead.podFixed`` (130-320Mi) is what the scheduler charges; the host pays far
more. The default per-sandbox figure, ~1.13 GiB host RSS per Kata pod, was measured on GKE
c4-standard-8 (DESIGN §3 Kata); stable density there was ~20 pods/node (qemu), ~40 (clh).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .settings import PlatformSettings

# DaemonSets GKE and we run on every node (dataplane, logging, metadata server, CSI, kata-deploy…).
SYSTEM_PODS_PER_NODE = 16
GKE_MIN_PODS_PER_NODE, GKE_MAX_PODS_PER_NODE = 8, 256


@dataclass(frozen=True)
class CapacityPlan:
    machine_type: str
    vcpus: int
    memory_mib: int
    host_memory_per_sandbox_mib: int
    sandboxes_per_node: int
    limited_by: str
    max_nodes: int
    pool_capacity: int
    declared: int
    max_pods_per_node: int | None

    @property
    def fits(self) -> bool:
        return self.declared <= self.pool_capacity

    def as_output(self) -> dict[str, Any]:
        return {**asdict(self), "fits": self.fits}


def declared_sandboxes(settings: PlatformSettings) -> int:
    sb = settings.sandboxes
    return len(sb.sandboxes) + sum(p.replicas for p in sb.warm_pools)


def plan_capacity(settings: PlatformSettings) -> CapacityPlan | None:
    """The plan for a GKE sandbox pool; None on a kubeconfig cluster (no pool to size)."""
    if not settings.cluster.is_gke:
        return None
    pool, cap = settings.node_pool, settings.isolation.capacity
    spec = pool.machine
    by_memory = max(
        0, (spec.memory_mib - cap.reserved_memory_mib) // cap.host_memory_per_sandbox_mib
    )
    by_cpu = max(0, (spec.vcpus * 1000 - cap.reserved_cpu_millis) // cap.cpu_per_sandbox_millis)
    per_node = min(by_memory, by_cpu)
    max_pods = pool.max_pods_per_node or min(
        GKE_MAX_PODS_PER_NODE, max(GKE_MIN_PODS_PER_NODE, per_node + SYSTEM_PODS_PER_NODE)
    )
    return CapacityPlan(
        machine_type=spec.name,
        vcpus=spec.vcpus,
        memory_mib=spec.memory_mib,
        host_memory_per_sandbox_mib=cap.host_memory_per_sandbox_mib,
        sandboxes_per_node=per_node,
        limited_by="memory" if by_memory <= by_cpu else "cpu",
        max_nodes=pool.max_nodes,
        pool_capacity=per_node * pool.max_nodes,
        declared=declared_sandboxes(settings),
        max_pods_per_node=max_pods,
    )
