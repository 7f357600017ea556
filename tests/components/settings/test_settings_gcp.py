"""GCP's rules (issue 15, family 3): names, zones, CPU platforms, node counts and disk sizes
as GCP validates them, refused before anything registers (sources: settings/gcp_rules.py)."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import refused, run


@pytest.mark.parametrize(
    "name",
    ["1-cluster", "agent_sandbox", "c" * 41, "ends-with-"],
)
def test_cluster_names_follow_gke(name: str) -> None:
    refused(f"cluster.name '{name}' is not a name GKE accepts", "rename it", cluster={"name": name})


def test_a_40_character_cluster_name_is_fine() -> None:
    assert run(cluster={"name": "c" * 40}).error is None


def test_node_pool_names_leave_room_for_the_autonaming_suffix() -> None:
    # 27 + "-pool" + "-" + 7 hex = 40, GKE's limit; 28 would be 41 once Pulumi names the pool.
    assert run(nodePool={"name": "p" * 27}).error is None
    refused(
        "nodePool.name",
        "at most 27 characters",
        "-pool-<7 random characters> and allows 40",
        nodePool={"name": "p" * 28},
    )
    refused("nodePool.name '9-pool'", nodePool={"name": "9-pool"})


@pytest.mark.parametrize("project", ["p", "My-Project", "123456789012", "project_1"])
def test_project_ids_follow_gcp(project: str) -> None:
    refused(f"cluster.project '{project}' is not a GCP project ID", cluster={"project": project})


def test_a_domain_scoped_project_is_a_project_id() -> None:
    assert run(cluster={"project": "example.com:my-project"}).error is None


def test_zones_lie_in_the_clusters_region() -> None:
    refused(
        "nodePool.zones[1] 'europe-west1-b' is outside the cluster's region us-central1",
        "use zones such as us-central1-a",
        nodePool={"zones": ["us-central1-a", "europe-west1-b"]},
    )
    refused("nodePool.zones[0] 'us-central1' is not a zone", nodePool={"zones": ["us-central1"]})
    refused("twice", nodePool={"zones": ["us-central1-a", "us-central1-a"]})
    # A zonal cluster: its region is the zone's.
    ok = run(cluster={"location": "us-central1-c"}, nodePool={"zones": ["us-central1-a"]})
    assert ok.error is None, ok.error
    refused("cluster.location 'us-central'", cluster={"location": "us-central"})


@pytest.mark.parametrize(
    ("machine", "platform", "ok"),
    [
        ("n2-standard-8", "Intel Ice Lake", True),
        ("n2-standard-8", "Intel Sapphire Rapids", False),
        ("n2-standard-8", "AMD Milan", False),
        ("c3-standard-8", "Intel Cascade Lake", False),
        ("n1-standard-8", "Intel Skylake", True),
        ("c4-standard-8", "Intel Granite Rapids", True),
    ],
)
def test_min_cpu_platform_belongs_to_the_machine_series(
    machine: str, platform: str, ok: bool
) -> None:
    pool: dict[str, Any] = {"machineType": machine, "minCpuPlatform": platform}
    if machine.startswith("c4"):
        pool["diskType"] = "hyperdisk-balanced"
    if ok:
        plan = run(nodePool=pool)
        # (A C4 pool also makes the dev stack's pd-balanced volume an error: not this rule's.)
        assert "minCpuPlatform" not in (plan.error or ""), plan.error
        if not machine.startswith("c4"):
            assert plan.error is None, plan.error
    else:
        refused(
            f"nodePool.minCpuPlatform '{platform}' is not a CPU platform of",
            "use one of those",
            nodePool=pool,
        )


def test_node_counts_and_disk_sizes_within_gke_limits() -> None:
    refused("nodePool.maxNodes 1001 is above GKE's 1000", nodePool={"maxNodes": 1001})
    refused("cluster.systemPool.maxNodes 5000", cluster={"systemPool": {"maxNodes": 5000}})
    refused("nodePool.diskSizeGb 70000 is outside", nodePool={"diskSizeGb": 70000})
    refused("cluster.systemPool.diskSizeGb 100000", cluster={"systemPool": {"diskSizeGb": 100000}})


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"node-role.kubernetes.io/sandbox": "true"}, "the node would not register"),
        ({"katacontainers.io/kata-runtime": "true"}, "Kata's readiness gate would open"),
        ({"cloud.google.com/gke-nodepool": "x"}, "reserve"),
        ({"agent-sandbox.dev/pool": "other"}, "reserve"),
        ({"bad key": "x"}, "not a Kubernetes label key"),
        ({"team": "-bad-"}, "not a Kubernetes label value"),
    ],
)
def test_node_labels_as_the_kubelet_and_gke_take_them(
    labels: dict[str, str], expected: str
) -> None:
    refused("nodePool.labels", expected, nodePool={"labels": labels})


def test_kubeconfig_clusters_skip_the_gcp_rules() -> None:
    plan = run("local", cluster={"name": "Not_A_GKE_Name"})
    assert plan.error is None, plan.error


def test_networks_and_service_accounts_as_gcp_names_them() -> None:
    refused(
        "cluster.network 'My VPC'", "gcloud compute networks list", cluster={"network": "My VPC"}
    )
    ok = run(cluster={"subnetwork": "projects/my-gcp-project/regions/us-central1/subnetworks/a"})
    assert ok.error is None, ok.error
    refused(
        "nodePool.serviceAccount 'nodes'",
        "write the e-mail",
        nodePool={"serviceAccount": "nodes"},
    )
    ok = run(nodePool={"serviceAccount": "nodes@my-gcp-project.iam.gserviceaccount.com"})
    assert ok.error is None, ok.error
