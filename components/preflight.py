"""Everything decided before the first resource registers: capacity, cross-layer checks that need
derived figures, and the warnings a reviewer must see."""

from __future__ import annotations

from dataclasses import dataclass

from . import constants as c
from .capacity import CapacityPlan, plan_capacity
from .settings import PlatformSettings, SettingsError


@dataclass(frozen=True)
class Preflight:
    settings: PlatformSettings
    capacity: CapacityPlan | None
    warnings: tuple[str, ...]


def preflight(settings: PlatformSettings) -> Preflight:
    warnings: list[str] = []
    capacity = plan_capacity(settings)
    if capacity is not None and not capacity.fits:
        msg = (
            f"sandboxes declare {capacity.declared} sandboxes (standalone + warm-pool replicas) "
            f"but the sandbox pool holds at most {capacity.pool_capacity} "
            f"({capacity.sandboxes_per_node} per {capacity.machine_type} node x nodePool.maxNodes "
            f"{capacity.max_nodes}); raise nodePool.maxNodes, pick a larger "
            "nodePool.machineType, or lower sandboxes.warmPools[].replicas"
        )
        if settings.isolation.capacity.on_overcommit == "error":
            raise SettingsError(f"invalid stack settings:\n  - {msg}")
        warnings.append(msg)
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
    return Preflight(settings, capacity, tuple(warnings))
