"""How many sandboxes really fit: the capacity plan of the sandbox node pool.

Where each figure comes from (the README's "Capacity plan" repeats this):

- **Machine size**: vCPUs and memory of ``nodePool.machineType`` (``machines.py``). With
  ``nodePool.threadsPerCore: 1`` (Kata pools; SMT off) the node sees one thread per core, so
  half the vCPUs are schedulable while all of them are billed.
- **Allocatable**: what GKE Standard leaves for pods after its own reservation (GKE docs, "Node
  allocatable resources"): memory 25% of the first 4 GiB, 20% of the next 4, 10% of the next 8,
  6% of the next 112 and 2% above 128 GiB, plus a 100 MiB eviction threshold; CPU 6% of the
  first core, 1% of the next, 0.5% of the next 2 and 0.25% above 4.
- **System allowance**: ``isolation.capacity.reservedMemoryMib``/``reservedCpuMillis``, kept for
  the node's system DaemonSets and kata-deploy (an allowance, not a measurement).
- **Memory per sandbox**: ~1.13 GiB host RSS per Kata pod measured on GKE c4-standard-8
  (DESIGN §3 Kata; ``hostMemoryPerSandboxMib``), far above the RuntimeClass ``podFixed`` the
  scheduler charges (130-320Mi). A sandbox whose memory request + podFixed is larger costs that.
- **CPU per sandbox**: RuntimeClass ``podFixed`` CPU (250m for every Kata shim) + the sandbox's
  CPU request: exactly what the scheduler charges, since CPU is shared rather than pinned.

The per-node figure that sizes the pool (``sandboxesPerNode``, and from it the node pool's
``maxPodsPerNode``) is that of the smallest sandbox: the default RuntimeClass with no requests.
It depends only on the machine and these settings, never on the declared templates — GKE cannot
change max pods per node in place, so a template edit must not replace the pool. Declared
sandboxes are then checked against the pool at ``nodePool.maxNodes``, each at its own cost.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

from .. import constants as c
from ..settings import PlatformSettings, ResourceSettings
from ..settings.quantities import parse as quantity

# DaemonSet pods GKE and we run on every node (dataplane, logging, metadata server, CSI,
# kata-deploy…): pod slots on top of the sandboxes.
SYSTEM_PODS_PER_NODE = 16
GKE_MIN_PODS_PER_NODE, GKE_MAX_PODS_PER_NODE = 8, 256

# GKE Standard's memory reservation: (tier size in MiB, share of it). The last tier is open-ended.
_GKE_MEMORY_TIERS: tuple[tuple[float, Fraction], ...] = (
    (4 * 1024, Fraction(25, 100)),
    (4 * 1024, Fraction(20, 100)),
    (8 * 1024, Fraction(10, 100)),
    (112 * 1024, Fraction(6, 100)),
    (math.inf, Fraction(2, 100)),
)
GKE_EVICTION_THRESHOLD_MIB = 100
# GKE Standard's CPU reservation: (tier size in millicores, share of it).
_GKE_CPU_TIERS: tuple[tuple[float, Fraction], ...] = (
    (1000, Fraction(6, 100)),
    (1000, Fraction(1, 100)),
    (2000, Fraction(5, 1000)),
    (math.inf, Fraction(25, 10000)),
)



def _tiered(total: float, tiers: tuple[tuple[float, Fraction], ...]) -> Fraction:
    reserved, rest = Fraction(0), Fraction(total)
    for size, share in tiers:
        part = rest if size == math.inf else min(rest, Fraction(size))
        reserved += part * share
        rest -= part
        if rest <= 0:
            break
    return reserved


def gke_allocatable_memory_mib(memory_mib: int) -> Fraction:
    return memory_mib - _tiered(memory_mib, _GKE_MEMORY_TIERS) - GKE_EVICTION_THRESHOLD_MIB


def gke_allocatable_cpu_millis(vcpus: int) -> Fraction:
    return vcpus * 1000 - _tiered(vcpus * 1000, _GKE_CPU_TIERS)


def overhead(runtime_class: str) -> tuple[Fraction, Fraction]:
    """RuntimeClass podFixed as (MiB, millicores); GKE's gvisor class declares none."""
    for shim, (memory, cpu) in c.KATA_SHIM_OVERHEAD.items():
        if runtime_class == c.kata_runtime_class(shim):
            return quantity(memory) / 2**20, quantity(cpu) * 1000
    return Fraction(0), Fraction(0)


@dataclass(frozen=True)
class Workload:
    """A group of identical sandboxes the stack declares, and what one of them costs a node."""

    setting: str
    count: int
    runtime_class: str
    memory_mib: int
    cpu_millis: int
    per_node: int
    limited_by: str


# What the plan assumes; repeated in its output so a reviewer reads them next to the figures.
ASSUMPTIONS = (
    "sized on resources.requests: limits above requests overcommit the node, and a sandbox "
    "that uses its limits can be OOM-killed or throttled",
    "memory per sandbox is isolation.capacity.hostMemoryPerSandboxMib (measured for Kata on "
    "c4-standard-8), at least podFixed + requests; gVisor pools use the same floor, which "
    "under-counts their density rather than overcommitting",
    "allocatable follows GKE's documented reservation on the machine's memory; the kubelet's "
    "capacity is somewhat lower (kernel), which isolation.capacity.reservedMemoryMib absorbs",
    "a fluid bound: bin-packing leftovers are not counted",
)


@dataclass(frozen=True)
class CapacityPlan:
    machine_type: str
    vcpus: int
    # vCPUs the kubelet can schedule: vcpus, or half of them with threadsPerCore 1.
    schedulable_vcpus: int
    memory_mib: int
    allocatable_memory_mib: int
    allocatable_cpu_millis: int
    # What is left for sandboxes after the system allowance.
    sandbox_memory_mib: int
    sandbox_cpu_millis: int
    host_memory_per_sandbox_mib: int
    sandboxes_per_node: int
    limited_by: str
    max_nodes: int
    pool_capacity: int
    max_pods_per_node: int
    declared: int
    nodes_needed: int
    workloads: tuple[Workload, ...]
    assumptions: tuple[str, ...] = ASSUMPTIONS

    @property
    def fits(self) -> bool:
        return self.nodes_needed <= self.max_nodes and not self.unschedulable

    @property
    def unschedulable(self) -> tuple[Workload, ...]:
        return tuple(w for w in self.workloads if w.count and w.per_node == 0)

    def as_output(self) -> dict[str, Any]:
        out = asdict(self)
        out["workloads"] = [asdict(w) for w in self.workloads]
        return {**out, "fits": self.fits}

    def findings(self) -> tuple[list[str], str | None]:
        """(sandboxes that fit on no node, the overcommit message or None)."""
        errors = [
            f"{w.setting}: one sandbox costs {w.memory_mib} MiB and {w.cpu_millis}m CPU on a "
            f"node (RuntimeClass {w.runtime_class} podFixed + resources.requests, at least "
            f"isolation.capacity.hostMemoryPerSandboxMib {self.host_memory_per_sandbox_mib} "
            f"MiB), but a {self.machine_type} node has {self.sandbox_memory_mib} MiB and "
            f"{self.sandbox_cpu_millis}m for sandboxes; lower its resources.requests or pick a "
            "larger nodePool.machineType"
            for w in self.unschedulable
        ]
        if errors or self.nodes_needed <= self.max_nodes:
            return errors, None
        detail = "; ".join(
            f"{w.setting}: {w.count} x {w.memory_mib} MiB/{w.cpu_millis}m, {w.per_node} per node"
            for w in self.workloads
            if w.count
        )
        return errors, (
            f"sandboxes declare {self.declared} sandboxes (warm-pool replicas + running "
            f"standalone sandboxes) that need {self.nodes_needed} {self.machine_type} nodes "
            f"({detail}), but the sandbox pool has at most nodePool.maxNodes {self.max_nodes} "
            f"(at most {self.pool_capacity} of the smallest sandboxes); raise "
            "nodePool.maxNodes, pick a larger nodePool.machineType, or lower "
            "sandboxes.warmPools[].replicas"
        )


def _per_node(
    memory: Fraction, cpu: Fraction, budget_memory: Fraction, budget_cpu: Fraction
) -> tuple[int, str]:
    by_memory = max(0, math.floor(budget_memory / memory))
    by_cpu = max(0, math.floor(budget_cpu / cpu)) if cpu > 0 else None
    if by_cpu is not None and by_cpu < by_memory:
        return by_cpu, "cpu"
    return by_memory, "memory"


def _cost(
    settings: PlatformSettings, runtime_class: str, resources: ResourceSettings | None
) -> tuple[Fraction, Fraction]:
    """(MiB, millicores) one sandbox costs a node: see the module docstring."""
    fixed_memory, fixed_cpu = overhead(runtime_class)
    requests = resources.requests if resources else {}
    memory = fixed_memory + quantity(requests.get("memory", "0")) / 2**20
    cpu = fixed_cpu + quantity(requests.get("cpu", "0")) * 1000
    floor = settings.isolation.capacity.host_memory_per_sandbox_mib
    return max(Fraction(floor), memory), cpu


def _declared(settings: PlatformSettings) -> list[tuple[str, int, str, ResourceSettings]]:
    """(setting, count, runtime class, resources) per declared group of sandboxes."""
    sb, default = settings.sandboxes, settings.isolation.effective_default_runtime_class
    templates = {t.name: t for t in sb.templates}
    out = []
    for pool in sb.warm_pools:
        t = templates[pool.template]  # settings checked the reference
        out.append(
            (
                f"sandboxes.warmPools '{pool.name}' (template '{t.name}')",
                pool.replicas,
                t.runtime_class or default,
                t.resources,
            )
        )
    for box in sb.sandboxes:
        # A suspended sandbox has no pod, so it takes no room on a node.
        running = int(box.operating_mode == "Running")
        out.append(
            (
                f"sandboxes.sandboxes '{box.name}'",
                running,
                box.runtime_class or default,
                box.resources,
            )
        )
    return out


def declared_sandboxes(settings: PlatformSettings) -> int:
    return sum(count for _, count, _, _ in _declared(settings))


def plan_capacity(settings: PlatformSettings) -> CapacityPlan | None:
    """The plan for a GKE sandbox pool; None on a kubeconfig cluster (no pool to size)."""
    if not settings.cluster.is_gke:
        return None
    pool, cap = settings.node_pool, settings.isolation.capacity
    spec = pool.machine
    alloc_memory = gke_allocatable_memory_mib(spec.memory_mib)
    smt_off = settings.isolation.runtime == "kata" and pool.threads_per_core == 1
    schedulable = max(1, spec.vcpus // 2) if smt_off else spec.vcpus
    alloc_cpu = gke_allocatable_cpu_millis(schedulable)
    budget_memory = max(Fraction(0), alloc_memory - cap.reserved_memory_mib)
    budget_cpu = max(Fraction(0), alloc_cpu - cap.reserved_cpu_millis)

    # The smallest sandbox sizes the pool (max pods per node), whatever the templates declare.
    smallest = _cost(settings, settings.isolation.effective_default_runtime_class, None)
    per_node, limited_by = _per_node(*smallest, budget_memory, budget_cpu)
    if pool.max_pods_per_node is not None:
        max_pods = pool.max_pods_per_node
        slots = max(0, max_pods - SYSTEM_PODS_PER_NODE)
        if slots < per_node:
            per_node, limited_by = slots, "nodePool.maxPodsPerNode"
    else:
        max_pods = min(
            GKE_MAX_PODS_PER_NODE, max(GKE_MIN_PODS_PER_NODE, per_node + SYSTEM_PODS_PER_NODE)
        )

    workloads = []
    for setting, count, runtime_class, resources in _declared(settings):
        memory, cpu = _cost(settings, runtime_class, resources)
        fit, by = _per_node(memory, cpu, budget_memory, budget_cpu)
        if fit > per_node:  # never more than the pod slots allow
            fit, by = per_node, limited_by
        workloads.append(
            Workload(setting, count, runtime_class, math.ceil(memory), math.ceil(cpu), fit, by)
        )
    # Each sandbox takes 1/per_node of a node; a fluid bound, blind to bin-packing leftovers.
    share = sum((Fraction(w.count, w.per_node) for w in workloads if w.per_node), Fraction(0))
    return CapacityPlan(
        machine_type=spec.name,
        vcpus=spec.vcpus,
        schedulable_vcpus=schedulable,
        memory_mib=spec.memory_mib,
        allocatable_memory_mib=math.floor(alloc_memory),
        allocatable_cpu_millis=math.floor(alloc_cpu),
        sandbox_memory_mib=math.floor(budget_memory),
        sandbox_cpu_millis=math.floor(budget_cpu),
        host_memory_per_sandbox_mib=cap.host_memory_per_sandbox_mib,
        sandboxes_per_node=per_node,
        limited_by=limited_by,
        max_nodes=pool.max_nodes,
        pool_capacity=per_node * pool.max_nodes,
        max_pods_per_node=max_pods,
        declared=sum(w.count for w in workloads),
        nodes_needed=math.ceil(share),
        workloads=tuple(workloads),
    )
