"""The cluster the platform lives on, and the one Kubernetes provider every resource uses.

Three modes (``cluster.mode``): create a GKE Standard cluster, adopt an existing GKE cluster by
name/location, or adopt any cluster through an explicit kubeconfig context (no GCP resource).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from .. import constants as c
from ..settings import ClusterSettings
from .node_identity import node_account_id, node_service_account
from .node_pool import initial_node_count

GKE_AUTH_PLUGIN = "gke-gcloud-auth-plugin"
# Adoption (docs/operations.md): the CRDs and sandbox namespaces outlive `pulumi destroy`, and a
# cluster may hold a kubectl/Helm install. pulumi-kubernetes >= 4.29 fails a create of an
# existing object unless upsertExistingObjects is set, and its server-side apply then conflicts
# with fields another manager set unless enablePatchForce is set. Both on: `up` adopts them.
ADOPT_EXISTING_OBJECTS = True
# The plugin's flag to use Application Default Credentials instead of gcloud's login.
GKE_AUTH_ADC_FLAG = "--use_application_default_credentials"
# APIs the stack calls on a fresh project (cluster, pools, node accounts, image pulls, NAT).
REQUIRED_APIS = (
    "container.googleapis.com",
    "compute.googleapis.com",
    "iam.googleapis.com",
    "artifactregistry.googleapis.com",
)
# What the deployer's identity needs on the project for mode create (docs/gke.md "Deployer
# roles"); iam.serviceAccountUser lets it create pools that run as the node accounts.
DEPLOYER_ROLES = (
    "roles/container.admin",
    "roles/compute.networkAdmin",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.serviceAccountUser",
    "roles/resourcemanager.projectIamAdmin",
    "roles/artifactregistry.admin",
    "roles/serviceusage.serviceUsageAdmin",
)
# The org policy that forbids nested virtualization (Kata pools need it off).
NESTED_VIRTUALIZATION_CONSTRAINT = "constraints/compute.disableNestedVirtualization"
# The managed Agent Sandbox add-on serves agents.x-k8s.io v1beta1 from this GKE version on.
MANAGED_ADDON_MIN_MASTER_VERSION = "1.36.3-gke.1767000"


@dataclass(frozen=True)
class ClusterArgs:
    settings: ClusterSettings


def gke_kubeconfig(
    name: str, endpoint: str, ca_certificate: str, application_default: bool = True
) -> str:
    """A kubeconfig that authenticates through gcloud's exec plugin: no credential inside."""
    # ADC (key file, workload identity federation) instead of gcloud's own login.
    args = f"\n      args:\n      - {GKE_AUTH_ADC_FLAG}" if application_default else ""
    return f"""apiVersion: v1
kind: Config
clusters:
- name: {name}
  cluster:
    server: https://{endpoint}
    certificate-authority-data: {ca_certificate}
contexts:
- name: {name}
  context:
    cluster: {name}
    user: {name}
current-context: {name}
users:
- name: {name}
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: {GKE_AUTH_PLUGIN}{args}
      installHint: Install {GKE_AUTH_PLUGIN} (gcloud components install {GKE_AUTH_PLUGIN})
      provideClusterInfo: true
"""


class Cluster(pulumi.ComponentResource):
    """GKE cluster (created or adopted) or a kubeconfig context, plus its Kubernetes provider."""

    provider: k8s.Provider
    cluster_name: pulumi.Output[str]
    location: pulumi.Output[str] | None
    kubeconfig: pulumi.Output[str] | None
    endpoint: pulumi.Output[str] | None
    gke_cluster: gcp.container.Cluster | None
    # What Kubernetes workloads need before they can run: the system pool of a created cluster.
    system_pool: gcp.container.NodePool | None
    # Enabled project APIs (mode create, cluster.enableApis): GCP resources wait for them.
    apis: list[pulumi.Resource]

    def __init__(
        self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(c.type_token("cluster", "Cluster"), name, None, opts)
        s = args.settings
        self.gke_cluster = None
        self.system_pool = None
        self.apis = []
        self.location = None
        self.endpoint = None
        self.kubeconfig = None
        child = pulumi.ResourceOptions(parent=self)

        if s.mode == "kubeconfig":
            assert s.kubeconfig is not None  # guaranteed by ClusterSettings
            self.cluster_name = pulumi.Output.from_input(s.kubeconfig.context)
            # Never the ambient current-context: the context is always named explicitly.
            self.provider = k8s.Provider(
                f"{name}-k8s",
                context=s.kubeconfig.context,
                kubeconfig=s.kubeconfig.path,
                cluster_identifier=s.kubeconfig.context,
                upsert_existing_objects=ADOPT_EXISTING_OBJECTS,
                enable_patch_force=ADOPT_EXISTING_OBJECTS,
                opts=child,
            )
        else:
            if s.mode == "create":
                endpoint, ca, cluster_id = self._create_gke(name, s, child)
            else:
                existing = gcp.container.get_cluster_output(
                    name=s.name,
                    location=s.location,
                    project=s.project,
                    opts=pulumi.InvokeOutputOptions(parent=self),
                )
                endpoint = existing.endpoint
                ca = existing.master_auths.apply(lambda auths: auths[0].cluster_ca_certificate)
                cluster_id = existing.id
                self.cluster_name = pulumi.Output.from_input(s.name)
            self.location = pulumi.Output.from_input(s.location or "")
            self.endpoint = endpoint
            adc = s.kube_credentials == "application-default"
            self.kubeconfig = pulumi.Output.secret(
                pulumi.Output.all(endpoint, ca).apply(
                    lambda v: gke_kubeconfig(f"gke-{s.name}", v[0], v[1], adc)
                )
            )
            # cluster_identifier keeps the provider (and so every Kubernetes resource) from being
            # replaced when the kubeconfig text churns, e.g. a rotated CA. It is the cluster id,
            # the same for a cluster re-created under the same name, so replace_with replaces
            # the provider (and everything deployed through it) with the cluster. The provider
            # waits for the system pool: nothing runs on a cluster without nodes.
            self.provider = k8s.Provider(
                f"{name}-k8s",
                kubeconfig=self.kubeconfig,
                cluster_identifier=cluster_id,
                upsert_existing_objects=ADOPT_EXISTING_OBJECTS,
                enable_patch_force=ADOPT_EXISTING_OBJECTS,
                opts=child.merge(
                    pulumi.ResourceOptions(
                        replace_with=[self.gke_cluster] if self.gke_cluster else None,
                        depends_on=[self.system_pool] if self.system_pool else None,
                    )
                ),
            )

        self.register_outputs({"clusterName": self.cluster_name})

    def _create_gke(
        self, name: str, s: ClusterSettings, child: pulumi.ResourceOptions
    ) -> tuple[pulumi.Output[str], pulumi.Output[str], pulumi.Output[str]]:
        assert s.project and s.location
        self.apis = list(enable_apis(name, s, child)) if s.enable_apis else []
        # The system pool's identity, also used by the cluster's temporary default pool: the
        # Compute Engine default account may be disabled by the organisation (and is Editor).
        system = node_service_account(
            f"{name}-system",
            node_account_id(s.name, "system"),
            s.project,
            self,
            s.node_image_repositories,
            depends_on=self.apis,
        )
        nat = cloud_nat(name, s, child.merge(pulumi.ResourceOptions(depends_on=self.apis)))
        cluster = gcp.container.Cluster(
            f"{name}-gke",
            name=s.name,
            project=s.project,
            location=s.location,
            network=s.network,
            subnetwork=s.subnetwork,
            # A cluster must start with a pool; we drop it and add our own pools.
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config=gcp.container.ClusterNodeConfigArgs(
                service_account=system.account.email,
                oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                workload_metadata_config=gcp.container.ClusterNodeConfigWorkloadMetadataConfigArgs(
                    mode="GKE_METADATA"
                ),
                shielded_instance_config=gcp.container.ClusterNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
            ),
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(),
            private_cluster_config=(
                gcp.container.ClusterPrivateClusterConfigArgs(
                    enable_private_nodes=True, enable_private_endpoint=False
                )
                if s.private_nodes
                else None
            ),
            master_authorized_networks_config=gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
                cidr_blocks=[
                    gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
                        cidr_block=cidr, display_name=f"cluster.masterAuthorizedNetworks[{i}]"
                    )
                    for i, cidr in enumerate(s.master_authorized_networks)
                ],
                # Google Cloud's public ranges include every other tenant's VMs.
                gcp_public_cidrs_access_enabled=False,
            ),
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=s.release_channel),
            min_master_version=(
                MANAGED_ADDON_MIN_MASTER_VERSION if s.managed_agent_sandbox_addon else None
            ),
            maintenance_policy=maintenance_policy(s),
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=f"{s.project}.svc.id.goog"
            ),
            gateway_api_config=gcp.container.ClusterGatewayApiConfigArgs(
                channel="CHANNEL_STANDARD"
            ),
            # Dataplane V2 enforces the sandboxes' NetworkPolicies.
            datapath_provider="ADVANCED_DATAPATH",
            enable_shielded_nodes=True,
            addons_config=gcp.container.ClusterAddonsConfigArgs(
                http_load_balancing=gcp.container.ClusterAddonsConfigHttpLoadBalancingArgs(
                    disabled=False
                ),
                agent_sandbox_config=gcp.container.ClusterAddonsConfigAgentSandboxConfigArgs(
                    enabled=s.managed_agent_sandbox_addon
                ),
            ),
            deletion_protection=s.deletion_protection,
            opts=child.merge(
                pulumi.ResourceOptions(
                    # GKE's deletion_protection stops only GKE's delete; Pulumi's protect also
                    # stops a replacing change before the engine deletes dependents first.
                    protect=s.deletion_protection,
                    # The default pool (initial count, node config) is gone after creation.
                    ignore_changes=["initialNodeCount", "nodeConfig"],
                    depends_on=[*self.apis, *system.bindings, *nat],
                )
            ),
        )
        self.gke_cluster = cluster
        self.cluster_name = cluster.name
        sp = s.system_pool
        self.system_pool = gcp.container.NodePool(
            # Autonamed (<logical name>-<7 hex>, within GKE's 40 characters) like the sandbox
            # pool, so a replacement comes up before the only untainted pool goes.
            "cluster-system-pool",
            project=s.project,
            location=s.location,
            cluster=cluster.name,
            initial_node_count=initial_node_count(s, max(sp.min_nodes, 1), ()),
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=sp.min_nodes,
                total_max_node_count=sp.max_nodes,
                location_policy="BALANCED",
            ),
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            upgrade_settings=gcp.container.NodePoolUpgradeSettingsArgs(
                max_surge=1, max_unavailable=0
            ),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=sp.machine_type,
                disk_size_gb=sp.disk_size_gb,
                service_account=system.account.email,
                oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                labels={c.SYSTEM_POOL_LABEL: c.SYSTEM_POOL_LABEL_VALUE},
                workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
                    mode="GKE_METADATA"
                ),
                shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
                metadata={"disable-legacy-endpoints": "true"},
            ),
            opts=child.merge(
                pulumi.ResourceOptions(
                    ignore_changes=["initialNodeCount"], depends_on=list(system.bindings)
                )
            ),
        )
        ca = cluster.master_auth.apply(lambda a: a.cluster_ca_certificate or "")
        return cluster.endpoint, ca, cluster.id


def cluster_egress_exclusions(cluster: Cluster) -> list[pulumi.Output[str]]:
    """What sandbox egress must never reach beyond the private ranges: the control plane's
    public endpoint. (Private nodes have no external IPs; node and pod ranges are RFC 1918 and
    already excluded.)"""
    if cluster.endpoint is None:
        return []
    return [cluster.endpoint.apply(lambda ip: f"{ip}/32")]


def enable_apis(
    name: str, s: ClusterSettings, child: pulumi.ResourceOptions
) -> Sequence[pulumi.Resource]:
    """The project's APIs, enabled and never disabled on destroy (other stacks use them)."""
    return [
        gcp.projects.Service(
            f"{name}-api-{api.split('.')[0]}",
            project=s.project,
            service=api,
            disable_on_destroy=False,
            disable_dependent_services=False,
            opts=child.merge(pulumi.ResourceOptions(retain_on_delete=True)),
        )
        for api in REQUIRED_APIS
    ]


def cluster_region(location: str) -> str:
    """us-central1-a -> us-central1; a region stays itself."""
    parts = location.split("-")
    return "-".join(parts[:2]) if len(parts) > 2 else location


def cloud_nat(
    name: str, s: ClusterSettings, child: pulumi.ResourceOptions
) -> Sequence[pulumi.Resource]:
    """Private nodes have no external IP: a Cloud NAT gives them egress and image pulls."""
    if not (s.private_nodes and s.cloud_nat):
        return []
    assert s.location
    region = cluster_region(s.location)
    router = gcp.compute.Router(
        f"{name}-router", project=s.project, region=region, network=s.network, opts=child
    )
    nat = gcp.compute.RouterNat(
        f"{name}-nat",
        project=s.project,
        region=region,
        router=router.name,
        nat_ip_allocate_option="AUTO_ONLY",
        source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
        log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
        opts=child,
    )
    return [router, nat]


def maintenance_policy(s: ClusterSettings) -> gcp.container.ClusterMaintenancePolicyArgs | None:
    m = s.maintenance
    if m is None:
        return None
    return gcp.container.ClusterMaintenancePolicyArgs(
        recurring_window=gcp.container.ClusterMaintenancePolicyRecurringWindowArgs(
            start_time=m.window.start_time,
            end_time=m.window.end_time,
            recurrence=m.window.recurrence,
        ),
        maintenance_exclusions=[
            gcp.container.ClusterMaintenancePolicyMaintenanceExclusionArgs(
                exclusion_name=x.name,
                start_time=x.start_time,
                end_time=x.end_time,
                exclusion_options=gcp.container.ClusterMaintenancePolicyMaintenanceExclusionExclusionOptionsArgs(
                    scope=x.scope
                ),
            )
            for x in m.exclusions
        ]
        or None,
    )
