"""Tenant: one team's sandboxes in its namespace on a platform stack's cluster (role: tenant).

The platform stack owns the tenant's boundary: it declares the tenant under ``tenants`` and
creates its namespace, Pod Security labels, ResourceQuota, LimitRange, baseline NetworkPolicy
and the ``sandbox-deployer`` Role (``tenant_boundary.py``). The tenant stack places only
namespaced resources in that namespace: the sandboxes (``SandboxSet``: templates, warm
pools, sandboxes and their NetworkPolicies) and the RBAC of the team's SDK clients (a Role, its
RoleBinding and the clients' ServiceAccounts), so its deploy identity needs no cluster-scoped
right. It learns what it needs of the platform from the platform contract
(``platform_contract.py``); everything that can be checked against that contract — the
namespace is declared there, the classes and Pod Security level allow these workloads, the quota
holds them — is checked before the first tenant resource registers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from .. import constants as c
from ..agent_sandbox.sandboxes import SandboxSet, SandboxSetArgs, sandboxes_exports
from ..gke.cluster import ADOPT_EXISTING_OBJECTS
from ..isolation.capacity import overhead
from ..settings import (
    PlatformSettings,
    SettingsError,
    TenantBoundarySettings,
    TenantSettings,
    WorkloadSettings,
)
from ..settings.quantities import parse as quantity
from .platform_contract import PlatformContract

core = k8s.core.v1
meta = k8s.meta.v1
rbac = k8s.rbac.v1

# What the SDK's clients may do in their namespace: claim sandboxes from warm pools and follow
# them. Sandboxes, templates and pools themselves are the tenant stack's, so read-only here.
CLIENT_RULES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    (c.EXTENSIONS_GROUP, (c.SANDBOX_CLAIM_RESOURCE,), ("create", "get", "list", "watch", "delete")),
    (c.AGENTS_GROUP, (c.SANDBOX_RESOURCE,), ("get", "list", "watch")),
    (
        c.EXTENSIONS_GROUP,
        (c.SANDBOX_TEMPLATE_RESOURCE, c.SANDBOX_WARM_POOL_RESOURCE),
        ("get", "list", "watch"),
    ),
)


@dataclass(frozen=True)
class TenantArgs:
    settings: PlatformSettings  # role: tenant
    contract: PlatformContract


def _tenant(settings: PlatformSettings) -> TenantSettings:
    if settings.role != "tenant" or settings.tenant is None:
        raise ValueError("Tenant needs settings with role: tenant and a tenant section")
    return settings.tenant


# ---------------------------------------------------------------------------------------------
# checks against the platform contract (before anything registers)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Demand:
    """What one group of identical sandboxes asks of the namespace's quota."""

    setting: str
    workload: WorkloadSettings
    pods: int  # running pods
    volumes: int  # sandboxes holding PVCs (a suspended sandbox keeps its volumes)


def _demands(settings: PlatformSettings) -> list[_Demand]:
    sb = settings.sandboxes
    replicas = {t.name: 0 for t in sb.templates}
    for pool in sb.warm_pools:
        replicas[pool.template] += pool.replicas
    out = [
        _Demand(f"sandboxes.templates[{i}]", t, replicas[t.name], replicas[t.name])
        for i, t in enumerate(sb.templates)
    ]
    out += [
        _Demand(f"sandboxes.sandboxes[{i}]", x, int(x.operating_mode == "Running"), 1)
        for i, x in enumerate(sb.sandboxes)
    ]
    return out


def _fail(problems: Sequence[str]) -> SettingsError:
    return SettingsError("invalid stack settings:\n" + "\n".join(f"  - {p}" for p in problems))


def boundary(settings: PlatformSettings, contract: PlatformContract) -> TenantBoundarySettings:
    """The platform's declaration of this tenant (tenants[] on the platform stack)."""
    t = _tenant(settings)
    found = contract.tenants.get(t.namespace)
    if found is None:
        declared = ", ".join(contract.tenants) or "none"
        raise _fail(
            [
                f"tenant.namespace '{t.namespace}' is not a tenant of the platform stack "
                f"{contract.stack} (its tenants: {declared}); the platform stack creates each "
                f"tenant's namespace, quota and limits: ask the platform team to add "
                f"{{namespace: {t.namespace}}} under tenants there, or use one of those"
            ]
        )
    return found


def allowed_runtime_classes(b: TenantBoundarySettings, contract: PlatformContract) -> list[str]:
    return list(b.runtime_classes or contract.runtime_classes)


def default_runtime_class(b: TenantBoundarySettings, contract: PlatformContract) -> str:
    """The platform's default, unless this tenant may not use it: then its first class."""
    allowed = allowed_runtime_classes(b, contract)
    return (
        contract.default_runtime_class if contract.default_runtime_class in allowed else allowed[0]
    )


def check_against_platform(settings: PlatformSettings, contract: PlatformContract) -> list[str]:
    """Raise a SettingsError for what cannot work on this platform; return the warnings."""
    t = _tenant(settings)
    taken = {
        contract.gateway.namespace if contract.gateway else None: "the gateway's namespace",
        contract.router.namespace if contract.router else None: "the router's namespace",
        contract.sandbox_namespace: "the platform's own sandboxes namespace",
    }
    taken.pop(None, None)
    if t.namespace in taken:
        raise _fail(
            [
                f"tenant.namespace '{t.namespace}' is {taken[t.namespace]} on {contract.stack}; "
                "a tenant gets a namespace of its own (e.g. the team's name)"
            ]
        )
    b = boundary(settings, contract)
    allowed = allowed_runtime_classes(b, contract)
    problems: list[str] = []
    for key, i, w in settings.sandboxes.workloads:
        if w.runtime_class is not None and w.runtime_class not in allowed:
            problems.append(
                f"sandboxes.{key}[{i}].runtimeClass: '{w.name}' asks for '{w.runtime_class}', "
                f"which tenant {t.namespace} may not use on the platform stack {contract.stack} "
                f"(allowed: {', '.join(allowed)}); use one of those, or omit runtimeClass for "
                f"the default ({default_runtime_class(b, contract)})"
            )
    reasons = settings.sandboxes.baseline_reasons()
    if b.pod_security == "restricted" and reasons:
        problems.append(
            f"namespace {t.namespace} enforces Pod Security 'restricted' (tenants[].podSecurity "
            f"on {contract.stack}), which refuses {'; '.join(reasons)}; drop those security "
            "overrides, or ask the platform team for podSecurity: baseline"
        )
    if contract.kubeconfig is None and settings.cluster.mode == "platform-stack":
        problems.append(
            f"cluster: the platform stack {contract.stack} exports no kubeconfig (its cluster "
            f"is the kubeconfig context '{contract.cluster_name}'); set cluster.mode: "
            "kubeconfig and cluster.kubeconfig.context to your own context for that cluster"
        )
    problems += _quota_problems(settings, b, contract)
    problems += client_problems(t, b, contract)
    if problems:
        raise _fail(problems)
    return _warnings(settings, b, contract)


def _quota_problems(
    settings: PlatformSettings, b: TenantBoundarySettings, contract: PlatformContract
) -> list[str]:
    problems: list[str] = []
    lim, quota = b.limits, b.quota
    where = f"tenants[{b.namespace}] of {contract.stack}"
    pods, cpu, memory, storage = 0, Fraction(0), Fraction(0), Fraction(0)
    for d in _demands(settings):
        w = d.workload
        limits = w.resources.limits
        maxima: tuple[tuple[Literal["cpu", "memory"], str, str], ...] = (
            ("cpu", lim.max_cpu, "maxCpu"),
            ("memory", lim.max_memory, "maxMemory"),
        )
        for res, most, name in maxima:
            if quantity(limits[res]) > quantity(most):
                problems.append(
                    f"{d.setting}.resources.limits.{res} ({limits[res]}) of '{w.name}' is above "
                    f"limits.{name} ({most}) of {where}, so the namespace would refuse its pod; "
                    "lower the limit or ask the platform team to raise it"
                )
        rc = w.runtime_class or default_runtime_class(b, contract)
        fixed_mib, fixed_millis = overhead(rc)
        pods += d.pods
        cpu += d.pods * (quantity(limits["cpu"]) + fixed_millis / 1000)
        memory += d.pods * (quantity(limits["memory"]) + fixed_mib * 2**20)
        storage += d.volumes * sum(
            (quantity(v.size) for v in w.storage if v.type == "persistentVolumeClaim"), Fraction(0)
        )
    if pods > quota.pods:
        problems.append(
            f"quota.pods ({quota.pods}) of {where} is below the {pods} sandboxes this stack runs "
            "(warm-pool replicas + running sandboxes); lower sandboxes.warmPools[].replicas or "
            "ask the platform team to raise it"
        )
    for res, need, hard, unit in (
        ("cpu", cpu, quota.cpu, ""),
        ("memory", memory, quota.memory, " bytes"),
        ("storage", storage, quota.storage, " bytes"),
    ):
        if need > quantity(hard):
            problems.append(
                f"quota.{res} ({hard}) of {where} is below what this stack's sandboxes take: "
                f"{float(need):g}{unit} (limits × replicas, plus each RuntimeClass's podFixed "
                f"overhead for cpu and memory); declare less or ask the platform team to raise it"
            )
    return problems


def _warnings(
    settings: PlatformSettings, b: TenantBoundarySettings, contract: PlatformContract
) -> list[str]:
    out: list[str] = []
    if b.namespace not in contract.admission_namespaces:
        out.append(
            f"namespace {b.namespace} is not guarded by an admission backstop on "
            f"{contract.stack} (its admission is off): sandboxes created at run time there "
            "are not checked; ask the platform team to enable admission"
        )
    if contract.router is None and settings.sandboxes.workloads:
        out.append(
            f"the platform stack {contract.stack} has no sandbox router: clients cannot reach "
            "these sandboxes (Kata pods cannot be port-forwarded)"
        )
    pods = sum(d.pods for d in _demands(settings))
    cap = contract.capacity or {}
    pool, declared = cap.get("pool_capacity"), cap.get("declared")
    if (
        isinstance(pool, (int, float))
        and isinstance(declared, (int, float))
        and pods + declared > pool
    ):
        out.append(
            f"the sandbox pool of {contract.stack} holds at most {int(pool)} sandboxes; the "
            f"platform stack declares {int(declared)} and this tenant {pods} (other tenants "
            "not counted): ask the platform team to raise nodePool.maxNodes"
        )
    if pods >= b.quota.pods and settings.sandboxes.warm_pools:
        out.append(
            f"quota.pods ({b.quota.pods}) of tenant {b.namespace} leaves no room for claims: a "
            "claimed warm-pool sandbox is replaced by a new pod; ask the platform team to raise "
            "tenants[].quota.pods"
        )
    return out


def resolve_on_platform(settings: PlatformSettings, contract: PlatformContract) -> PlatformSettings:
    """The tenant's settings as the sandboxes layer sees them: in tenant.namespace, and every
    template and sandbox naming its RuntimeClass (the platform's default where none was set),
    so that nothing falls back on this stack's own (unused) isolation section."""
    t = _tenant(settings)
    sb = settings.sandboxes
    default = default_runtime_class(boundary(settings, contract), contract)

    def pin(items: Sequence[Any]) -> list[Any]:
        return [w.model_copy(update={"runtime_class": w.runtime_class or default}) for w in items]

    sandboxes = sb.model_copy(
        update={
            "namespace": t.namespace,
            # The platform stack created it (tenants[]), with its labels and baseline policy.
            "create_namespace": False,
            "templates": pin(sb.templates),
            "sandboxes": pin(sb.sandboxes),
        }
    )
    return settings.model_copy(update={"sandboxes": sandboxes})


# ---------------------------------------------------------------------------------------------
# the component
# ---------------------------------------------------------------------------------------------
def tenant_provider(
    name: str, settings: PlatformSettings, contract: PlatformContract, parent: pulumi.Resource
) -> k8s.Provider:
    """The platform's kubeconfig output, or the tenant's own context (cluster.mode: kubeconfig).

    cluster_identifier is a plain string that changes only with the cluster, so kubeconfig
    churn (a rotated CA, a new endpoint) never replaces the tenant's resources.
    """
    child = pulumi.ResourceOptions(parent=parent)
    own = settings.cluster.kubeconfig
    if settings.cluster.mode == "kubeconfig" and own is not None:
        return k8s.Provider(
            name,
            context=own.context,
            kubeconfig=own.path,
            cluster_identifier=own.context,
            upsert_existing_objects=ADOPT_EXISTING_OBJECTS,
            enable_patch_force=ADOPT_EXISTING_OBJECTS,
            opts=child,
        )
    assert contract.kubeconfig is not None  # check_against_platform refused it otherwise
    return k8s.Provider(
        name,
        kubeconfig=contract.kubeconfig,
        cluster_identifier=f"{contract.stack}/{contract.cluster_name}",
        upsert_existing_objects=ADOPT_EXISTING_OBJECTS,
        enable_patch_force=ADOPT_EXISTING_OBJECTS,
        opts=child,
    )


class Tenant(pulumi.ComponentResource):
    """A tenant's sandboxes and client RBAC, in the namespace its platform stack created."""

    provider: k8s.Provider
    sandboxes: SandboxSet
    client_role: rbac.Role
    client_binding: rbac.RoleBinding | None
    service_accounts: dict[str, core.ServiceAccount]
    boundary: TenantBoundarySettings  # the platform's declaration of this tenant
    client_token_secret: core.Secret | None
    exports: dict[str, Any]

    def __init__(
        self, name: str, args: TenantArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        s, contract = args.settings, args.contract
        t = _tenant(s)
        warnings = check_against_platform(s, contract)  # raises before anything registers
        resolved = resolve_on_platform(s, contract)
        self.boundary = boundary(s, contract)
        super().__init__(c.type_token("tenant", "Tenant"), name, None, opts)
        for warning in warnings:
            pulumi.log.warn(warning, resource=self)

        self.provider = tenant_provider(f"{name}-k8s", s, contract, self)
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=self.provider)
        self.sandboxes = SandboxSet(
            f"{name}-sandboxes",
            # The platform's exclusions (its cluster endpoint): a tenant's egress rules add to
            # the platform's baseline, so each must except them too.
            SandboxSetArgs(resolved, blocked_egress=contract.blocked_egress),
            k8s_opts,
        )
        # The platform stack created the namespace (tenants[]).
        namespace = self.sandboxes.namespace
        labels = {**c.COMMON_LABELS, c.COMPONENT_LABEL: c.TENANT_COMPONENT}

        def metadata(object_name: str) -> meta.ObjectMetaArgs:
            return meta.ObjectMetaArgs(name=object_name, namespace=namespace, labels=labels)

        self.service_accounts, self.client_token_secret = client_identities(
            name, t, contract, labels, k8s_opts
        )
        self.client_role = rbac.Role(
            f"{name}-client-role",
            metadata=metadata(c.TENANT_CLIENT_ROLE_NAME),
            rules=[
                rbac.PolicyRuleArgs(api_groups=[group], resources=list(res), verbs=list(verbs))
                for group, res, verbs in CLIENT_RULES
            ],
            opts=k8s_opts,
        )
        subjects = [
            rbac.SubjectArgs(kind="Group", name=g, api_group=c.RBAC_API_GROUP)
            for g in t.client_groups
        ] + [
            rbac.SubjectArgs(
                kind="ServiceAccount", name=a.metadata.name, namespace=a.metadata.namespace
            )
            for a in self.service_accounts.values()
        ]
        self.client_binding = None
        if subjects:
            self.client_binding = rbac.RoleBinding(
                f"{name}-client-binding",
                metadata=metadata(c.TENANT_CLIENT_ROLE_NAME),
                role_ref=rbac.RoleRefArgs(
                    api_group=c.RBAC_API_GROUP, kind="Role", name=self.client_role.metadata.name
                ),
                subjects=subjects,
                opts=k8s_opts,
            )

        self.exports = tenant_exports(contract, self)
        self.register_outputs(self.exports)


def client_identities(
    name: str,
    t: TenantSettings,
    contract: PlatformContract,
    labels: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> tuple[dict[str, core.ServiceAccount], core.Secret | None]:
    """The in-cluster SDK clients' service accounts and the router token they send, in
    tenant.clientNamespace (outside the sandbox namespace, whose pods admission forces into
    the sandbox runtime). The token Secret is the platform's secret output written by this
    stack, so it follows the platform's token whenever the tenant stack runs: nobody copies
    it by hand."""
    ns = t.client_namespace
    if ns is None:
        return {}, None

    def metadata(object_name: str) -> meta.ObjectMetaArgs:
        return meta.ObjectMetaArgs(name=object_name, namespace=ns, labels=labels)

    accounts = {
        sa: core.ServiceAccount(f"{name}-sa-{sa}", metadata=metadata(sa), opts=opts)
        for sa in t.client_service_accounts
    }
    secret = None
    if contract.router_auth_token is not None:
        secret = core.Secret(
            f"{name}-client-router-auth",
            metadata=metadata(c.ROUTER_AUTH_SECRET_NAME),
            type="Opaque",
            string_data={c.ROUTER_AUTH_SECRET_KEY: contract.router_auth_token},
            opts=opts,
        )
    return accounts, secret


def client_problems(
    t: TenantSettings, b: TenantBoundarySettings, contract: PlatformContract
) -> list[str]:
    """The clients' namespace is the platform's to create (with the Role that lets this stack
    place service accounts and the token there, and a place in the router's NetworkPolicy)."""
    ns = t.client_namespace
    if ns is None or ns == b.client_namespace:
        return []
    declared = (
        f"it declared {b.client_namespace}" if b.client_namespace else "it declared none"
    )
    return [
        f"tenant.clientNamespace '{ns}' is not the client namespace the platform stack "
        f"{contract.stack} declared for {t.namespace} ({declared}); set tenant.clientNamespace "
        f"to that, or ask the platform team to set tenants[].clientNamespace: {ns}"
    ]


def tenant_exports(contract: PlatformContract, tenant: Tenant) -> dict[str, Any]:
    """What the team's SDK clients need: the sandboxes (same names as a platform stack's) and
    how to reach them through the platform's router."""
    router, gateway = contract.router, contract.gateway
    return {
        "platformStack": contract.stack,
        **sandboxes_exports(tenant.sandboxes),
        "runtimeClasses": allowed_runtime_classes(tenant.boundary, contract),
        "defaultRuntimeClass": default_runtime_class(tenant.boundary, contract),
        "clientRole": tenant.client_role.metadata.name,
        "clientServiceAccounts": sorted(tenant.service_accounts),
        "clientNamespace": tenant.client_token_secret.metadata.namespace
        if tenant.client_token_secret
        else None,
        "clientRouterAuthSecret": tenant.client_token_secret.metadata.name
        if tenant.client_token_secret
        else None,
        "routerServiceName": router.service_name if router else None,
        "routerNamespace": router.namespace if router else None,
        "routerPort": router.port if router else None,
        "routerUrl": router.url if router else None,
        "routerAuthToken": contract.router_auth_token,
        "gatewayName": gateway.name if gateway else None,
        "gatewayNamespace": gateway.namespace if gateway else None,
        "gatewayUrl": gateway.url if gateway else None,
    }
