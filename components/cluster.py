"""The cluster the platform lives on, and the one Kubernetes provider every resource uses.

Three modes (``cluster.mode``): create a GKE Standard cluster, adopt an existing GKE cluster by
name/location, or adopt any cluster through an explicit kubeconfig context (no GCP resource).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from . import constants as c
from .node_identity import node_account_id, node_service_account
from .settings import ClusterSettings

GKE_AUTH_PLUGIN = "gke-gcloud-auth-plugin"
# Adoption (docs/operations.md): the CRDs and sandbox namespaces outlive `pulumi destroy`, and a
# cluster may hold a kubectl/Helm install. pulumi-kubernetes >= 4.29 fails a create of an
# existing object unless upsertExistingObjects is set, and its server-side apply then conflicts
# with fields another manager set unless enablePatchForce is set. Both on: `up` adopts them.
ADOPT_EXISTING_OBJECTS = True


@dataclass(frozen=True)
class ClusterArgs:
    settings: ClusterSettings


def gke_kubeconfig(name: str, endpoint: str, ca_certificate: str) -> str:
    """A kubeconfig that authenticates through gcloud's exec plugin: no credential inside."""
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
      command: {GKE_AUTH_PLUGIN}
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

    def __init__(
        self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(c.type_token("cluster", "Cluster"), name, None, opts)
        s = args.settings
        self.gke_cluster = None
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
            self.kubeconfig = pulumi.Output.secret(
                pulumi.Output.all(endpoint, ca).apply(
                    lambda v: gke_kubeconfig(f"gke-{s.name}", v[0], v[1])
                )
            )
            # cluster_identifier keeps the provider (and so every Kubernetes resource) from being
            # replaced when the kubeconfig text churns, e.g. a rotated CA.
            self.provider = k8s.Provider(
                f"{name}-k8s",
                kubeconfig=self.kubeconfig,
                cluster_identifier=cluster_id,
                upsert_existing_objects=ADOPT_EXISTING_OBJECTS,
                enable_patch_force=ADOPT_EXISTING_OBJECTS,
                opts=child,
            )

        self.register_outputs({"clusterName": self.cluster_name})

    def _create_gke(
        self, name: str, s: ClusterSettings, child: pulumi.ResourceOptions
    ) -> tuple[pulumi.Output[str], pulumi.Output[str], pulumi.Output[str]]:
        assert s.project and s.location
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
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(),
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=s.release_channel),
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
            opts=child.merge(pulumi.ResourceOptions(ignore_changes=["initialNodeCount"])),
        )
        self.gke_cluster = cluster
        self.cluster_name = cluster.name
        sa = node_service_account(
            f"{name}-system", node_account_id(s.name, "system"), s.project, self
        )
        sp = s.system_pool
        gcp.container.NodePool(
            f"{name}-system-pool",
            name="system-pool",
            project=s.project,
            location=s.location,
            cluster=cluster.name,
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=sp.min_nodes,
                total_max_node_count=sp.max_nodes,
                location_policy="BALANCED",
            ),
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=sp.machine_type,
                disk_size_gb=sp.disk_size_gb,
                service_account=sa.email,
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
            opts=child,
        )
        ca = cluster.master_auth.apply(lambda a: a.cluster_ca_certificate or "")
        return cluster.endpoint, ca, cluster.id
