"""Everything decided before the first resource registers: capacity, cross-layer checks that need
derived figures, and the warnings a reviewer must see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi_gcp as gcp

from .. import constants as c
from ..agent_sandbox.release_manifest import ReleaseManifest, load_manifest
from ..gke.machines import DISK_TYPES, hyperdisk_only
from ..isolation.capacity import SYSTEM_PODS_PER_NODE, CapacityPlan, plan_capacity
from ..settings import PlatformSettings, SettingsError


@dataclass(frozen=True)
class Preflight:
    settings: PlatformSettings
    capacity: CapacityPlan | None
    warnings: tuple[str, ...]
    # The agent-sandbox release manifest, found and digest-checked; None without a control plane.
    control_plane_manifest: ReleaseManifest | None = None


def preflight(settings: PlatformSettings) -> Preflight:
    warnings: list[str] = []
    errors = gke_errors(settings)
    if errors:
        raise SettingsError("invalid stack settings:\n" + "\n".join(f"  - {e}" for e in errors))
    capacity = plan_capacity(settings)
    if capacity is not None:
        _no_room_on_a_node(settings, capacity)
        # A sandbox no node can hold is always an error; overcommit follows onOvercommit.
        errors, overcommit = capacity.findings()
        if overcommit and settings.isolation.capacity.on_overcommit == "error":
            errors.append(
                f"{overcommit} (or set isolation.capacity.onOvercommit: warn to accept it)"
            )
        elif overcommit:
            warnings.append(overcommit)
        if errors:
            raise SettingsError("invalid stack settings:\n" + "\n".join(f"  - {e}" for e in errors))
    r = settings.router
    if r.enabled and settings.role != "tenant":
        if r.allow_unauthenticated:
            warnings.append(
                "router.allowUnauthenticated is true: anyone who reaches the router can reach "
                "every sandbox; set it to false (the default) to require ROUTER_AUTH_TOKEN"
            )
        if r.image == c.ROUTER_DEFAULT_IMAGE:
            warnings.append(
                f"router.image is upstream's staging image ({r.image}); upstream publishes no "
                "production router image — build or mirror one and pin it by digest"
            )
        elif not r.image_pinned:
            warnings.append(f"router.image '{r.image}' is not pinned by digest")
        if settings.gateway.enabled:
            if settings.gateway.https is None:
                warnings.append(
                    "gateway.https is not set: clients reach the router (and send its token) "
                    "over plain HTTP through the load balancer; set gateway.https."
                    "certificateSecret or gateway.https.preSharedCertificate"
                )
            if r.websocket_max_connections_per_client > 0 and not r.trusted_proxy_cidrs:
                warnings.append(
                    "router.websocketMaxConnectionsPerClient is set but router.trustedProxyCidrs "
                    "is empty: behind the gateway every client shares the load balancer's "
                    "address, so the cap applies to all clients together; list the load "
                    "balancer's proxy ranges in router.trustedProxyCidrs"
                )
    manifest = _control_plane_manifest(settings, warnings)
    return Preflight(settings, capacity, tuple(warnings), control_plane_manifest=manifest)


def _no_room_on_a_node(settings: PlatformSettings, capacity: CapacityPlan) -> None:
    """A node with room for no sandbox at all: name the setting that is short (pod slots, the
    reserve), not the sandboxes' sizes, which no resize could fix."""
    if capacity.sandboxes_per_node > 0:
        return
    cap, pool = settings.isolation.capacity, settings.node_pool
    machine = capacity.machine_type
    if capacity.limited_by == "nodePool.maxPodsPerNode":
        why = (
            f"nodePool.maxPodsPerNode {pool.max_pods_per_node} leaves no pod slot for sandboxes: "
            f"GKE's system pods take {SYSTEM_PODS_PER_NODE} per node; raise it to at least "
            f"{SYSTEM_PODS_PER_NODE + 1} (or remove it to derive it from the capacity plan)"
        )
    elif capacity.limited_by == "cpu":
        why = (
            f"one {machine} node has {capacity.allocatable_cpu_millis}m CPU allocatable and "
            f"isolation.capacity.reservedCpuMillis keeps {cap.reserved_cpu_millis}m back, "
            f"leaving {capacity.sandbox_cpu_millis}m: less than one sandbox's RuntimeClass "
            "overhead; lower isolation.capacity.reservedCpuMillis or pick a larger "
            "nodePool.machineType"
        )
    else:
        why = (
            f"one {machine} node has {capacity.allocatable_memory_mib} MiB allocatable and "
            f"isolation.capacity.reservedMemoryMib keeps {cap.reserved_memory_mib} MiB back, "
            f"leaving {capacity.sandbox_memory_mib} MiB: less than one sandbox's "
            f"{cap.host_memory_per_sandbox_mib} MiB (isolation.capacity.hostMemoryPerSandboxMib); "
            "lower isolation.capacity.reservedMemoryMib (or hostMemoryPerSandboxMib) or pick a "
            "larger nodePool.machineType"
        )
    raise SettingsError(f"invalid stack settings:\n  - the sandbox pool has no room: {why}")


# GKE's preinstalled StorageClasses, all Persistent Disk (GKE docs, "Persistent volumes and
# dynamic provisioning": standard-rwo = pd-balanced, premium-rwo = pd-ssd, standard = pd-standard).
GKE_PD_STORAGE_CLASSES = ("standard-rwo", "premium-rwo", "standard")


def gke_errors(settings: PlatformSettings) -> list[str]:
    """What GKE or the cluster autoscaler would make fail later, found before registration."""
    if not settings.cluster.is_gke or settings.role == "tenant":
        return []
    errors = []
    cl, pool = settings.cluster, settings.node_pool
    if cl.mode == "create" and not cl.master_authorized_networks:
        errors.append(
            "cluster.masterAuthorizedNetworks is empty: the control plane's public endpoint "
            "would be open to the internet (and to code in sandboxes); list the networks your "
            "deployers and CI reach it from, e.g. [203.0.113.0/24] (0.0.0.0/0 opens it "
            "knowingly)"
        )
    if settings.isolation.runtime == "kata" and pool.min_nodes < 1:
        # The autoscaler scales a pool up only for a pending pod that fits its template of a
        # node; Kata pods select labels kata-deploy writes on running nodes, so an empty Kata
        # pool never grows (and the warm pool and sandboxes wait forever).
        errors.append(
            "nodePool.minNodes is 0, but a Kata pool cannot scale up from zero nodes: Kata "
            f"RuntimeClasses select {c.KATA_READY_LABEL}, which kata-deploy writes only on a "
            "running node, so the cluster autoscaler never adds the first one; set "
            "nodePool.minNodes to 1 or more"
        )
    supported = DISK_TYPES.get(pool.machine.series)
    if supported and pool.disk_type not in supported:  # series NodePoolSettings leaves
        errors.append(
            f"nodePool.diskType '{pool.disk_type}' cannot be attached to "
            f"{pool.machine.series.upper()} machines, which take {', '.join(supported)}; set "
            f"nodePool.diskType: {supported[0]}"
        )
    if hyperdisk_only(pool.machine.series):
        errors.extend(storage_class_errors(settings))
    if cl.mode == "existing":
        errors.extend(adopted_cluster_errors(settings))
    return errors


def storage_class_errors(settings: PlatformSettings) -> list[str]:
    """On a Hyperdisk-only pool (C4, N4…) a PVC of GKE's default StorageClasses (standard-rwo
    is pd-balanced) never attaches, so the sandbox never becomes Ready."""
    series = settings.node_pool.machine.series.upper()
    errors = []
    for key, i, w in settings.sandboxes.workloads:
        for j, volume in enumerate(w.storage):
            if volume.type != "persistentVolumeClaim":
                continue
            if volume.storage_class in GKE_PD_STORAGE_CLASSES or volume.storage_class is None:
                errors.append(
                    f"sandboxes.{key}[{i}].storage[{j}].storageClass is "
                    f"{volume.storage_class or 'null (the cluster default, pd-balanced)'}, a "
                    f"Persistent Disk class that {series} nodes cannot attach; set it to "
                    f"{c.HYPERDISK_STORAGE_CLASS} (this stack creates it for Hyperdisk pools)"
                )
    return errors


def adopted_cluster_errors(settings: PlatformSettings) -> list[str]:
    """What the platform needs of a cluster it adopts (cluster.mode: existing), read from GKE.

    The sandbox pool uses GKE_METADATA (needs Workload Identity) and maxPodsPerNode (needs a
    VPC-native cluster); the gateway needs the Gateway API; the sandboxes' NetworkPolicies are
    enforced only by Dataplane V2 or Calico, otherwise sandbox egress is silently open.
    """
    cl = settings.cluster
    # A cluster GKE does not know (or the deployer may not read) fails this invoke with the
    # provider's own error, which names the cluster.
    found: Any = gcp.container.get_cluster(name=cl.name, location=cl.location, project=cl.project)
    where = f"{cl.name} --location {cl.location} --project {cl.project}"
    errors = []

    def first(items: Any) -> Any:
        return items[0] if items else None

    identity = first(getattr(found, "workload_identity_configs", None))
    if not getattr(identity, "workload_pool", None):
        errors.append(
            f"cluster.name '{cl.name}' (cluster.mode: existing) has no Workload Identity, which "
            "the sandbox pool's GKE_METADATA mode needs; enable it with `gcloud container "
            f"clusters update {where} --workload-pool={cl.project}.svc.id.goog`"
        )
    if getattr(found, "networking_mode", None) != "VPC_NATIVE":
        errors.append(
            f"cluster.name '{cl.name}' (cluster.mode: existing) is not VPC-native, which the "
            "sandbox pool's maxPodsPerNode needs; GKE cannot convert a routes-based cluster, "
            "so create a VPC-native one (cluster.mode: create, or `gcloud container clusters "
            "create --enable-ip-alias`)"
        )
    if settings.gateway.enabled:
        gateway = first(getattr(found, "gateway_api_configs", None))
        channel = getattr(gateway, "channel", None) if gateway is not None else None
        if channel not in ("CHANNEL_STANDARD", "CHANNEL_EXPERIMENTAL"):
            errors.append(
                f"cluster.name '{cl.name}' (cluster.mode: existing) does not have the Gateway "
                "API enabled, which gateway.enabled needs; enable it with `gcloud container "
                f"clusters update {where} --gateway-api=standard` (or set gateway.enabled: "
                "false)"
            )
    policy = first(getattr(found, "network_policies", None))
    calico = bool(getattr(policy, "enabled", False)) if policy is not None else False
    if getattr(found, "datapath_provider", None) != "ADVANCED_DATAPATH" and not calico:
        errors.append(
            f"cluster.name '{cl.name}' (cluster.mode: existing) enforces no NetworkPolicy "
            "(neither Dataplane V2 nor Calico), so sandbox egress would be open to the cluster "
            "and the metadata server; enable Calico with `gcloud container clusters update "
            f"{where} --update-addons=NetworkPolicy=ENABLED` and then `gcloud container "
            f"clusters update {where} --enable-network-policy`"
        )
    return errors


def _control_plane_manifest(
    settings: PlatformSettings, warnings: list[str]
) -> ReleaseManifest | None:
    cp = settings.control_plane
    if not cp.enabled or settings.role == "tenant":
        return None
    manifest = load_manifest(cp)  # a wrong controlPlane.sha256 stops here, before registration
    if manifest.available:
        tag = manifest.image_tag
        if tag is not None and tag != cp.version:
            warnings.append(
                f"the agent-sandbox manifest at {manifest.source} was rendered for {tag}, but "
                f"controlPlane.version is {cp.version}: the controller runs {cp.version} with "
                f"the CRDs of that file; point controlPlane.manifest at the {cp.version} release "
                "asset (or set controlPlane.version to match the file)"
            )
        if settings.production and cp.sha256 is None:
            warnings.append(
                "controlPlane.sha256 is not set on this production stack, so the agent-sandbox "
                f"manifest is not verified; after checking {manifest.source} against the "
                f"release, set controlPlane.sha256: {manifest.sha256}"
            )
    return manifest
