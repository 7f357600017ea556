"""Tenant: one team's sandboxes in its own namespace on a platform stack's cluster (role: tenant).

Registers only namespaced resources, plus the namespace itself: the sandboxes (``SandboxSet``:
namespace with Pod Security labels and a baseline NetworkPolicy, templates, warm pools,
sandboxes and their NetworkPolicies), a ResourceQuota and a LimitRange, and the RBAC of the
team's SDK clients (a Role, its RoleBinding and the clients' ServiceAccounts). Nothing
cluster-scoped: the runtime, the CRDs, the router and the admission backstop are the platform's,
and the tenant learns what it needs of them from the platform contract
(``platform_contract.py``). Everything that can be checked against that contract is checked
before the first tenant resource registers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from . import constants as c
from .capacity import overhead, quantity
from .platform_contract import PlatformContract
from .sandboxes import SandboxSet, SandboxSetArgs, sandboxes_exports
from .settings import (
    PlatformSettings,
    SettingsError,
    TenantSettings,
    WorkloadSettings,
)

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


def check_against_platform(settings: PlatformSettings, contract: PlatformContract) -> list[str]:
    """Raise a SettingsError for what cannot work on this platform; return the warnings."""
    t = _tenant(settings)
    installed = contract.runtime_classes
    problems: list[str] = []
    for key, i, w in settings.sandboxes.workloads:
        if w.runtime_class is not None and w.runtime_class not in installed:
            problems.append(
                f"sandboxes.{key}[{i}].runtimeClass: '{w.name}' asks for '{w.runtime_class}', "
                f"which the platform stack {contract.stack} does not install (installed: "
                f"{', '.join(installed)}); use one of those, or omit runtimeClass for the "
                f"platform's default ({contract.default_runtime_class})"
            )
    taken = {
        contract.gateway.namespace if contract.gateway else None: "the gateway's namespace",
        contract.router.namespace if contract.router else None: "the router's namespace",
        contract.sandbox_namespace: "the platform's own sandboxes namespace",
    }
    taken.pop(None, None)
    if t.namespace in taken:
        problems.append(
            f"tenant.namespace '{t.namespace}' is {taken[t.namespace]} on {contract.stack}; a "
            "tenant gets a namespace of its own (e.g. the team's name)"
        )
    if contract.kubeconfig is None and settings.cluster.mode == "platform-stack":
        problems.append(
            f"cluster: the platform stack {contract.stack} exports no kubeconfig (its cluster "
            f"is the kubeconfig context '{contract.cluster_name}'); set cluster.mode: "
            "kubeconfig and cluster.kubeconfig.context to your own context for that cluster"
        )
    problems += _quota_problems(settings, t, contract)
    if problems:
        raise _fail(problems)
    return _warnings(settings, t, contract) + client_warnings(t, contract)


def _quota_problems(
    settings: PlatformSettings, t: TenantSettings, contract: PlatformContract
) -> list[str]:
    problems: list[str] = []
    lim, quota = t.limits, t.quota
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
                    f"tenant.limits.{name} ({most}), so the namespace would refuse its pod; "
                    f"lower the limit or raise tenant.limits.{name}"
                )
        rc = w.runtime_class or contract.default_runtime_class
        fixed_mib, fixed_millis = overhead(rc)
        pods += d.pods
        cpu += d.pods * (quantity(limits["cpu"]) + fixed_millis / 1000)
        memory += d.pods * (quantity(limits["memory"]) + fixed_mib * 2**20)
        storage += d.volumes * sum(
            (quantity(v.size) for v in w.storage if v.type == "persistentVolumeClaim"), Fraction(0)
        )
    if pods > quota.pods:
        problems.append(
            f"tenant.quota.pods ({quota.pods}) is below the {pods} sandboxes this stack runs "
            "(warm-pool replicas + running sandboxes); raise it or lower "
            "sandboxes.warmPools[].replicas"
        )
    for res, need, hard, unit in (
        ("cpu", cpu, quota.cpu, ""),
        ("memory", memory, quota.memory, " bytes"),
        ("storage", storage, quota.storage, " bytes"),
    ):
        if need > quantity(hard):
            problems.append(
                f"tenant.quota.{res} ({hard}) is below what this stack's sandboxes take: "
                f"{float(need):g}{unit} (limits × replicas, plus each RuntimeClass's podFixed "
                f"overhead for cpu and memory); raise tenant.quota.{res} or declare less"
            )
    return problems


def _warnings(
    settings: PlatformSettings, t: TenantSettings, contract: PlatformContract
) -> list[str]:
    out: list[str] = []
    if t.namespace not in contract.admission_namespaces:
        out.append(
            f"namespace {t.namespace} is not guarded by the admission backstop of "
            f"{contract.stack} (guarded: {', '.join(contract.admission_namespaces) or 'none'}): "
            "sandboxes created at run time there are not checked for a runtime class; ask the "
            f"platform team to add {t.namespace} to admission.sandboxNamespaces"
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
    if pods >= t.quota.pods and settings.sandboxes.warm_pools:
        out.append(
            f"tenant.quota.pods ({t.quota.pods}) leaves no room for claims: a claimed warm-pool "
            "sandbox is replaced by a new pod; raise tenant.quota.pods"
        )
    return out


def resolve_on_platform(settings: PlatformSettings, contract: PlatformContract) -> PlatformSettings:
    """The tenant's settings as the sandboxes layer sees them: in tenant.namespace, and every
    template and sandbox naming its RuntimeClass (the platform's default where none was set),
    so that nothing falls back on this stack's own (unused) isolation section."""
    t = _tenant(settings)
    sb = settings.sandboxes
    default = contract.default_runtime_class

    def pin(items: Sequence[Any]) -> list[Any]:
        return [w.model_copy(update={"runtime_class": w.runtime_class or default}) for w in items]

    sandboxes = sb.model_copy(
        update={
            "namespace": t.namespace,
            "create_namespace": t.create_namespace,
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
            opts=child,
        )
    assert contract.kubeconfig is not None  # check_against_platform refused it otherwise
    return k8s.Provider(
        name,
        kubeconfig=contract.kubeconfig,
        cluster_identifier=f"{contract.stack}/{contract.cluster_name}",
        opts=child,
    )


class Tenant(pulumi.ComponentResource):
    """A tenant namespace with its quota, limits, client RBAC and sandboxes."""

    provider: k8s.Provider
    sandboxes: SandboxSet
    quota: core.ResourceQuota
    limit_range: core.LimitRange
    client_role: rbac.Role
    client_binding: rbac.RoleBinding | None
    service_accounts: dict[str, core.ServiceAccount]
    client_token_secret: core.Secret | None
    exports: dict[str, Any]

    def __init__(
        self, name: str, args: TenantArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        s, contract = args.settings, args.contract
        t = _tenant(s)
        warnings = check_against_platform(s, contract)  # raises before anything registers
        resolved = resolve_on_platform(s, contract)
        super().__init__(c.type_token("tenant", "Tenant"), name, None, opts)
        for warning in warnings:
            pulumi.log.warn(warning, resource=self)

        self.provider = tenant_provider(f"{name}-k8s", s, contract, self)
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=self.provider)
        self.sandboxes = SandboxSet(f"{name}-sandboxes", SandboxSetArgs(resolved), k8s_opts)
        # The namespace's name as an Output of the Namespace (when created here): everything
        # below waits for it.
        namespace = self.sandboxes.namespace
        labels = {**c.COMMON_LABELS, c.COMPONENT_LABEL: c.TENANT_COMPONENT}

        def metadata(object_name: str) -> meta.ObjectMetaArgs:
            return meta.ObjectMetaArgs(name=object_name, namespace=namespace, labels=labels)

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
            opts=k8s_opts,
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
            opts=k8s_opts,
        )
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


def client_warnings(t: TenantSettings, contract: PlatformContract) -> list[str]:
    ns = t.client_namespace
    if ns is None or contract.router is None:
        return []
    if ns not in contract.router_client_namespaces:
        return [
            f"tenant.clientNamespace {ns} is not in router.clientNamespaces of "
            f"{contract.stack}: the router's NetworkPolicy refuses its pods; ask the platform "
            f"team to add {ns}"
        ]
    return []


def tenant_exports(contract: PlatformContract, tenant: Tenant) -> dict[str, Any]:
    """What the team's SDK clients need: the sandboxes (same names as a platform stack's) and
    how to reach them through the platform's router."""
    router, gateway = contract.router, contract.gateway
    return {
        "platformStack": contract.stack,
        **sandboxes_exports(tenant.sandboxes),
        "runtimeClasses": list(contract.runtime_classes),
        "defaultRuntimeClass": contract.default_runtime_class,
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
