"""The admission backstop's reach and a tenant stack's own settings."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    model_validator,
)
from pydantic.alias_generators import to_snake

from .. import constants as c
from .base import ByteQuantity, CpuQuantity, Dns1123Name, _Model
from .quantities import parse
from .reference import describe_pattern


class AdmissionSettings(_Model):
    # Installs the ValidatingAdmissionPolicies (platform and all-in-one stacks only).
    enabled: bool = True
    # Namespaces (beyond sandboxes.namespace and tenants[].namespace) where sandbox kinds may
    # exist and every pod must carry an installed runtime class; namespaces this stack does not
    # create (prefer tenants, which the platform creates and guards).
    sandbox_namespaces: list[Dns1123Name] = []

    @model_validator(mode="after")
    def _namespaces(self) -> AdmissionSettings:
        reserved = [n for n in self.sandbox_namespaces if n in c.RESERVED_NAMESPACES]
        if reserved:
            raise ValueError(
                f"admission.sandboxNamespaces lists {', '.join(reserved)}, where system and "
                "platform pods (kata-deploy, the controller, the router) run without an "
                "isolation runtime class and would be refused; remove "
                f"{'them' if len(reserved) > 1 else 'it'}"
            )
        if len(set(self.sandbox_namespaces)) != len(self.sandbox_namespaces):
            raise ValueError(
                "admission.sandboxNamespaces lists a namespace twice; list each namespace once"
            )
        return self


class TenantQuotaSettings(_Model):
    """The tenant namespace's ResourceQuota. Kata's RuntimeClass overhead (podFixed) counts
    against cpu and memory, on top of the containers' own requests and limits."""

    cpu: CpuQuantity = "16"  # requests.cpu and limits.cpu
    memory: ByteQuantity = "64Gi"  # requests.memory and limits.memory
    # Bounds warm-pool replicas + standalone sandboxes + sandboxes claimed at run time.
    pods: int = Field(20, ge=1)
    storage: ByteQuantity = "200Gi"  # requests.storage: every PVC of every sandbox


class TenantLimitSettings(_Model):
    """The tenant namespace's LimitRange: defaults for containers that declare none (pods
    created at run time) and the largest container the namespace admits."""

    default_cpu: CpuQuantity = "1"
    default_memory: ByteQuantity = "2Gi"
    default_request_cpu: CpuQuantity = "250m"
    default_request_memory: ByteQuantity = "512Mi"
    max_cpu: CpuQuantity = "4"
    max_memory: ByteQuantity = "8Gi"


# Pulumi stack names: [<org>/[<project>/]]<stack>.
STACK_NAME = describe_pattern(
    r"^([A-Za-z0-9_.-]+/){0,2}[A-Za-z0-9_.-]+$",
    "a Pulumi stack name, [<org>/[<project>/]]<stack> (e.g. my-org/agent-sandbox-platform/dev)",
)


class TenantBoundarySettings(_Model):
    """One tenant's boundary, declared and created by the platform stack (``tenants[]``): its
    namespace with Pod Security labels, quota, limits, allowed RuntimeClasses and the Role its
    tenant stack deploys with. The namespace is the trust boundary: every SDK client of it can
    claim, see and delete every sandbox in it, so declare one tenant per boundary."""

    namespace: Dns1123Name
    # Pod Security Admission level enforced on the namespace; it can never be lowered there
    # (the admission backstop refuses it). baseline only for images that must run as root.
    pod_security: Literal["restricted", "baseline"] = "restricted"
    quota: TenantQuotaSettings = TenantQuotaSettings()
    limits: TenantLimitSettings = TenantLimitSettings()
    # RuntimeClasses this tenant's sandboxes may use; [] = every class the platform installs.
    runtime_classes: list[str] = []
    # Subjects bound to the namespace's sandbox-deployer Role (what the tenant stack's deploy
    # identity needs, and nothing cluster-scoped): groups and users as Kubernetes sees them
    # (GKE: Google Groups for RBAC; a CI service account's email is a user).
    deploy_groups: list[Annotated[str, Field(min_length=1)]] = []
    deploy_users: list[Annotated[str, Field(min_length=1)]] = []
    # Where this tenant's in-cluster SDK clients run (docs/clients.md): created here with Pod
    # Security restricted, admitted by the router's NetworkPolicy, and with a Role that lets the
    # deploy identity place the client service accounts and the router token Secret in it.
    # Never a sandbox namespace: admission forces every pod there into the sandbox runtime.
    client_namespace: Dns1123Name | None = None

    @model_validator(mode="after")
    def _boundary(self) -> TenantBoundarySettings:
        _check_namespace(self.namespace, "tenants[].namespace")
        if self.client_namespace is not None:
            _check_namespace(self.client_namespace, "tenants[].clientNamespace")
            if self.client_namespace == self.namespace:
                raise ValueError(
                    f"tenants[].clientNamespace '{self.client_namespace}' is the tenant's "
                    "sandbox namespace, where admission forces every pod into the sandbox "
                    "runtime; name another one (e.g. team-a-agents)"
                )
        _check_quota_and_limits(self.quota, self.limits, "tenants[]")
        for what, names in (
            ("runtimeClasses", self.runtime_classes),
            ("deployGroups", self.deploy_groups),
            ("deployUsers", self.deploy_users),
        ):
            if len(set(names)) != len(names):
                raise ValueError(f"tenants[].{what} lists a name twice; list each once")
        return self


def _check_namespace(namespace: str, where: str) -> None:
    if namespace in (*c.RESERVED_NAMESPACES, "default"):
        raise ValueError(
            f"{where} '{namespace}' is a system namespace; a tenant gets a namespace of its "
            "own (e.g. team-a)"
        )


def _check_quota_and_limits(
    quota: TenantQuotaSettings, lim: TenantLimitSettings, where: str
) -> None:
    for res, unit in (("cpu", "Cpu"), ("memory", "Memory")):
        request = getattr(lim, f"default_request_{res}")
        default, most = getattr(lim, f"default_{res}"), getattr(lim, f"max_{res}")
        total = getattr(quota, res)
        if not parse(request) <= parse(default) <= parse(most):
            raise ValueError(
                f"{where}.limits: defaultRequest{unit} ({request}) <= default{unit} "
                f"({default}) <= max{unit} ({most}) must hold; adjust them"
            )
        if parse(most) > parse(total):
            raise ValueError(
                f"{where}.limits.max{unit} ({most}) is above {where}.quota.{res} ({total}): "
                f"no container that large fits the namespace; lower max{unit} or raise the quota"
            )


# Tenant-stack settings that moved to the platform stack's tenants[] (the platform owns the
# boundary): config key -> where it lives now.
MOVED_TO_PLATFORM = {
    "createNamespace": "the platform stack creates the namespace (tenants[].namespace)",
    "quota": "tenants[].quota of the platform stack",
    "limits": "tenants[].limits of the platform stack",
}


class TenantSettings(_Model):
    """A tenant stack (role: tenant): one team's templates, pools, sandboxes and client
    identities, in the namespace its platform stack declared for it under ``tenants``."""

    # The platform stack, fully qualified: <org>/agent-sandbox-platform/<stack>.
    platform_stack: Annotated[str, Field(pattern=STACK_NAME)]
    # Must be one of the platform stack's tenants[].namespace.
    namespace: Dns1123Name
    # Subjects bound to the namespace's sandbox-client Role (the SDK's rights): groups as
    # Kubernetes sees them (on GKE, Google Groups for RBAC), and service accounts created in
    # the namespace for in-cluster clients.
    client_groups: list[Annotated[str, Field(min_length=1)]] = []
    client_service_accounts: list[Dns1123Name] = []
    # Where in-cluster SDK clients run: the namespace the platform stack declared for this
    # tenant (tenants[].clientNamespace), outside the sandbox namespaces (admission forces every
    # pod there into the sandbox runtime). The client service accounts and a copy of the router
    # token Secret are created there (docs/clients.md).
    client_namespace: Dns1123Name | None = None

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        if isinstance(data, dict):
            moved = [k for k in MOVED_TO_PLATFORM if k in data or to_snake(k) in data]
            if moved:
                raise ValueError(
                    f"tenant.{', tenant.'.join(moved)}: the platform stack owns a tenant's "
                    "namespace, Pod Security level, quota and limits now ("
                    + "; ".join(f"{k}: {MOVED_TO_PLATFORM[k]}" for k in moved)
                    + "); remove them here and ask the platform team to declare this tenant "
                    'under tenants (README "Tenants")'
                )
        return data

    @model_validator(mode="after")
    def _tenant(self) -> TenantSettings:
        _check_namespace(self.namespace, "tenant.namespace")
        parts = self.platform_stack.split("/")
        if len(parts) == 3 and parts[1] != c.PROJECT:
            raise ValueError(
                f"tenant.platformStack '{self.platform_stack}' names project '{parts[1]}', but a "
                f"tenant reads the outputs of an {c.PROJECT} stack; write "
                f"{parts[0]}/{c.PROJECT}/{parts[2]}"
            )
        for what, names in (
            ("clientGroups", self.client_groups),
            ("clientServiceAccounts", self.client_service_accounts),
        ):
            if len(set(names)) != len(names):
                raise ValueError(f"tenant.{what} lists a name twice; list each once")
        self._client_namespace()
        return self

    def _client_namespace(self) -> None:
        ns = self.client_namespace
        if self.client_service_accounts and ns is None:
            raise ValueError(
                "tenant.clientServiceAccounts needs tenant.clientNamespace: client pods cannot "
                f"run in {self.namespace}, where admission forces every pod into the sandbox "
                "runtime; set it to the client namespace the platform stack declared for this "
                "tenant (tenants[].clientNamespace)"
            )
        if ns is not None and (ns == self.namespace or ns in c.RESERVED_NAMESPACES):
            raise ValueError(
                f"tenant.clientNamespace '{ns}' is the sandbox namespace or a system namespace; "
                "name the namespace where your agents run (e.g. team-a-agents)"
            )
