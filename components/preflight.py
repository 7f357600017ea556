"""Everything decided before the first resource registers: capacity, cross-layer checks that need
derived figures, and the warnings a reviewer must see."""

from __future__ import annotations

from dataclasses import dataclass

from . import constants as c
from .capacity import SYSTEM_PODS_PER_NODE, CapacityPlan, plan_capacity
from .release_manifest import ReleaseManifest, load_manifest
from .settings import PlatformSettings, SettingsError


@dataclass(frozen=True)
class Preflight:
    settings: PlatformSettings
    capacity: CapacityPlan | None
    warnings: tuple[str, ...]
    # The agent-sandbox release manifest, found and digest-checked; None without a control plane.
    control_plane_manifest: ReleaseManifest | None = None


def preflight(settings: PlatformSettings) -> Preflight:
    warnings: list[str] = []
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
