"""SandboxPlatform: composes every layer of DESIGN §1 from one validated settings tree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from . import constants as c
from .cluster import Cluster, ClusterArgs
from .node_pool import SandboxNodePool, SandboxNodePoolArgs, sandbox_placement
from .preflight import preflight
from .settings import PlatformSettings


@dataclass(frozen=True)
class SandboxPlatformArgs:
    settings: PlatformSettings


class SandboxPlatform(pulumi.ComponentResource):
    """The whole platform. ``exports`` is the stack-output contract (README "Stack outputs")."""

    exports: dict[str, Any]

    def __init__(
        self, name: str, args: SandboxPlatformArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        # Every check runs before the first registration: a bad setting registers nothing.
        checked = preflight(args.settings)
        super().__init__(c.type_token("platform", "SandboxPlatform"), name, None, opts)
        s = args.settings
        for warning in checked.warnings:
            pulumi.log.warn(warning, resource=self)

        self.cluster = Cluster(
            f"{name}-cluster", ClusterArgs(s.cluster), pulumi.ResourceOptions(parent=self)
        )
        k8s = pulumi.ResourceOptions(parent=self, providers=[self.cluster.provider])
        placement = sandbox_placement(s)

        self.node_pool: SandboxNodePool | None = None
        if s.cluster.is_gke:
            assert checked.capacity is not None
            self.node_pool = SandboxNodePool(
                f"{name}-sandbox-pool",
                SandboxNodePoolArgs(s, self.cluster.cluster_name, checked.capacity),
                pulumi.ResourceOptions(parent=self),
            )
        _ = (k8s, placement)  # used by the layers below

        # [layer: isolation] IsolationRuntime — kata-deploy + RuntimeClasses (issue 3)
        # [layer: control-plane] ControlPlane — agent-sandbox CRDs + controller (issue 4)
        # [layer: router] Router (issue 5)
        # [layer: gateway] Gateway (issue 5)
        # [layer: admission] AdmissionBackstop (issue 7)
        # [layer: sandboxes] SandboxSet (issue 6)

        self.exports = {
            "clusterName": self.cluster.cluster_name,
            "kubeconfig": self.cluster.kubeconfig,
            "isolationRuntime": s.isolation.runtime,
            "runtimeClasses": list(s.isolation.runtime_classes),
            "defaultRuntimeClass": s.isolation.effective_default_runtime_class,
            "capacity": checked.capacity.as_output() if checked.capacity else None,
            "sandboxPool": self.node_pool.node_pool.name if self.node_pool else None,
            # [exports: isolation]
            # [exports: control-plane]
            # [exports: router]
            # [exports: gateway]
            # [exports: sandboxes]
        }
        self.register_outputs(self.exports)
