"""The admission backstop's reach and a tenant stack's own settings."""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated

from pydantic import (
    Field,
    model_validator,
)

from .. import constants as c
from .base import Dns1123Name, Quantity, _Model


class AdmissionSettings(_Model):
    # Installs the ValidatingAdmissionPolicies (platform and all-in-one stacks only).
    enabled: bool = True
    # Namespaces where sandboxes (and their pods) must carry an installed runtime class. The
    # sandboxes namespace is always included; add tenant namespaces here.
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


def _quantity(value: str) -> Fraction:
    # capacity.py parses quantities and imports this module: import it when first needed.
    from ..capacity import quantity

    return quantity(value)


class TenantQuotaSettings(_Model):
    """The tenant namespace's ResourceQuota. Kata's RuntimeClass overhead (podFixed) counts
    against cpu and memory, on top of the containers' own requests and limits."""

    cpu: Quantity = "16"  # requests.cpu and limits.cpu
    memory: Quantity = "64Gi"  # requests.memory and limits.memory
    # Bounds warm-pool replicas + standalone sandboxes + sandboxes claimed at run time.
    pods: int = Field(20, ge=1)
    storage: Quantity = "200Gi"  # requests.storage: every PVC of every sandbox


class TenantLimitSettings(_Model):
    """The tenant namespace's LimitRange: defaults for containers that declare none (pods
    created at run time) and the largest container the namespace admits."""

    default_cpu: Quantity = "1"
    default_memory: Quantity = "2Gi"
    default_request_cpu: Quantity = "250m"
    default_request_memory: Quantity = "512Mi"
    max_cpu: Quantity = "4"
    max_memory: Quantity = "8Gi"


# Pulumi stack names: [<org>/[<project>/]]<stack>.
STACK_NAME = r"^([A-Za-z0-9_.-]+/){0,2}[A-Za-z0-9_.-]+$"


class TenantSettings(_Model):
    """A tenant stack (role: tenant): one team's namespace on a platform stack's cluster."""

    # The platform stack, fully qualified: <org>/agent-sandbox-platform/<stack>.
    platform_stack: Annotated[str, Field(pattern=STACK_NAME)]
    namespace: Dns1123Name
    # false: adopt an existing namespace (the platform team made it); no PSA labels or
    # baseline NetworkPolicy then, as for sandboxes.createNamespace.
    create_namespace: bool = True
    quota: TenantQuotaSettings = TenantQuotaSettings()
    limits: TenantLimitSettings = TenantLimitSettings()
    # Subjects bound to the namespace's sandbox-client Role (the SDK's rights): groups as
    # Kubernetes sees them (on GKE, Google Groups for RBAC), and service accounts created in
    # the namespace for in-cluster clients.
    client_groups: list[Annotated[str, Field(min_length=1)]] = []
    client_service_accounts: list[Dns1123Name] = []
    # Where in-cluster SDK clients run (an existing namespace, outside the sandbox namespaces:
    # admission forces every pod there into the sandbox runtime). The client service accounts
    # and a copy of the router token Secret are created there (docs/clients.md).
    client_namespace: Dns1123Name | None = None

    @model_validator(mode="after")
    def _tenant(self) -> TenantSettings:
        if self.namespace in (*c.RESERVED_NAMESPACES, "default"):
            raise ValueError(
                f"tenant.namespace '{self.namespace}' is a system namespace; a tenant gets a "
                "namespace of its own (e.g. team-a)"
            )
        lim, quota = self.limits, self.quota
        for res, unit in (("cpu", "Cpu"), ("memory", "Memory")):
            request = getattr(lim, f"default_request_{res}")
            default, most = getattr(lim, f"default_{res}"), getattr(lim, f"max_{res}")
            total = getattr(quota, res)
            if not _quantity(request) <= _quantity(default) <= _quantity(most):
                raise ValueError(
                    f"tenant.limits: defaultRequest{unit} ({request}) <= default{unit} "
                    f"({default}) <= max{unit} ({most}) must hold; adjust them"
                )
            if _quantity(most) > _quantity(total):
                raise ValueError(
                    f"tenant.limits.max{unit} ({most}) is above tenant.quota.{res} ({total}): "
                    f"no container that large fits the namespace; lower max{unit} or raise "
                    "the quota"
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
                "runtime; name the (existing) namespace where your agents run"
            )
        if ns is not None and (ns == self.namespace or ns in c.RESERVED_NAMESPACES):
            raise ValueError(
                f"tenant.clientNamespace '{ns}' is the sandbox namespace or a system namespace; "
                "name the namespace where your agents run (e.g. team-a-agents)"
            )
