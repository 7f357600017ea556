"""Everything decided before the first resource registers: capacity, cross-layer checks that need
derived figures, and the warnings a reviewer must see."""

from __future__ import annotations

from dataclasses import dataclass

from . import constants as c
from .capacity import CapacityPlan, plan_capacity
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
    errors = gke_errors(settings)
    if errors:
        raise SettingsError("invalid stack settings:\n" + "\n".join(f"  - {e}" for e in errors))
    capacity = plan_capacity(settings)
    if capacity is not None:
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
