from __future__ import annotations

from helpers import run

from offline.engine import Plan

GKE = "gcp:container/cluster:Cluster"
POOL = "gcp:container/nodePool:NodePool"
PROVIDER = "pulumi:providers:kubernetes"


def test_dev_creates_a_gke_standard_cluster_ready_for_gateways_and_policies(dev_plan: Plan) -> None:
    cluster = dev_plan.one(GKE).inputs
    assert cluster["gatewayApiConfig"] == {"channel": "CHANNEL_STANDARD"}
    assert cluster["workloadIdentityConfig"] == {"workloadPool": "my-gcp-project.svc.id.goog"}
    assert cluster["datapathProvider"] == "ADVANCED_DATAPATH"  # NetworkPolicy enforcement
    assert cluster["networkingMode"] == "VPC_NATIVE"
    assert cluster["removeDefaultNodePool"] is True
    assert cluster["releaseChannel"] == {"channel": "REGULAR"}
    assert "enableAutopilot" not in cluster or cluster["enableAutopilot"] is False
    assert cluster["addonsConfig"]["agentSandboxConfig"] == {"enabled": False}


def test_dev_has_a_system_pool_for_the_controller_and_router(dev_plan: Plan) -> None:
    system = dev_plan.one(POOL, "system-pool").inputs
    assert system["nodeConfig"]["labels"] == {"agent-sandbox.dev/pool": "system"}
    assert "taints" not in system["nodeConfig"]


def test_gke_provider_uses_the_exec_plugin_and_a_stable_cluster_identifier(dev_plan: Plan) -> None:
    provider = dev_plan.one(PROVIDER)
    assert "command: gke-gcloud-auth-plugin" in provider.inputs["kubeconfig"]
    assert "kubeconfig" in provider.secret_paths
    assert provider.inputs["clusterIdentifier"].startswith(dev_plan.one(GKE).name)
    assert "kubeconfig" in dev_plan.secret_outputs


def test_kubeconfig_stack_registers_no_gcp_resource(local_plan: Plan) -> None:
    assert [r.type for r in local_plan.registrations if r.type.startswith("gcp:")] == []
    provider = local_plan.one(PROVIDER).inputs
    assert provider["context"] == "minikube"


def test_existing_gke_cluster_is_adopted_not_created() -> None:
    plan = run(cluster={"mode": "existing", "name": "prod-1", "systemPool": None})
    assert plan.error is None, plan.error
    assert plan.by_type(GKE) == []
    pools = plan.by_type(POOL)
    assert [p.inputs["cluster"] for p in pools] == ["prod-1"]
    assert "clusterIdentifier" in plan.one(PROVIDER).inputs
