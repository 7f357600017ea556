from __future__ import annotations

import pytest
from helpers import ADOPTABLE_CLUSTER, config, run

from offline.engine import Plan, evaluate

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
    import yaml

    def exec_config(plan: Plan) -> dict:
        kubeconfig = yaml.safe_load(plan.one(PROVIDER).inputs["kubeconfig"])
        return kubeconfig["users"][0]["user"]["exec"]

    adc = exec_config(dev_plan)
    assert adc["command"] == "gke-gcloud-auth-plugin"
    assert adc["args"] == ["--use_application_default_credentials"]
    assert "args" not in exec_config(run(cluster={"kubeCredentials": "gcloud"}))


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


READY_CLUSTER = ADOPTABLE_CLUSTER


def adopt(cluster: dict | None = None, **sections: object) -> Plan:
    cfg = config(cluster={"mode": "existing", "name": "prod-1", "systemPool": None}, **sections)
    clusters = {"prod-1": cluster} if cluster is not None else {}
    return evaluate(cfg, stack="dev", gke_clusters=clusters)


def test_existing_gke_cluster_is_adopted_not_created() -> None:
    plan = adopt(READY_CLUSTER)
    assert plan.error is None, plan.error
    assert plan.by_type(GKE) == []
    pools = plan.by_type(POOL)
    assert [p.inputs["cluster"] for p in pools] == ["prod-1"]
    assert "clusterIdentifier" in plan.one(PROVIDER).inputs


@pytest.mark.parametrize(
    ("change", "setting", "fix"),
    [
        ({"workloadIdentityConfigs": []}, "Workload Identity", "--workload-pool="),
        ({"networkingMode": "ROUTES"}, "VPC-native", "--enable-ip-alias"),
        ({"gatewayApiConfigs": [{"channel": "CHANNEL_DISABLED"}]}, "Gateway", "--gateway-api"),
        ({"datapathProvider": "LEGACY_DATAPATH"}, "NetworkPolicy", "--enable-network-policy"),
    ],
)
def test_adopting_a_cluster_checks_what_the_platform_needs(
    change: dict, setting: str, fix: str
) -> None:
    # Issue 12.3: each missing feature is an error naming the setting and the gcloud fix,
    # raised before anything registers; unenforced NetworkPolicy is an error, not a warning.
    plan = adopt({**READY_CLUSTER, **change})
    assert plan.registrations == []
    assert plan.error is not None and "cluster.name 'prod-1'" in plan.error
    assert setting in plan.error and fix in plan.error


def test_calico_counts_as_network_policy_enforcement() -> None:
    calico = {"datapathProvider": "", "networkPolicies": [{"enabled": True, "provider": "CALICO"}]}
    plan = adopt({**READY_CLUSTER, **calico})
    assert plan.error is None, plan.error


def test_an_undescribed_cluster_is_never_assumed_ready() -> None:
    # Offline nothing can read GKE: the engine refuses to answer for a cluster nobody described
    # (as GKE fails the read of a cluster it does not know) instead of assuming it is ready.
    with pytest.raises(Exception, match="no description of GKE cluster 'prod-1'"):
        adopt(None)


def test_a_fresh_project_gets_its_apis_enabled_and_never_disabled(dev_plan: Plan) -> None:
    # Issue 12.11: the first call on a fresh project fails without these.
    services = dev_plan.by_type("gcp:projects/service:Service")
    assert sorted(s.inputs["service"] for s in services) == [
        "artifactregistry.googleapis.com",
        "compute.googleapis.com",
        "container.googleapis.com",
        "iam.googleapis.com",
    ]
    assert all(s.inputs["disableOnDestroy"] is False for s in services)
    gke = dev_plan.one(GKE)
    assert {s.urn for s in services} <= set(gke.dependencies)
    sa = dev_plan.one("gcp:serviceaccount/account:Account", "cluster-system-sa")
    assert {s.urn for s in services} <= set(sa.dependencies)
    assert run(cluster={"enableApis": False}).by_type("gcp:projects/service:Service") == []


def test_maintenance_window_and_exclusions_reach_the_cluster() -> None:
    # Issue 12.13: every node upgrade evicts running sandboxes.
    window = {"startTime": "2026-01-03T02:00:00Z", "endTime": "2026-01-03T08:00:00Z"}
    plan = run(
        cluster={
            "maintenance": {
                "window": {**window, "recurrence": "FREQ=WEEKLY;BYDAY=SA,SU"},
                "exclusions": [{"name": "launch", **window}],
            }
        }
    )
    assert plan.error is None, plan.error
    policy = plan.one(GKE).inputs["maintenancePolicy"]
    assert policy["recurringWindow"]["recurrence"] == "FREQ=WEEKLY;BYDAY=SA,SU"
    assert policy["maintenanceExclusions"] == [
        {
            "exclusionName": "launch",
            **window,
            "exclusionOptions": {"scope": "NO_MINOR_OR_NODE_UPGRADES"},
        }
    ]


def test_exclusions_without_a_window_are_refused() -> None:
    # Terraform's maintenance_policy needs exactly one window.
    plan = run(cluster={"maintenance": {"exclusions": []}})
    assert plan.error is not None and "cluster.maintenance.window" in plan.error


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        # GKE takes RFC 3339 times with a zone; it would refuse these only at `pulumi up`.
        ({"startTime": "next saturday", "endTime": "2026-01-03T08:00:00Z"}, "not an RFC 3339"),
        ({"startTime": "2026-01-03 02:00", "endTime": "2026-01-03T08:00:00Z"}, "not an RFC 3339"),
        ({"startTime": "2026-01-03T08:00:00Z", "endTime": "2026-01-03T02:00:00Z"}, "not after"),
    ],
)
def test_maintenance_times_gke_would_refuse_are_refused_first(
    window: dict[str, str], expected: str
) -> None:
    plan = run(
        cluster={"maintenance": {"window": {**window, "recurrence": "FREQ=WEEKLY;BYDAY=SA"}}}
    )
    assert plan.registrations == []
    assert plan.error is not None and "cluster.maintenance.window" in plan.error
    assert expected in plan.error
    excluded = run(
        cluster={
            "maintenance": {
                "window": {
                    "startTime": "2026-01-03T02:00:00Z",
                    "endTime": "2026-01-03T08:00:00Z",
                    "recurrence": "FREQ=WEEKLY;BYDAY=SA",
                },
                "exclusions": [{"name": "launch", **window}],
            }
        }
    )
    assert excluded.error is not None and "cluster.maintenance.exclusions" in excluded.error
    assert expected in excluded.error


def test_managed_addon_pins_the_gke_version_that_serves_v1beta1() -> None:
    # Issue 12.14.
    assert "minMasterVersion" not in run().one(GKE).inputs
    plan = run(cluster={"managedAgentSandboxAddon": True}, controlPlane={"enabled": False})
    assert plan.error is None, plan.error
    assert plan.one(GKE).inputs["minMasterVersion"] == "1.36.3-gke.1767000"


def test_nodes_are_private_and_the_endpoint_is_restricted(dev_plan: Plan) -> None:
    # Issue 18.5: no node external IPs, a NAT for their egress, authorized networks only.
    gke = dev_plan.one(GKE).inputs
    assert gke["privateClusterConfig"]["enablePrivateNodes"] is True
    networks = gke["masterAuthorizedNetworksConfig"]
    assert [b["cidrBlock"] for b in networks["cidrBlocks"]] == ["203.0.113.0/24"]
    assert networks["gcpPublicCidrsAccessEnabled"] is False
    nat = dev_plan.one("gcp:compute/routerNat:RouterNat").inputs
    assert nat["region"] == "us-central1"
    assert nat["sourceSubnetworkIpRangesToNat"] == "ALL_SUBNETWORKS_ALL_IP_RANGES"
    assert dev_plan.one("gcp:compute/routerNat:RouterNat").urn in dev_plan.one(GKE).dependencies


def test_an_open_control_plane_must_be_asked_for() -> None:
    plan = run(cluster={"masterAuthorizedNetworks": []})
    assert plan.registrations == []
    assert plan.error is not None and "cluster.masterAuthorizedNetworks" in plan.error
    bad = run(cluster={"masterAuthorizedNetworks": ["not-a-cidr"]})
    assert bad.error is not None and "cluster.masterAuthorizedNetworks[0]" in bad.error


def test_preview_says_what_a_first_gke_deploy_needs(dev_plan: Plan, local_plan: Plan) -> None:
    # Issue 12.11: APIs, the nested-virtualization org policy, the deployer's roles (incl.
    # iam.serviceAccountUser on the node accounts) and credentials.
    from offline.plan_view import render

    text = render(dev_plan)
    for part in (
        "container.googleapis.com",
        "constraints/compute.disableNestedVirtualization",
        "roles/iam.serviceAccountUser",
        "Application Default Credentials",
        "Not proven offline",
    ):
        assert part in text
    assert "First deploy on GKE" not in render(local_plan)


def test_sandbox_egress_never_reaches_the_cluster_endpoint(dev_plan: Plan) -> None:
    # Issue 18.5: the API server's public address is outside the private ranges sandbox
    # egress already excludes. Every rule that opens the internet (NetworkPolicies are a union)
    # must except it: the baseline and per-sandbox policies and each template's policy.
    from offline.engine import MOCK_ENDPOINT

    endpoint = f"{MOCK_ENDPOINT}/32"
    policies = [
        r.inputs["spec"] for r in dev_plan.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    ]
    templates = [
        r.inputs["spec"]["networkPolicy"]
        for r in dev_plan.by_type("kubernetes:extensions.agents.x-k8s.io/v1beta1:SandboxTemplate")
    ]
    assert policies and templates
    opening = 0
    for spec in (*policies, *templates):
        blocks = [
            peer["ipBlock"]
            for rule in spec.get("egress", [])
            for peer in rule.get("to", [])
            if peer.get("ipBlock", {}).get("cidr") == "0.0.0.0/0"
        ]
        # (The router's policy opens no internet egress at all.)
        opening += bool(blocks)
        assert all(endpoint in b["except"] for b in blocks)
    # the platform's and team-a's baselines, the per-sandbox policy and each template's
    assert opening >= len(templates) + 3
