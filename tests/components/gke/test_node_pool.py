from __future__ import annotations

import re

import pytest
from helpers import run

from components.gke.node_identity import IMAGE_READER_ROLE, NODE_ROLES, node_account_id
from offline.engine import Plan

POOL = "gcp:container/nodePool:NodePool"


def sandbox_pool(plan: Plan) -> dict:
    return plan.one(POOL, "sandbox-pool-pool").inputs


def test_sandbox_pool_is_kata_ready(dev_plan: Plan) -> None:
    pool = sandbox_pool(dev_plan)
    node = pool["nodeConfig"]
    assert node["advancedMachineFeatures"] == {
        "enableNestedVirtualization": True,
        "threadsPerCore": 1,  # SMT off by default: untrusted code (issue 12.12)
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
    # Neither name nor namePrefix: pulumi-gcp autonames the pool, so a replacement gets a new
    # name and comes up before the old pool is deleted (no deleteBeforeReplace).
    assert "namePrefix" not in reg.inputs and "name" not in reg.inputs
    assert not reg.options["deleteBeforeReplace"]


@pytest.mark.parametrize("suffix", ["sandbox-pool-pool", "cluster-system-pool"])
def test_pools_get_a_gke_name_the_provider_accepts(dev_plan: Plan, suffix: str) -> None:
    # Issue 12.1: the first `pulumi up` failed here ("Cannot specify both name and name_prefix").
    reg = dev_plan.one(POOL, suffix)
    assert reg.outputs["name"].startswith(f"{reg.name}-")
    assert len(reg.outputs["name"]) <= 40
    assert not reg.options["deleteBeforeReplace"]


def test_a_pool_name_gke_cannot_hold_is_refused_before_registration() -> None:
    plan = run(nodePool={"name": "a-very-long-sandbox-pool-name-x"})
    assert plan.registrations == []
    assert plan.error is not None and "nodePool.name" in plan.error and "40" in plan.error


@pytest.mark.parametrize(
    ("cluster", "pool", "per_zone"),
    [
        ({}, {}, 1),  # regional: 3 zones, min 1 -> one per zone
        ({"location": "us-central1-a"}, {"minNodes": 2, "maxNodes": 3}, 2),
        ({}, {"zones": ["us-central1-a", "us-central1-b"], "minNodes": 3, "maxNodes": 6}, 2),
    ],
)
def test_pools_start_with_nodes_not_zero(cluster: dict, pool: dict, per_zone: int) -> None:
    # Issue 12.2: Terraform sends initial_node_count 0 when unset, and the autoscaler never
    # adds a node for a Kata pod (its labels appear only once kata-deploy ran on a node).
    plan = run(cluster=cluster, nodePool=pool)
    assert plan.error is None, plan.error
    assert plan.one(POOL, "sandbox-pool-pool").outputs["initialNodeCount"] == per_zone
    assert plan.one(POOL, "cluster-system-pool").outputs["initialNodeCount"] >= 1


def test_kata_pool_that_could_scale_to_zero_is_refused() -> None:
    plan = run(nodePool={"minNodes": 0})
    assert plan.registrations == []
    assert plan.error is not None and "nodePool.minNodes" in plan.error
    assert "kata-deploy" in plan.error


def test_gvisor_pool_may_scale_to_zero() -> None:
    # GKE labels and taints GKE Sandbox pools itself: the autoscaler's node template has them.
    plan = run(
        isolation={"runtime": "gvisor", "defaultRuntimeClass": None}, nodePool={"minNodes": 0}
    )
    assert plan.error is None, plan.error


def test_pools_wait_for_their_identity_roles(dev_plan: Plan) -> None:
    # Issue 12.7: nodes that boot before their roles exist cannot log or pull images.
    for suffix, account in (
        ("sandbox-pool-pool", "sandbox-pool-sa"),
        ("cluster-system-pool", "system-sa"),
    ):
        pool = dev_plan.one(POOL, suffix)
        sa = dev_plan.one("gcp:serviceaccount/account:Account", account)
        bindings = [
            r.urn
            for r in dev_plan.registrations
            if r.type.startswith("gcp:") and "iam" in r.type.lower() and sa.urn in r.dependencies
        ]
        assert bindings and set(bindings) <= set(pool.dependencies)


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


def test_node_accounts_read_images_only_from_the_listed_repositories() -> None:
    # Issue 18.6: never roles/artifactregistry.reader project-wide (every private image).
    plan = run(
        cluster={
            "nodeImageRepositories": [
                "us-central1/sandbox-images",
                "projects/shared-images/locations/europe-west4/repositories/base",
            ]
        }
    )
    assert plan.error is None, plan.error
    project_roles = {r.inputs["role"] for r in plan.by_type("gcp:projects/iAMMember:IAMMember")}
    assert IMAGE_READER_ROLE not in project_roles
    grants = plan.by_type("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
    # Both pools' accounts, on each repository.
    assert sorted(
        (g.inputs["project"], g.inputs["location"], g.inputs["repository"]) for g in grants
    ) == sorted(
        [
            ("my-gcp-project", "us-central1", "sandbox-images"),
            ("shared-images", "europe-west4", "base"),
        ]
        * 2
    )
    assert {g.inputs["role"] for g in grants} == {IMAGE_READER_ROLE}
    pool = plan.one(POOL, "sandbox-pool-pool")
    sandbox_sa = plan.one("gcp:serviceaccount/account:Account", "sandbox-pool-sa")
    mine = [g.urn for g in grants if sandbox_sa.urn in g.dependencies]
    assert len(mine) == 2 and set(mine) <= set(pool.dependencies)


def test_a_repository_that_is_not_one_is_refused() -> None:
    plan = run(cluster={"nodeImageRepositories": ["docker.io/library"]})
    assert plan.error is not None and "cluster.nodeImageRepositories[0]" in plan.error
