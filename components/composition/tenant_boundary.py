"""TenantBoundary: what the platform stack owns of each tenant (``tenants[]``).

A tenant's guardrails are not the tenant's to set: the platform stack creates each declared
tenant's namespace with its Pod Security labels (which the admission backstop never lets anyone
lower), its ResourceQuota (Kubernetes counts each pod's RuntimeClass overhead against it, so
Kata's podFixed is paid from the tenant's quota) and LimitRange, a baseline NetworkPolicy (no
ingress, egress as a sandbox's) for sandboxes clients create at run time, and the
``sandbox-deployer`` Role its tenant stack deploys with — namespaced rights only. The tenant
stack then places its templates, pools, sandboxes and client identities in that namespace
(``tenant.py``). With ``clientNamespace`` it also creates the namespace where the
tenant's in-cluster SDK clients run, and a Role there for their service accounts and the router
token Secret. docs/threat-model.md explains why the namespace is the boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from .. import constants as c
from ..agent_sandbox.sandboxes import BASELINE_POLICY, baseline_policy_spec
from ..isolation.pod_security import namespace_labels
from ..settings import TenantBoundarySettings

core = k8s.core.v1
meta = k8s.meta.v1
net = k8s.networking.v1
rbac = k8s.rbac.v1

ALL = ("get", "list", "watch", "create", "update", "patch", "delete")
READ = ("get", "list", "watch")
# What a tenant stack registers (and Pulumi's await logic reads), in its namespace only.
DEPLOYER_RULES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    (c.AGENTS_GROUP, (c.SANDBOX_RESOURCE,), ALL),
    (
        c.EXTENSIONS_GROUP,
        (c.SANDBOX_TEMPLATE_RESOURCE, c.SANDBOX_WARM_POOL_RESOURCE, c.SANDBOX_CLAIM_RESOURCE),
        ALL,
    ),
    ("networking.k8s.io", ("networkpolicies",), ALL),
    ("", ("serviceaccounts",), ALL),
    (c.RBAC_API_GROUP, ("roles", "rolebindings"), ALL),
    ("", ("pods", "services", "persistentvolumeclaims", "events"), READ),
    ("", ("resourcequotas", "limitranges"), READ),
)


@dataclass(frozen=True)
class TenantBoundaryArgs:
    tenant: TenantBoundarySettings
    # The admission backstop: the namespace exists only once the backstop guards it.
    guarded_by: Sequence[pulumi.Resource] = ()
    # Addresses sandbox egress never reaches beyond the private ranges (the cluster endpoint).
    blocked_egress: Sequence[pulumi.Input[str]] = ()


class TenantBoundary(pulumi.ComponentResource):
    namespace: core.Namespace
    quota: core.ResourceQuota
    limit_range: core.LimitRange
    network_policy: net.NetworkPolicy
    deployer_role: rbac.Role
    deployer_binding: rbac.RoleBinding | None
    # tenants[].clientNamespace: where the tenant's in-cluster SDK clients run.
    client_namespace: core.Namespace | None

    def __init__(
        self, name: str, args: TenantBoundaryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(c.type_token("tenant_boundary", "TenantBoundary"), name, None, opts)
        t = args.tenant
        ns = t.namespace
        labels = {**c.COMMON_LABELS, c.COMPONENT_LABEL: c.TENANT_COMPONENT}
        child = pulumi.ResourceOptions(parent=self)
        self.namespace = core.Namespace(
            f"{name}-namespace",
            metadata=meta.ObjectMetaArgs(
                name=ns, labels={**labels, **namespace_labels(t.pod_security)}
            ),
            # Deleting a namespace deletes every sandbox, claim and volume in it: destroy and
            # renames leave it in place.
            opts=child.merge(
                pulumi.ResourceOptions(retain_on_delete=True, depends_on=list(args.guarded_by))
            ),
        )
        in_ns = child.merge(pulumi.ResourceOptions(depends_on=[self.namespace]))

        def metadata(object_name: str) -> meta.ObjectMetaArgs:
            return meta.ObjectMetaArgs(name=object_name, namespace=ns, labels=labels)

        q, lim = t.quota, t.limits
        self.quota = core.ResourceQuota(
            f"{name}-quota",
            metadata=metadata(c.TENANT_QUOTA_NAME),
            spec=core.ResourceQuotaSpecArgs(
                hard={
                    "requests.cpu": q.cpu,
                    "limits.cpu": q.cpu,
                    "requests.memory": q.memory,
                    "limits.memory": q.memory,
                    "pods": str(q.pods),
                    "requests.storage": q.storage,
                    # Sandboxes are reached through the platform's router only.
                    "services.loadbalancers": "0",
                    "services.nodeports": "0",
                }
            ),
            opts=in_ns,
        )
        self.limit_range = core.LimitRange(
            f"{name}-limits",
            metadata=metadata(c.TENANT_LIMIT_RANGE_NAME),
            spec=core.LimitRangeSpecArgs(
                limits=[
                    core.LimitRangeItemArgs(
                        type="Container",
                        default={"cpu": lim.default_cpu, "memory": lim.default_memory},
                        default_request={
                            "cpu": lim.default_request_cpu,
                            "memory": lim.default_request_memory,
                        },
                        max={"cpu": lim.max_cpu, "memory": lim.max_memory},
                    )
                ]
            ),
            opts=in_ns,
        )
        self.network_policy = net.NetworkPolicy(
            f"{name}-baseline-network",
            metadata=metadata(BASELINE_POLICY),
            spec=baseline_policy_spec(args.blocked_egress),
            opts=in_ns,
        )
        self.deployer_role = rbac.Role(
            f"{name}-deployer-role",
            metadata=metadata(c.TENANT_DEPLOYER_ROLE_NAME),
            rules=[
                rbac.PolicyRuleArgs(api_groups=[group], resources=list(res), verbs=list(verbs))
                for group, res, verbs in DEPLOYER_RULES
            ],
            opts=in_ns,
        )
        subjects = [
            rbac.SubjectArgs(kind="Group", name=g, api_group=c.RBAC_API_GROUP)
            for g in t.deploy_groups
        ] + [
            rbac.SubjectArgs(kind="User", name=u, api_group=c.RBAC_API_GROUP)
            for u in t.deploy_users
        ]
        self.deployer_binding = None
        if subjects:
            self.deployer_binding = rbac.RoleBinding(
                f"{name}-deployer-binding",
                metadata=metadata(c.TENANT_DEPLOYER_ROLE_NAME),
                role_ref=rbac.RoleRefArgs(
                    api_group=c.RBAC_API_GROUP, kind="Role", name=c.TENANT_DEPLOYER_ROLE_NAME
                ),
                subjects=subjects,
                opts=in_ns.merge(pulumi.ResourceOptions(depends_on=[self.deployer_role])),
            )
        self.client_namespace = self._clients(name, t, labels, subjects, args.guarded_by)
        self.register_outputs(
            {
                "namespace": self.namespace.metadata.name,
                "podSecurity": t.pod_security,
                "clientNamespace": self.client_namespace.metadata.name
                if self.client_namespace
                else None,
            }
        )

    def _clients(
        self,
        name: str,
        t: TenantBoundarySettings,
        labels: dict[str, str],
        subjects: list[rbac.SubjectArgs],
        guarded_by: Sequence[pulumi.Resource],
    ) -> core.Namespace | None:
        """The clients' namespace (restricted: SDK clients need no privilege) and the Role the
        tenant's deploy identity places their service accounts and token Secret with."""
        ns = t.client_namespace
        if ns is None:
            return None
        child = pulumi.ResourceOptions(parent=self)
        namespace = core.Namespace(
            f"{name}-client-namespace",
            metadata=meta.ObjectMetaArgs(
                name=ns, labels={**labels, **namespace_labels("restricted")}
            ),
            # It holds the tenant's client identities: destroy leaves it like the sandboxes'.
            opts=child.merge(
                pulumi.ResourceOptions(retain_on_delete=True, depends_on=list(guarded_by))
            ),
        )
        in_ns = child.merge(pulumi.ResourceOptions(depends_on=[namespace]))
        role_name = c.TENANT_CLIENT_DEPLOYER_ROLE_NAME
        role = rbac.Role(
            f"{name}-client-deployer-role",
            metadata=meta.ObjectMetaArgs(name=role_name, namespace=ns, labels=labels),
            rules=[
                rbac.PolicyRuleArgs(
                    api_groups=[""], resources=["serviceaccounts", "secrets"], verbs=list(ALL)
                )
            ],
            opts=in_ns,
        )
        if subjects:
            rbac.RoleBinding(
                f"{name}-client-deployer-binding",
                metadata=meta.ObjectMetaArgs(name=role_name, namespace=ns, labels=labels),
                role_ref=rbac.RoleRefArgs(api_group=c.RBAC_API_GROUP, kind="Role", name=role_name),
                subjects=subjects,
                opts=in_ns.merge(pulumi.ResourceOptions(depends_on=[role])),
            )
        return namespace
