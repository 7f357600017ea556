"""The capacity plan: how many Kata sandboxes really fit, worked out by hand from the figures
the plan cites (DESIGN §3 Kata: ~1.13 GiB = 1157 MiB host RSS per Kata pod, podFixed 250m;
GKE's node allocatable tiers), then checked against the stack outputs and the node pool."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import config, run

from components.isolation.capacity import quantity
from offline.engine import Plan, evaluate

POOL = "gcp:container/nodePool:NodePool"
NO_SANDBOXES = {"templates": [], "warmPools": [], "sandboxes": []}


def template(name: str, cpu: str, memory: str, runtime_class: str | None = None) -> dict[str, Any]:
    t: dict[str, Any] = {
        "name": name,
        "image": "python:3.12-slim",
        "resources": {
            "requests": {"cpu": cpu, "memory": memory},
            # Limits never below requests (the API server refuses that; so do the settings).
            "limits": {
                "cpu": max(cpu, "2", key=quantity),
                "memory": max(memory, "4Gi", key=quantity),
            },
        },
    }
    if runtime_class:
        t["runtimeClass"] = runtime_class
    return t


# The hand-worked figures below are for SMT on (threadsPerCore 2: all 8 vCPUs schedulable);
# the dev stack's default (1, SMT off) is worked out in its own test.
SMT_ON = {"threadsPerCore": 2}


def warm_pool(
    replicas: int, cpu: str = "500m", memory: str = "1Gi", smt: bool = True, **patch: Any
) -> Plan:
    node_pool = {**(SMT_ON if smt else {}), **patch.pop("nodePool", {})}
    return run(
        sandboxes={
            **NO_SANDBOXES,
            "templates": [template("py", cpu, memory)],
            "warmPools": [{"name": "py-pool", "template": "py", "replicas": replicas}],
        },
        nodePool=node_pool,
        **patch,
    )


def test_dev_pool_figures_worked_out_by_hand(dev_plan: Plan) -> None:
    # n2-standard-8: 8 vCPU, 32 GiB = 32768 MiB; threadsPerCore 1 (SMT off): 4 vCPUs
    # schedulable (issue 12.6: the plan used to count all 8).
    # GKE reserves 25% of 4096 + 20% of 4096 + 10% of 8192 + 6% of (32768-16384)
    #   = 1024 + 819.2 + 819.2 + 983.04 = 3645.44 MiB, plus the 100 MiB eviction threshold:
    #   allocatable 32768 - 3745.44 = 29022.56 MiB; minus reservedMemoryMib 1024 = 27998.56.
    # CPU of 4 vCPUs: 60m + 10m + 10m (0.5% of cores 3-4) = 80m -> 3920m; minus 500m = 3420m.
    # Smallest sandbox: max(1157 MiB host RSS, 320Mi podFixed) and 250m podFixed:
    #   by memory 27998.56 // 1157 = 24; by CPU 3420 // 250 = 13 -> 13, CPU-bound.
    cap = dev_plan.outputs["capacity"]
    assert cap["machine_type"] == "n2-standard-8"
    assert (cap["vcpus"], cap["schedulable_vcpus"], cap["memory_mib"]) == (8, 4, 32768)
    assert cap["allocatable_memory_mib"] == 29022
    assert cap["allocatable_cpu_millis"] == 3920
    assert (cap["sandbox_memory_mib"], cap["sandbox_cpu_millis"]) == (27998, 3420)
    assert cap["sandboxes_per_node"] == 13
    assert cap["limited_by"] == "cpu"
    # Pool at nodePool.maxNodes 3.
    assert cap["pool_capacity"] == 39
    # 13 sandboxes + 16 system pods: the node pool is created with exactly that.
    assert cap["max_pods_per_node"] == 29
    assert dev_plan.one(POOL, "sandbox-pool-pool").inputs["maxPodsPerNode"] == 29
    # The plan says what it assumes, limits overcommitting above requests among it.
    assert any("limits above requests overcommit" in a for a in cap["assumptions"])


def test_smt_on_schedules_every_vcpu() -> None:
    # threadsPerCore 2: CPU 60 + 10 + 10 + 10 (0.25% of the last 4 cores) = 90m -> 7910m;
    # minus 500m = 7410m -> 29 by CPU; memory 24 binds.
    cap = run(nodePool=SMT_ON).outputs["capacity"]
    assert (cap["schedulable_vcpus"], cap["allocatable_cpu_millis"]) == (8, 7910)
    assert (cap["sandboxes_per_node"], cap["limited_by"]) == (24, "memory")


def test_threads_per_core_defaults_to_one_for_untrusted_code() -> None:
    # Issue 12.12: one thread per core unless the stack asks for SMT.
    from components.settings import NodePoolSettings

    assert NodePoolSettings().threads_per_core == 1


def test_c4_standard_8_where_the_kata_figure_was_measured() -> None:
    cfg = config(
        nodePool={"machineType": "c4-standard-8", "diskType": "hyperdisk-balanced", **SMT_ON}
    )
    # C4 attaches Hyperdisk only: the VS Code sandbox's volume uses the platform's class.
    storage = cfg["agent-sandbox-platform:sandboxes"]["sandboxes"][0]["storage"][0]
    storage["storageClass"] = "sandbox-hyperdisk-balanced"
    plan = evaluate(cfg, stack="dev")
    # c4-standard-8: 8 vCPU, 30 GiB = 30720 MiB. GKE reserves
    #   1024 + 819.2 + 819.2 + 6% of 14336 (860.16) + 100 = 3622.56 -> 27097.44 MiB allocatable;
    #   - 1024 = 26073.44; // 1157 = 22 (22 x 1157 = 25454, 23 x 1157 = 26611).
    # DESIGN §3 measured ~20 stable Kata (qemu) pods on this machine: the plan is in that range.
    cap = plan.outputs["capacity"]
    assert cap["allocatable_memory_mib"] == 27097
    assert cap["sandboxes_per_node"] == 22
    assert cap["max_pods_per_node"] == 38
    assert plan.one(POOL, "sandbox-pool-pool").inputs["maxPodsPerNode"] == 38


def test_a_warm_pool_that_fits_exactly_is_accepted() -> None:
    # One sandbox of the template (500m, 1Gi) under kata-qemu (podFixed 320Mi, 250m):
    #   memory max(1157, 1024 + 320) = 1344 MiB -> 27998.56 // 1344 = 20 per node;
    #   CPU 500 + 250 = 750m -> 7410 // 750 = 9 per node. 9 per node x 3 nodes = 27.
    plan = warm_pool(27)
    assert plan.error is None, plan.error
    cap = plan.outputs["capacity"]
    (w,) = cap["workloads"]
    assert (w["memory_mib"], w["cpu_millis"], w["per_node"], w["limited_by"]) == (
        1344,
        750,
        9,
        "cpu",
    )
    assert (cap["declared"], cap["nodes_needed"], cap["fits"]) == (27, 3, True)


def test_an_over_capacity_warm_pool_is_rejected_before_anything_registers() -> None:
    plan = warm_pool(28)  # one more than 9 per node x 3 nodes
    assert plan.error is not None
    assert plan.registrations == []
    for part in (
        "sandboxes.warmPools 'py-pool'",
        "need 4 n2-standard-8 nodes",
        "nodePool.maxNodes",
    ):
        assert part in plan.error, plan.error
    assert "onOvercommit: warn" in plan.error  # and how to accept it instead


def test_more_nodes_make_room_for_the_same_warm_pool() -> None:
    plan = warm_pool(28, nodePool={"maxNodes": 4})
    assert plan.error is None, plan.error
    assert plan.outputs["capacity"]["nodes_needed"] == 4


def test_overcommit_can_be_downgraded_to_a_warning() -> None:
    plan = warm_pool(28, isolation={"capacity": {"onOvercommit": "warn"}})
    assert plan.error is None, plan.error
    assert any("need 4 n2-standard-8 nodes" in w for w in plan.warnings), plan.warnings
    assert plan.outputs["capacity"]["fits"] is False


def test_a_sandbox_no_node_can_hold_is_always_an_error() -> None:
    # 40Gi requested: more than the 27998 MiB a node has for sandboxes, whatever onOvercommit.
    plan = warm_pool(1, memory="40Gi", isolation={"capacity": {"onOvercommit": "warn"}})
    assert plan.error is not None
    assert "one sandbox costs 41280 MiB" in plan.error  # 40960 + 320 podFixed
    assert "larger nodePool.machineType" in plan.error
    assert plan.registrations == []


def test_standalone_sandboxes_count_only_while_running() -> None:
    box = {**template("box", "1", "2Gi"), "operatingMode": "Suspended"}
    plan = run(sandboxes={**NO_SANDBOXES, "sandboxes": [box]})
    assert plan.outputs["capacity"]["declared"] == 0
    plan = run(sandboxes={**NO_SANDBOXES, "sandboxes": [{**box, "operatingMode": "Running"}]})
    assert plan.outputs["capacity"]["declared"] == 1


def test_editing_a_template_never_resizes_the_pool(dev_plan: Plan) -> None:
    # GKE cannot change max pods per node in place: it would replace the pool.
    plan = warm_pool(3, cpu="2", memory="6Gi", smt=False)
    assert plan.error is None, plan.error
    before = dev_plan.one(POOL, "sandbox-pool-pool").inputs["maxPodsPerNode"]
    assert plan.one(POOL, "sandbox-pool-pool").inputs["maxPodsPerNode"] == before


def test_an_explicit_max_pods_per_node_caps_the_sandboxes_per_node() -> None:
    plan = run(nodePool={"maxPodsPerNode": 24})  # 24 - 16 system pods = 8 sandboxes
    cap = plan.outputs["capacity"]
    assert (cap["sandboxes_per_node"], cap["limited_by"]) == (8, "nodePool.maxPodsPerNode")
    assert plan.one(POOL, "sandbox-pool-pool").inputs["maxPodsPerNode"] == 24


def test_the_host_memory_figure_is_a_setting() -> None:
    # A clh-only stack may measure a lighter footprint: 600 MiB -> 27998.56 // 600 = 46 by
    # memory, then CPU 7410 // 250 = 29 binds.
    plan = run(isolation={"capacity": {"hostMemoryPerSandboxMib": 600}}, nodePool=SMT_ON)
    cap = plan.outputs["capacity"]
    assert (cap["sandboxes_per_node"], cap["limited_by"]) == (29, "cpu")


def test_no_capacity_plan_without_a_gke_pool(local_plan: Plan) -> None:
    assert local_plan.outputs["capacity"] is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("250m", 0.25), ("2", 2), ("1.5Gi", 1.5 * 2**30), ("512Mi", 512 * 2**20), ("1G", 10**9)],
)
def test_quantities(value: str, expected: float) -> None:
    assert quantity(value) == expected
