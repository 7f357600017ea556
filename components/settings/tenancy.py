"""The admission backstop's reach and a tenant stack's own settings."""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated

from pydantic import (
    Field,
    model_validator,
)

from .. import constants as c
from .base import ByteQuantity, CpuQuantity, Dns1123Name, _Model
from .reference import describe_pattern


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
        return self
