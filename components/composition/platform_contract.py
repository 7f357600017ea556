"""The platform -> tenant contract: the stack outputs a platform (or all-in-one) stack exports for
tenant stacks, and how a tenant stack reads them through a ``pulumi.StackReference``.

Most contract outputs are exported by the layers themselves (``router_exports``,
``gateway_exports``, ...); ``contract_exports`` adds the rest. ``OUTPUTS`` is the contract: the
README's "Platform contract" table lists it, and a test proves the platform exports every name.

Policy-relevant values (runtime class names, namespaces) are read as *plain* values before any
tenant resource registers (DESIGN §3: never derived from Outputs); secrets (kubeconfig, router
token) stay Pulumi secrets end to end.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime.sync_await import _sync_await

from ..settings import PlatformSettings, SettingsError, TenantBoundarySettings

# Bumped when an output changes meaning or a required one is added.
# 2: the platform declares and creates each tenant's boundary (tenants).
# 3: blockedEgress, the addresses a tenant's sandbox egress rules must except.
CONTRACT_VERSION = 3


@dataclass(frozen=True)
class ContractOutput:
    name: str
    meaning: str
    # A required output is always exported. An optional one is missing (Pulumi drops outputs
    # whose value is None) when the platform does not have the thing it describes.
    required: bool = True
    secret: bool = False


OUTPUTS: tuple[ContractOutput, ...] = (
    ContractOutput("contractVersion", f"version of this contract ({CONTRACT_VERSION})"),
    ContractOutput("platformRole", "the platform stack's role: platform or all-in-one"),
    ContractOutput(
        "clusterName",
        "cluster name (or kubeconfig context); part of the tenant's provider cluster_identifier",
    ),
    ContractOutput(
        "kubeconfig",
        "kubeconfig of a GKE cluster, without credentials (gke-gcloud-auth-plugin: each tenant "
        "signs in as itself); missing on a kubeconfig cluster",
        required=False,
        secret=True,
    ),
    ContractOutput("runtimeClasses", "RuntimeClasses the platform installs"),
    ContractOutput("defaultRuntimeClass", "class of a sandbox that names none"),
    ContractOutput(
        "admissionNamespaces",
        "namespaces the admission backstop guards ([] without one); a tenant's belongs in it",
    ),
    ContractOutput(
        "tenants",
        "the tenants the platform declares and creates: namespace, podSecurity, quota, limits, "
        "runtimeClasses ([] = all); a tenant stack deploys only into its own",
    ),
    ContractOutput(
        "blockedEgress",
        "CIDRs beyond the private ranges that sandbox egress must never reach (the cluster's "
        "public endpoint; [] when it has none): every egress rule a tenant adds excepts them",
    ),
    ContractOutput(
        "sandboxNamespace",
        "the platform's own (shared) sandboxes namespace, which no tenant may take",
        required=False,
    ),
    ContractOutput("capacity", "the sandbox pool's capacity plan (GKE only)", required=False),
    ContractOutput("routerServiceName", "router Service (sandbox-router-svc)", required=False),
    ContractOutput("routerNamespace", "router namespace (agent-sandbox-system)", required=False),
    ContractOutput("routerPort", "router port (8080)", required=False),
    ContractOutput("routerUrl", "in-cluster router URL (the SDK's api_url)", required=False),
    ContractOutput(
        "routerAuthToken", "the router's ROUTER_AUTH_TOKEN", required=False, secret=True
    ),
    ContractOutput(
        "routerClientNamespaces",
        "namespaces whose pods the router's NetworkPolicy admits (router.clientNamespaces)",
        required=False,
    ),
    ContractOutput("gatewayName", "Gateway in front of the router", required=False),
    ContractOutput("gatewayNamespace", "namespace of that Gateway", required=False),
    ContractOutput(
        "gatewayUrl",
        "where SDK clients outside the cluster send requests (direct mode's api_url)",
        required=False,
    ),
)
NAMES = tuple(o.name for o in OUTPUTS)
REQUIRED = tuple(o.name for o in OUTPUTS if o.required)


def contract_exports(settings: PlatformSettings) -> dict[str, Any]:
    """The contract outputs no layer exports itself."""
    admission = settings.admission
    return {
        "contractVersion": CONTRACT_VERSION,
        "platformRole": settings.role,
        "admissionNamespaces": list(settings.sandbox_namespaces) if admission.enabled else [],
        "tenants": [
            t.model_dump(by_alias=True, include=TENANT_CONTRACT_FIELDS) for t in settings.tenants
        ],
    }


# What a tenant stack learns of its boundary (not who deploys it).
TENANT_CONTRACT_FIELDS = {
    "namespace",
    "pod_security",
    "quota",
    "limits",
    "runtime_classes",
    "client_namespace",
}


@dataclass(frozen=True)
class RouterCoordinates:
    service_name: str
    namespace: str
    port: int
    url: str | None


@dataclass(frozen=True)
class GatewayCoordinates:
    name: str
    namespace: str
    url: str | None = None


@dataclass(frozen=True)
class PlatformContract:
    """What a tenant stack knows about its platform: plain values, plus secrets as Outputs."""

    stack: str
    version: int
    role: str
    cluster_name: str
    kubeconfig: pulumi.Output[str] | None
    runtime_classes: tuple[str, ...]
    default_runtime_class: str
    admission_namespaces: tuple[str, ...]
    tenants: Mapping[str, TenantBoundarySettings] = field(default_factory=dict)
    sandbox_namespace: str | None = None
    capacity: Mapping[str, Any] | None = None
    router: RouterCoordinates | None = None
    router_auth_token: pulumi.Output[str] | None = None
    gateway: GatewayCoordinates | None = None
    router_client_namespaces: tuple[str, ...] = ()
    blocked_egress: tuple[str, ...] = ()


def _fail(stack: str, problem: str) -> SettingsError:
    return SettingsError(
        f"invalid stack settings:\n  - tenant.platformStack: the platform stack '{stack}' "
        f"{problem}; run `pulumi up` on the platform stack with this program's version (or fix "
        "tenant.platformStack)"
    )


def parse_contract(
    stack: str, outputs: Mapping[str, Any], secret: Callable[[str], pulumi.Output[Any]]
) -> PlatformContract:
    """Check and type the platform's outputs. ``secret(name)`` gives a secret output as an
    Output, so that its value is never handled in plain text here."""
    missing = [n for n in REQUIRED if outputs.get(n) is None]
    if missing:
        raise _fail(stack, f"has no output {', '.join(missing)}")
    version = outputs["contractVersion"]
    if not isinstance(version, (int, float)) or int(version) != CONTRACT_VERSION:
        raise _fail(
            stack, f"exports contractVersion {version}, but this program reads {CONTRACT_VERSION}"
        )
    classes = outputs["runtimeClasses"]
    default = outputs["defaultRuntimeClass"]
    admission = outputs["admissionNamespaces"]
    if (
        not isinstance(classes, (list, tuple))
        or not classes
        or not all(isinstance(x, str) for x in classes)
    ):
        raise _fail(stack, f"exports runtimeClasses {classes!r}, not a list of class names")
    if default not in classes:
        raise _fail(stack, f"exports defaultRuntimeClass {default!r}, not one of runtimeClasses")
    if not isinstance(admission, (list, tuple)):
        raise _fail(stack, f"exports admissionNamespaces {admission!r}, not a list")
    blocked = outputs["blockedEgress"]
    if not isinstance(blocked, (list, tuple)) or not all(_is_cidr(x) for x in blocked):
        raise _fail(stack, f"exports blockedEgress {blocked!r}, not a list of CIDRs")

    tenants: dict[str, TenantBoundarySettings] = {}
    raw_tenants = outputs["tenants"]
    if not isinstance(raw_tenants, (list, tuple)):
        raise _fail(stack, f"exports tenants {raw_tenants!r}, not a list")
    for raw in raw_tenants:
        try:
            t = TenantBoundarySettings.model_validate(dict(raw))
        except (ValueError, TypeError) as err:
            raise _fail(stack, f"exports a tenant this program cannot read ({err})") from None
        tenants[t.namespace] = t

    def present(name: str) -> bool:
        return outputs.get(name) is not None

    router = None
    if all(present(n) for n in ("routerServiceName", "routerNamespace", "routerPort")):
        router = RouterCoordinates(
            service_name=str(outputs["routerServiceName"]),
            namespace=str(outputs["routerNamespace"]),
            port=int(outputs["routerPort"]),
            url=outputs.get("routerUrl"),
        )
    gateway = None
    if present("gatewayName") and present("gatewayNamespace"):
        gateway = GatewayCoordinates(
            str(outputs["gatewayName"]),
            str(outputs["gatewayNamespace"]),
            outputs.get("gatewayUrl"),
        )
    return PlatformContract(
        stack=stack,
        version=int(version),
        role=str(outputs["platformRole"]),
        cluster_name=str(outputs["clusterName"]),
        kubeconfig=pulumi.Output.secret(secret("kubeconfig")) if present("kubeconfig") else None,
        runtime_classes=tuple(classes),
        default_runtime_class=str(default),
        admission_namespaces=tuple(str(n) for n in admission),
        tenants=tenants,
        sandbox_namespace=outputs.get("sandboxNamespace"),
        capacity=outputs.get("capacity"),
        router=router,
        router_auth_token=(
            pulumi.Output.secret(secret("routerAuthToken")) if present("routerAuthToken") else None
        ),
        gateway=gateway,
        router_client_namespaces=tuple(
            str(n) for n in outputs.get("routerClientNamespaces") or ()
        ),
        blocked_egress=tuple(blocked),
    )


def _is_cidr(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        ipaddress.ip_network(value)
    except ValueError:
        return False
    return True


def read_platform_contract(
    name: str, stack: str, opts: pulumi.ResourceOptions | None = None
) -> PlatformContract:
    """Reference ``stack`` and read its contract synchronously: the StackReference is a read
    (it registers nothing in the cluster); everything the tenant registers comes after."""
    ref = pulumi.StackReference(name, stack_name=stack, opts=opts)

    async def plain_outputs() -> dict[str, Any] | None:
        if not await ref.outputs.is_known():
            return None
        return dict(await ref.outputs.future() or {})

    # Pulumi's own synchronous invokes wait like this: the program pauses until the read is done.
    outputs = _sync_await(plain_outputs())
    if outputs is None:
        raise _fail(stack, "has outputs that are not known yet")
    return parse_contract(stack, outputs, ref.require_output)
