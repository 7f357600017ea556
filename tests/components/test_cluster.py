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
    assert provider.inputs["clusterIdentifier"] == (
        "projects/my-gcp-project/locations/us-central1/clusters/agent-sandbox-dev"
    )
    assert "kubeconfig" in dev_plan.secret_outputs


def test_provider_is_replaced_with_the_cluster(dev_plan: Plan) -> None:
    # Issue 12.5: the cluster id is the same for a cluster re-created under the same name, so
    # only replace_with redeploys everything into the new, empty cluster.
    provider = dev_plan.one(PROVIDER)
    assert provider.options["replaceWith"] == [dev_plan.one(GKE).urn]


def test_every_kubernetes_object_waits_for_the_system_pool(dev_plan: Plan) -> None:
    # Issue 12.7: the controller and router are pinned to the system pool; through the provider
    # every Kubernetes object waits for it (nothing runs on a cluster without nodes).
    provider = dev_plan.one(PROVIDER)
    assert dev_plan.one(POOL, "cluster-system-pool").urn in provider.dependencies
    deployments = dev_plan.by_type("kubernetes:apps/v1:Deployment")
    assert deployments and all(d.provider.startswith(provider.urn) for d in deployments)


def test_cluster_is_protected_in_pulumi_too(dev_plan: Plan) -> None:
    # Issue 12.8: GKE's deletion_protection does not stop the engine from deleting dependents
    # first on a replacing change; protect does.
    gke = dev_plan.one(GKE)
    assert gke.inputs["deletionProtection"] is True and gke.options["protect"] is True
    plan = run(cluster={"deletionProtection": False})
    assert plan.one(GKE).options["protect"] is False


def test_kubeconfig_uses_application_default_credentials_by_default(dev_plan: Plan) -> None:
    # Issue 12.9: CI authenticates with ADC (key file or workload identity federation).
    kubeconfig = dev_plan.one(PROVIDER).inputs["kubeconfig"]
    assert "- --use_application_default_credentials" in kubeconfig
    gcloud = run(cluster={"kubeCredentials": "gcloud"}).one(PROVIDER).inputs["kubeconfig"]
    assert "use_application_default_credentials" not in gcloud


def test_default_pool_runs_as_the_system_identity(dev_plan: Plan) -> None:
    # Issue 12.10: never the Compute Engine default service account.
    gke = dev_plan.one(GKE)
    sa = dev_plan.one("gcp:serviceaccount/account:Account", "cluster-system-sa")
    email = f"{sa.inputs['accountId']}@my-gcp-project.iam.gserviceaccount.com"
    assert gke.inputs["nodeConfig"]["serviceAccount"] == email
    assert gke.inputs["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert "nodeConfig" in gke.options["ignoreChanges"]
    assert sa.urn in gke.dependencies


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
