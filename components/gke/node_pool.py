"""The sandbox node pool: Intel + nested virtualization + Ubuntu for Kata (or GKE Sandbox for
gVisor), tainted so that only sandbox pods land there, hardened, with its own node identity."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from .. import constants as c
from ..isolation.capacity import CapacityPlan
from ..settings import ClusterSettings, PlatformSettings
from ..settings.gcp_rules import NODE_POOL_LOGICAL_SUFFIX
from .machines import hyperdisk_only
from .node_identity import node_account_id, node_service_account

# Create-time properties: a change must replace the pool, never drift or fail in place.
REPLACE_ON_CHANGES = [
    "nodeConfig.advancedMachineFeatures",
    "nodeConfig.imageType",
    "nodeConfig.sandboxConfig",
    "nodeConfig.machineType",
]


def initial_node_count(cluster: ClusterSettings, min_nodes: int, zones: Sequence[str]) -> int:
    """Nodes per zone a pool starts with: enough for its minimum, and never zero.

    Terraform sends ``initial_node_count`` 0 when it is unset (expandNodePool), and the
    cluster autoscaler adds nodes only for pending pods that fit its template of a node; a
    Kata pod selects labels kata-deploy writes on running nodes, which no template has. So a
    pool starts at its minimum (GKE counts ``initial_node_count`` per zone).
    """
    zone_count = len(zones) or cluster.zone_count
    return max(1, math.ceil(min_nodes / zone_count))


def sandbox_storage_class(
    name: str, settings: PlatformSettings, opts: pulumi.ResourceOptions
) -> k8s.storage.v1.StorageClass | None:
    """A hyperdisk-balanced StorageClass for sandbox volumes on a Hyperdisk-only pool (C4,
    N4…); preflight makes their PVCs name it. Retain: a deleted claim never takes the disk."""
    if not settings.cluster.is_gke or not hyperdisk_only(settings.node_pool.machine.series):
        return None
    return k8s.storage.v1.StorageClass(
        f"{name}-hyperdisk",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=c.HYPERDISK_STORAGE_CLASS),
        provisioner="pd.csi.storage.gke.io",
        parameters={"type": "hyperdisk-balanced"},
        volume_binding_mode="WaitForFirstConsumer",
        allow_volume_expansion=True,
        reclaim_policy="Retain",
        opts=opts,
    )


@dataclass(frozen=True)
class SandboxPlacement:
    """Where sandbox pods (and kata-deploy) go: the pool's label and the toleration of its taint.

    On a kubeconfig cluster there is no dedicated pool: empty selector, no toleration.
    """

    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, str], ...] = ()


def sandbox_placement(settings: PlatformSettings) -> SandboxPlacement:
    if not settings.cluster.is_gke:
        return SandboxPlacement()
    if settings.isolation.runtime == "gvisor":
        # GKE labels and taints GKE Sandbox pools itself.
        return SandboxPlacement(
            {c.GVISOR_NODE_LABEL: c.GVISOR_RUNTIME_CLASS},
            (
                {
                    "key": c.GVISOR_NODE_LABEL,
                    "operator": "Equal",
                    "value": c.GVISOR_RUNTIME_CLASS,
                    "effect": "NoSchedule",
                },
            ),
        )
    return SandboxPlacement(
        {c.SANDBOX_POOL_LABEL: c.SANDBOX_POOL_LABEL_VALUE},
        (
            {
                "key": c.SANDBOX_POOL_TAINT_KEY,
                "operator": "Equal",
                "value": c.SANDBOX_POOL_TAINT_VALUE,
                "effect": c.SANDBOX_POOL_TAINT_EFFECT,
            },
        ),
    )


@dataclass(frozen=True)
class SandboxNodePoolArgs:
    settings: PlatformSettings
    cluster_name: pulumi.Input[str]
    capacity: CapacityPlan
    # The project APIs (components/gke/cluster.py); the pool's identity needs IAM's.
    apis: Sequence[pulumi.Resource] = ()


class SandboxNodePool(pulumi.ComponentResource):
    node_pool: gcp.container.NodePool

    def __init__(
        self, name: str, args: SandboxNodePoolArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(c.type_token("node_pool", "SandboxNodePool"), name, None, opts)
        s = args.settings
        pool, cl, kata = s.node_pool, s.cluster, s.isolation.runtime == "kata"
        assert cl.project and cl.location
        child = pulumi.ResourceOptions(parent=self)
        sa_email: pulumi.Input[str]
        bindings: tuple[pulumi.Resource, ...] = ()
        if pool.service_account:
            sa_email = pool.service_account
        else:
            identity = node_service_account(
                name,
                node_account_id(cl.name, "sandbox"),
                cl.project,
                self,
                cl.node_image_repositories,
                depends_on=args.apis,
            )
            sa_email, bindings = identity.account.email, identity.bindings

        node_cfg = gcp.container.NodePoolNodeConfigArgs
        min_cpu = pool.min_cpu_platform
        if kata and pool.machine.series == "n1" and min_cpu is None:
            min_cpu = "Intel Haswell"  # N1 below Haswell cannot nest
        labels = {**pool.labels, c.SANDBOX_POOL_LABEL: c.SANDBOX_POOL_LABEL_VALUE}
        taints = (
            [
                gcp.container.NodePoolNodeConfigTaintArgs(
                    key=c.SANDBOX_POOL_TAINT_KEY,
                    value=c.SANDBOX_POOL_TAINT_VALUE,
                    effect="NO_SCHEDULE",
                )
            ]
            if kata
            else None  # GKE Sandbox pools carry their own sandbox.gke.io/runtime taint
        )
        self.node_pool = gcp.container.NodePool(
            # No name: pulumi-gcp autonames it <logical name>-<7 hex>, so a replacement is
            # created before the old pool goes and sandboxes have somewhere to reschedule.
            # (name_prefix would fail: autonaming sets name too, and Terraform refuses both.)
            f"{pool.name}{NODE_POOL_LOGICAL_SUFFIX}",
            project=cl.project,
            location=cl.location,
            cluster=args.cluster_name,
            node_locations=pool.zones or None,
            initial_node_count=initial_node_count(cl, pool.min_nodes, pool.zones),
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=pool.min_nodes,
                total_max_node_count=pool.max_nodes,
                location_policy="BALANCED",
            ),
            max_pods_per_node=args.capacity.max_pods_per_node,
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            # Surge, never take a node away before its replacement is up.
            upgrade_settings=gcp.container.NodePoolUpgradeSettingsArgs(
                max_surge=1, max_unavailable=0
            ),
            node_config=node_cfg(
                machine_type=pool.machine_type,
                image_type=pool.image_type or ("UBUNTU_CONTAINERD" if kata else "COS_CONTAINERD"),
                min_cpu_platform=min_cpu,
                disk_size_gb=pool.disk_size_gb,
                disk_type=pool.disk_type,
                spot=pool.spot,
                advanced_machine_features=(
                    gcp.container.NodePoolNodeConfigAdvancedMachineFeaturesArgs(
                        threads_per_core=pool.threads_per_core,
                        enable_nested_virtualization=True,
                    )
                    if kata
                    else None
                ),
                sandbox_config=(
                    None
                    if kata
                    else gcp.container.NodePoolNodeConfigSandboxConfigArgs(type="GVISOR")
                ),
                labels=labels,
                taints=taints,
                service_account=sa_email,
                oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
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
                    replace_on_changes=REPLACE_ON_CHANGES,
                    # GKE cannot resize through initial_node_count; the autoscaler owns the size.
                    ignore_changes=["initialNodeCount"],
                    depends_on=list(bindings),
                )
            ),
        )
        self.register_outputs({"nodePool": self.node_pool.name})
