"""The role switch (``role`` setting): which component a stack builds.

- ``platform``: the cluster, sandbox pool, isolation runtime, control plane, router, gateway,
  admission backstop and each declared tenant's boundary (``tenants``: namespace, Pod Security,
  quota, limits, deployer Role), plus optional shared sandboxes; tenant stacks attach to it.
  Requires the admission backstop (tenants' run-time sandboxes are checked only there).
- ``all-in-one``: the same resources, for one team that declares its sandboxes here too; no
  backstop requirement.
- ``tenant``: one team's client RBAC and sandboxes, in the namespace its platform stack created
  for it, read through ``tenant.platformStack`` (``platform_contract.py``); namespaced rights
  only.

Platform and all-in-one stacks export the same outputs, the platform contract included.
"""

from __future__ import annotations

from typing import Any, Protocol

import pulumi

from ..settings import PlatformSettings
from .platform import SandboxPlatform, SandboxPlatformArgs
from .platform_contract import read_platform_contract
from .tenant import Tenant, TenantArgs


class Stack(Protocol):
    """What ``__main__`` needs from the component of a role: its stack outputs."""

    @property
    def exports(self) -> dict[str, Any]: ...


def build(
    settings: PlatformSettings,
    name: str = "agent-sandbox",
    opts: pulumi.ResourceOptions | None = None,
) -> Stack:
    """The component for ``settings.role``; its ``exports`` are the stack outputs."""
    if settings.role == "tenant":
        assert settings.tenant is not None  # settings require it for role: tenant
        # A read of the platform stack's outputs, before any tenant resource registers.
        contract = read_platform_contract(
            f"{name}-platform-stack", settings.tenant.platform_stack, opts
        )
        return Tenant(name, TenantArgs(settings, contract), opts)
    return SandboxPlatform(name, SandboxPlatformArgs(settings), opts)
