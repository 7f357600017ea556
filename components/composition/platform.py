"""SandboxPlatform: composes every layer of DESIGN §1 from one validated settings tree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from .. import constants as c
from ..agent_sandbox.control_plane import (
    ControlPlane,
    ControlPlaneArgs,
    control_plane_exports,
    controller_node_selector,
)
from ..agent_sandbox.gateway import Gateway, GatewayArgs, gateway_exports
from ..agent_sandbox.router import Router, RouterArgs, router_exports, router_network
from ..agent_sandbox.sandboxes import SandboxSet, SandboxSetArgs, sandboxes_exports
from ..gke.cluster import Cluster, ClusterArgs, cluster_egress_exclusions
from ..gke.node_pool import (
    SandboxNodePool,
    SandboxNodePoolArgs,
    sandbox_placement,
    sandbox_storage_class,
)
from ..isolation.admission import AdmissionBackstop, AdmissionBackstopArgs
from ..isolation.runtime import IsolationRuntime, IsolationRuntimeArgs, isolation_exports
from ..settings import PlatformSettings, SettingsError
from .platform_contract import contract_exports
from .preflight import preflight
from .tenant_boundary import TenantBoundary, TenantBoundaryArgs


@dataclass(frozen=True)
class SandboxPlatformArgs:
    settings: PlatformSettings


class SandboxPlatform(pulumi.ComponentResource):
    """The whole platform. ``exports`` is the stack-output contract (README "Stack outputs")."""

    exports: dict[str, Any]

    def __init__(
        self, name: str, args: SandboxPlatformArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        if args.settings.role == "tenant":
            # Tenant stacks build components.composition.tenant.Tenant (see roles.py).
            raise SettingsError(
                "SandboxPlatform builds platform and all-in-one stacks; role 'tenant' builds "
                "components.composition.tenant.Tenant (see components/composition/roles.py)"
            )
        # Every check runs before the first registration: a bad setting registers nothing.
        checked = preflight(args.settings)
        super().__init__(c.type_token("platform", "SandboxPlatform"), name, None, opts)
        s = args.settings
        for warning in checked.warnings:
            pulumi.log.warn(warning, resource=self)
        cap = checked.capacity
        tenant_pods = sum(t.quota.pods for t in s.tenants)
        if cap is not None and tenant_pods and cap.declared + tenant_pods > cap.pool_capacity:
            # Each tenant's quota bounds it; together they may still outgrow the shared pool.
            pulumi.log.warn(
                f"tenants[].quota.pods add up to {tenant_pods} and this stack declares "
                f"{cap.declared} sandboxes, more than the sandbox pool holds "
                f"({cap.pool_capacity}): at full quota, tenants' sandboxes stay Pending; raise "
                "nodePool.maxNodes or lower tenants[].quota.pods",
                resource=self,
            )

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
                SandboxNodePoolArgs(
                    s, self.cluster.cluster_name, checked.capacity, apis=self.cluster.apis
                ),
                pulumi.ResourceOptions(parent=self),
            )

        # Sandbox volumes on a Hyperdisk-only pool need a class its nodes can attach.
        self.storage_class = sandbox_storage_class(f"{name}-storage", s, k8s)

        # kata-deploy + RuntimeClasses; only the DaemonSet waits for the sandbox pool.
        self.isolation = IsolationRuntime(
            f"{name}-isolation",
            IsolationRuntimeArgs(
                s.isolation,
                placement=placement,
                node_pool=self.node_pool.node_pool if self.node_pool else None,
                nodes=s.node_pool.max_nodes if self.node_pool else 1,
            ),
            k8s,
        )
        # agent-sandbox CRDs (retained) + controller. Also built with controlPlane.enabled false
        # when the router needs the agent-sandbox-system namespace.
        self.control_plane: ControlPlane | None = None
        if s.control_plane.enabled or s.router.enabled:
            self.control_plane = ControlPlane(
                f"{name}-control-plane",
                ControlPlaneArgs(
                    s.control_plane,
                    checked.control_plane_manifest,
                    node_selector=controller_node_selector(s),
                ),
                k8s,
            )
        self.router: Router | None = None
        if s.router.enabled:
            assert self.control_plane is not None  # built whenever the router is
            self.router = Router(
                f"{name}-router",
                RouterArgs(
                    s.router,
                    # Waits for the namespace only, not for the CRDs or the controller.
                    namespace=self.control_plane.namespace_name,
                    node_selector=controller_node_selector(s),  # the system pool, if ours
                    network=router_network(s),
                ),
                k8s,
            )
        self.gateway: Gateway | None = None
        if self.router is not None and s.gateway.enabled:  # settings refuse it off GKE
            self.gateway = Gateway(
                f"{name}-gateway",
                GatewayArgs(
                    s.gateway,
                    router_timeout_seconds=s.router.proxy_timeout_seconds,
                    websocket_max_lifetime_seconds=s.router.websocket_max_lifetime_seconds,
                    project=s.cluster.project,
                    namespace=self.router.namespace,
                    service_name=self.router.service_name,
                ),
                k8s,
            )
        # The in-cluster backstop for sandboxes SDK clients create at run time.
        self.admission: AdmissionBackstop | None = None
        if s.admission.enabled:
            self.admission = AdmissionBackstop(
                f"{name}-admission",
                AdmissionBackstopArgs(
                    s.sandbox_namespaces,
                    s.isolation.admitted_runtime_classes,
                    namespace_runtime_classes={
                        t.namespace: t.runtime_classes for t in s.tenants if t.runtime_classes
                    },
                    pod_security_levels=s.pod_security_levels,
                    kata_deploy_namespace=(
                        s.isolation.kata.namespace if s.isolation.runtime == "kata" else None
                    ),
                ),
                k8s,
            )
        # Each tenant's boundary (namespace, Pod Security, quota, limits, deploy Role).
        blocked_egress = cluster_egress_exclusions(self.cluster)
        self.tenants = {
            t.namespace: TenantBoundary(
                f"{name}-tenant-{t.namespace}",
                TenantBoundaryArgs(
                    t,
                    guarded_by=[self.admission] if self.admission else (),
                    blocked_egress=blocked_egress,
                ),
                k8s,
            )
            for t in s.tenants
        }
        # Everything waits for the controller; pools and sandboxes (they start pods) also for
        # the runtime and the pool, templates only for their RuntimeClasses.
        self.sandboxes = SandboxSet(
            f"{name}-sandboxes",
            SandboxSetArgs(
                s,
                placement=placement,
                control_plane=self.control_plane.ready if self.control_plane else (),
                runtime_classes=self.isolation.runtime_classes,
                runtime=self.isolation.ready,
                node_pool=self.node_pool.node_pool if self.node_pool else None,
                guarded_by=[self.admission] if self.admission else (),
                blocked_egress=blocked_egress,
            ),
            k8s,
        )

        self.exports = {
            "clusterName": self.cluster.cluster_name,
            "kubeconfig": self.cluster.kubeconfig,
            "isolationRuntime": s.isolation.runtime,
            "runtimeClasses": list(s.isolation.runtime_classes),
            "defaultRuntimeClass": s.isolation.effective_default_runtime_class,
            "capacity": checked.capacity.as_output() if checked.capacity else None,
            "sandboxPool": self.node_pool.node_pool.name if self.node_pool else None,
            # what only the tenant contract needs (components/composition/platform_contract.py)
            **contract_exports(s),
            "blockedEgress": blocked_egress,
            **isolation_exports(s.isolation, self.isolation),
            **control_plane_exports(self.control_plane, checked.control_plane_manifest),
            **router_exports(self.router),
            **gateway_exports(self.gateway),
            **sandboxes_exports(self.sandboxes),
        }
        self.register_outputs(self.exports)
