from __future__ import annotations

import re

from helpers import run

from components.node_identity import NODE_ROLES, node_account_id
from offline.engine import Plan

POOL = "gcp:container/nodePool:NodePool"


def sandbox_pool(plan: Plan) -> dict:
    return plan.one(POOL, "sandbox-pool-pool").inputs


def test_sandbox_pool_is_kata_ready(dev_plan: Plan) -> None:
    pool = sandbox_pool(dev_plan)
    node = pool["nodeConfig"]
    assert node["advancedMachineFeatures"] == {
        "enableNestedVirtualization": True,
        "threadsPerCore": 2,
    }
    assert node["imageType"] == "UBUNTU_CONTAINERD"
    assert node["machineType"] == "n2-standard-8"
    assert node["taints"] == [
        {"key": "agent-sandbox.dev/sandbox", "value": "true", "effect": "NO_SCHEDULE"}
    ]
    assert node["labels"]["agent-sandbox.dev/pool"] == "sandbox"
    assert node["shieldedInstanceConfig"] == {
        "enableSecureBoot": True,
        "enableIntegrityMonitoring": True,
    }
    assert node["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert node["diskSizeGb"] >= 150
    assert pool["autoscaling"]["totalMinNodeCount"] == 1
    assert pool["autoscaling"]["totalMaxNodeCount"] == 3


def test_nested_virtualization_change_replaces_the_pool(dev_plan: Plan) -> None:
    reg = dev_plan.one(POOL, "sandbox-pool-pool")
    assert "nodeConfig.advancedMachineFeatures" in reg.options["replaceOnChanges"]
    # A name prefix lets the replacement come up before the old pool is deleted.
    assert "namePrefix" in reg.inputs and "name" not in reg.inputs


def test_sandbox_pool_runs_as_a_dedicated_least_privilege_identity(dev_plan: Plan) -> None:
    sa = dev_plan.one("gcp:serviceaccount/account:Account", "sandbox-pool-sa")
    email = f"{sa.inputs['accountId']}@my-gcp-project.iam.gserviceaccount.com"
    assert sandbox_pool(dev_plan)["nodeConfig"]["serviceAccount"] == email
    roles = sorted(
        r.inputs["role"]
        for r in dev_plan.by_type("gcp:projects/iAMMember:IAMMember")
        if r.inputs["member"] == f"serviceAccount:{email}"
    )
    assert roles == sorted(NODE_ROLES)


def test_spot_and_n1_min_cpu_platform() -> None:
    plan = run(nodePool={"machineType": "n1-standard-16", "spot": True})
    node = sandbox_pool(plan)["nodeConfig"]
    assert node["spot"] is True
    assert node["minCpuPlatform"] == "Intel Haswell"


def test_gvisor_switch_makes_a_gke_sandbox_pool() -> None:
    plan = run(isolation={"runtime": "gvisor", "defaultRuntimeClass": None})
    assert plan.error is None, plan.error
    node = sandbox_pool(plan)["nodeConfig"]
    assert node["sandboxConfig"] == {"type": "GVISOR"}
    assert node["imageType"] == "COS_CONTAINERD"
    assert "advancedMachineFeatures" not in node


def test_node_accounts_are_named_after_the_cluster_within_gcp_limits(dev_plan: Plan) -> None:
    ids = sorted(
        r.inputs["accountId"] for r in dev_plan.by_type("gcp:serviceaccount/account:Account")
    )
    assert ids == ["agent-sandbox-dev-sandbox", "agent-sandbox-dev-system"]
    long = node_account_id("a-very-long-cluster-name-for-production-use", "sandbox")
    assert len(long) <= 30 and long.endswith("-sandbox") and long[0].isalpha()
    assert re.fullmatch(r"[a-z][-a-z0-9]{4,28}[a-z0-9]", node_account_id("9x", "system"))
