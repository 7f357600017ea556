"""The stack's whole UI: one pydantic model tree, validated once, before any resource exists.

Stack config keys live in the project namespace (``agent-sandbox-platform:<section>``), written in
camelCase. ``load_settings`` reads every key of that namespace, so a typo'd section is an error
too. Cross-field and cross-layer checks live in model validators whose messages name the setting
and say how to fix it.

This module holds the root model and the loading; each section's models live in their own
module of this package (cluster, isolation, control_plane, router, sandboxes, tenancy).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any, Literal

import pulumi
from pydantic import ValidationError, model_validator
from pydantic.alias_generators import to_camel

from .. import constants as c
from . import errors, gcp_rules
from .base import NS, Dns1123Name, Quantity, ResourceSettings, SettingsError, _Model
from .cluster import ClusterSettings, KubeconfigSettings, NodePoolSettings, SystemPoolSettings
from .control_plane import ControlPlaneSettings
from .isolation import CapacitySettings, IsolationSettings, KataSettings
from .reference import python_spelled_keys
from .router import GatewaySettings, HttpsSettings, RouterSettings
from .sandboxes import (
    PortSettings,
    ProbeSettings,
    SandboxesSettings,
    SandboxSettings,
    SecurityOverrides,
    StorageSettings,
    TemplateSettings,
    WarmPoolSettings,
    WorkloadSettings,
)
from .tenancy import (
    AdmissionSettings,
    TenantBoundarySettings,
    TenantLimitSettings,
    TenantQuotaSettings,
    TenantSettings,
)

# Sections a tenant stack reads from its platform stack instead (field name -> config key).
PLATFORM_ONLY_SECTIONS = {
    "node_pool": "nodePool",
    "isolation": "isolation",
    "control_plane": "controlPlane",
    "router": "router",
    "gateway": "gateway",
    "admission": "admission",
    "tenants": "tenants",
}


class PlatformSettings(_Model):
    role: Literal["all-in-one", "platform", "tenant"] = "all-in-one"
    # A production stack refuses mutable image tags.
    production: bool = False
    cluster: ClusterSettings
    node_pool: NodePoolSettings = NodePoolSettings()
    isolation: IsolationSettings = IsolationSettings()
    control_plane: ControlPlaneSettings = ControlPlaneSettings()
    router: RouterSettings = RouterSettings()
    gateway: GatewaySettings = GatewaySettings()
    sandboxes: SandboxesSettings = SandboxesSettings()
    admission: AdmissionSettings = AdmissionSettings()
    # Platform and all-in-one stacks: the tenants' boundaries, created here (README "Tenants").
    tenants: list[TenantBoundarySettings] = []
    tenant: TenantSettings | None = None

    # --- roles: platform | all-in-one | tenant (README "Roles") ------------------------------
    @model_validator(mode="before")
    @classmethod
    def _tenant_sections(cls, data: Any) -> Any:
        """A tenant stack sets only role, production, tenant, sandboxes and (to use its own
        kubeconfig context) cluster; the rest is the platform stack's, read through its outputs."""
        if not isinstance(data, Mapping) or data.get("role") != "tenant":
            return data
        given = [a for n, a in PLATFORM_ONLY_SECTIONS.items() if n in data or a in data]
        if given:
            raise ValueError(
                f"{', '.join(given)}: platform settings cannot be set in a tenant stack (role: "
                "tenant); the tenant uses what its platform stack (tenant.platformStack) "
                "installed — remove them here, or ask the platform team to change them there"
            )
        return {"cluster": {"mode": "platform-stack"}, **data}

    @model_validator(mode="after")
    def _role(self) -> PlatformSettings:
        mode = self.cluster.mode
        if self.role != "tenant":
            if self.tenant is not None:
                raise ValueError(
                    f"tenant is only read by tenant stacks, and this stack's role is "
                    f"'{self.role}'; remove the tenant section or set role: tenant"
                )
            if mode == "platform-stack":
                raise ValueError(
                    "cluster.mode 'platform-stack' is for tenant stacks; a platform or "
                    "all-in-one stack uses create, existing or kubeconfig"
                )
            if self.role == "platform" and not self.admission.enabled:
                raise ValueError(
                    "role is 'platform' but admission.enabled is false: tenants' SDK clients "
                    "create sandboxes at run time, which only the admission backstop checks; "
                    "set admission.enabled: true (or role: all-in-one for a single-team stack)"
                )
            return self
        if mode in ("create", "existing"):
            raise ValueError(
                f"cluster.mode '{mode}': a tenant stack never creates or adopts a GKE cluster; "
                "remove the cluster section (the tenant uses the platform stack's kubeconfig "
                "output) or set cluster.mode: kubeconfig with a context of your own"
            )
        owned = {"namespace": "namespace", "create_namespace": "createNamespace"}
        explicit = self.sandboxes.model_fields_set
        given = [f"sandboxes.{alias}" for n, alias in owned.items() if n in explicit]
        if given:
            raise ValueError(
                f"{', '.join(given)} cannot be set in a tenant stack: its sandboxes live in "
                "tenant.namespace, which the platform stack creates (tenants[]); remove them"
            )
        return self

    @model_validator(mode="after")
    def _sections_agree(self) -> PlatformSettings:
        """Sections that name the same namespace for different jobs contradict each other."""
        if self.role == "tenant" or self.isolation.runtime != "kata":
            return self
        kata_ns = self.isolation.kata.namespace
        clash = {
            c.AGENT_SANDBOX_NAMESPACE: "the control plane's and the router's namespace: the "
            "stack would declare that Namespace twice, once labelled privileged for kata-deploy",
            self.sandboxes.namespace: "sandboxes.namespace: sandboxes would share a privileged "
            "namespace with kata-deploy's host-mounting pods",
            "default": "a namespace that always exists and would be declared again, labelled "
            "privileged",
            "kube-public": "a namespace that always exists and would be declared again",
            "kube-node-lease": "a namespace that always exists and would be declared again",
        }
        if self.admission.enabled:
            for ns in self.admission.sandbox_namespaces:
                clash.setdefault(
                    ns,
                    "listed in admission.sandboxNamespaces: the admission backstop would refuse "
                    "kata-deploy's pods, which run without a sandbox runtime class",
                )
        why = clash.get(kata_ns)
        if why is not None:
            raise ValueError(
                f"isolation.kata.namespace '{kata_ns}' is {why}; give kata-deploy a namespace "
                f"of its own (e.g. kata-system) or {c.KATA_DEPLOY_NAMESPACE}"
            )
        return self

    @model_validator(mode="after")
    def _zones_in_region(self) -> PlatformSettings:
        # node_locations of a node pool lie in its cluster's region (gcp_rules).
        if self.cluster.is_gke and self.role != "tenant":
            gcp_rules.zones(self.node_pool.zones, self.cluster.location)
        return self

    @property
    def sandbox_namespaces(self) -> tuple[str, ...]:
        """Where sandbox kinds may exist: the sandboxes namespace, every tenant's, and the
        admission.sandboxNamespaces this stack does not create."""
        names = [
            self.sandboxes.namespace,
            *(t.namespace for t in self.tenants),
            *self.admission.sandbox_namespaces,
        ]
        return tuple(dict.fromkeys(names))

    @property
    def pod_security_levels(self) -> dict[str, str]:
        """Namespaces this stack creates -> the Pod Security level it enforces there."""
        levels: dict[str, str] = {t.namespace: t.pod_security for t in self.tenants}
        # Tenants' client namespaces: SDK clients need no privilege.
        for t in self.tenants:
            if t.client_namespace:
                levels[t.client_namespace] = "restricted"
        if self.sandboxes.create_namespace:
            levels[self.sandboxes.namespace] = self.sandboxes.pod_security_level
        return levels

    @model_validator(mode="after")
    def _tenants(self) -> PlatformSettings:
        seen: set[str] = set()
        seen_clients: set[str] = set()
        installed = self.isolation.admitted_runtime_classes
        for i, t in enumerate(self.tenants):
            where = f"tenants[{i}]"
            if t.namespace in seen:
                raise ValueError(
                    f"{where}.namespace '{t.namespace}' is declared twice; one tenant per "
                    "namespace (the namespace is the trust boundary)"
                )
            seen.add(t.namespace)
            if t.namespace == self.sandboxes.namespace:
                raise ValueError(
                    f"{where}.namespace '{t.namespace}' is sandboxes.namespace, the platform's "
                    "own sandboxes; give the tenant a namespace of its own"
                )
            if t.namespace in self.admission.sandbox_namespaces:
                raise ValueError(
                    f"{where}.namespace '{t.namespace}' is also in admission.sandboxNamespaces; "
                    "a declared tenant is guarded already — remove it from "
                    "admission.sandboxNamespaces"
                )
            if t.client_namespace is not None and t.client_namespace in self.sandbox_namespaces:
                raise ValueError(
                    f"{where}.clientNamespace '{t.client_namespace}' is a sandbox namespace, "
                    "where admission forces every pod into the sandbox runtime; name a "
                    "namespace of the tenant's agents (e.g. team-a-agents)"
                )
            if t.client_namespace is not None and t.client_namespace in seen_clients:
                raise ValueError(
                    f"{where}.clientNamespace '{t.client_namespace}' is declared twice; each "
                    "tenant's clients get a namespace of their own (it holds the router token)"
                )
            if t.client_namespace is not None:
                seen_clients.add(t.client_namespace)
            unknown = [rc for rc in t.runtime_classes if rc not in installed]
            if unknown:
                raise ValueError(
                    f"{where}.runtimeClasses lists {', '.join(unknown)}, which this stack does "
                    f"not install (installed: {', '.join(installed)}); use those or leave it "
                    "empty for all of them"
                )
        return self

    def _check_gateway_clients(self) -> None:
        """What the gateway's load balancer needs of the router, and what SDK clients need of
        the gateway (docs/clients.md)."""
        keep_alive = self.router.keep_alive_timeout_seconds
        if keep_alive <= c.GCP_LB_BACKEND_KEEP_ALIVE_SECONDS:
            raise ValueError(
                f"router.keepAliveTimeoutSeconds {keep_alive} is not above the GCP load "
                f"balancer's fixed {c.GCP_LB_BACKEND_KEEP_ALIVE_SECONDS} s backend keep-alive: "
                "the router would close connections the load balancer still reuses "
                "(intermittent 502s); set it above 600 (default 620)"
            )
        if self.gateway.https is not None and self.gateway.hostname is None:
            raise ValueError(
                "gateway.https is set but gateway.hostname is not: clients connect to "
                "https://<hostname> and the certificate must name it; set gateway.hostname"
            )
        if self.gateway.class_name in c.GATEWAY_REGIONAL_CLASSES and not (
            self.router.trusted_proxy_cidrs
        ):
            raise ValueError(
                f"gateway.className '{self.gateway.class_name}' reaches the router from the "
                "region's proxy-only subnet, which the router's NetworkPolicy admits only when "
                "listed; set router.trustedProxyCidrs to that subnet's CIDR"
            )

    @model_validator(mode="after")
    def _cross_layer(self) -> PlatformSettings:
        iso, pool, cl = self.isolation, self.node_pool, self.cluster
        if cl.is_gke:
            spec = pool.machine
            if iso.runtime == "kata":
                if not spec.nested_virtualization:
                    raise ValueError(spec.why_not)
                if pool.image_type not in (None, "UBUNTU_CONTAINERD"):
                    raise ValueError(
                        f"nodePool.imageType '{pool.image_type}' cannot run Kata: kata-deploy "
                        "writes /opt/kata, which is read-only on COS; set nodePool.imageType: "
                        "UBUNTU_CONTAINERD (or remove it)"
                    )
                if pool.disk_size_gb < 150:
                    raise ValueError(
                        f"nodePool.diskSizeGb {pool.disk_size_gb} is too small for Kata: every "
                        "sandbox pulls its image into the node and boots a guest; set "
                        "nodePool.diskSizeGb to 150 or more (200 recommended)"
                    )
                if spec.series == "n1" and pool.min_cpu_platform in (
                    "Intel Sandy Bridge",
                    "Intel Ivy Bridge",
                ):
                    raise ValueError(
                        f"nodePool.minCpuPlatform '{pool.min_cpu_platform}' is too old for nested "
                        "virtualization on N1; use 'Intel Haswell' or later"
                    )
            elif pool.image_type not in (None, "COS_CONTAINERD"):
                raise ValueError(
                    f"nodePool.imageType '{pool.image_type}' cannot run GKE Sandbox (gVisor), "
                    "which needs COS_CONTAINERD; set nodePool.imageType: COS_CONTAINERD (or "
                    "remove it)"
                )
        elif iso.runtime == "gvisor":
            raise ValueError(
                "isolation.runtime 'gvisor' needs GKE Sandbox node pools; with cluster.mode "
                "'kubeconfig' use isolation.runtime: kata"
            )
        if self.gateway.enabled and self.role != "tenant":
            if not cl.is_gke:
                raise ValueError(
                    "gateway.enabled is true but the gateway classes are GKE's and cluster.mode "
                    "is 'kubeconfig'; set gateway.enabled: false and reach the router with "
                    f"kubectl port-forward svc/{c.ROUTER_SERVICE_NAME}"
                )
            if not self.router.enabled:
                raise ValueError(
                    "gateway.enabled is true but router.enabled is false; the gateway has nothing "
                    "to route to — enable the router or disable the gateway"
                )
            timeout = self.gateway.timeout_sec
            if timeout is not None and timeout < self.router.proxy_timeout_seconds:
                raise ValueError(
                    f"gateway.timeoutSec {timeout} is below router.proxyTimeoutSeconds "
                    f"{self.router.proxy_timeout_seconds}: the load balancer would cut requests "
                    "the router still allows; raise gateway.timeoutSec (or remove it to follow "
                    "the router)"
                )
            self._check_gateway_clients()
        clients = [n for n in self.router.client_namespaces if n in self.sandbox_namespaces]
        if self.role != "tenant" and clients:
            raise ValueError(
                f"router.clientNamespaces lists {', '.join(clients)}, a sandbox namespace: "
                "admission forces every pod there into the sandbox runtime and sandbox egress "
                "cannot reach the router; run SDK clients in a namespace of their own and list "
                "that one"
            )
        if cl.managed_agent_sandbox_addon and self.control_plane.enabled:
            raise ValueError(
                "cluster.managedAgentSandboxAddon and controlPlane.enabled are both true: GKE's "
                "managed Agent Sandbox add-on installs the same CRDs and they would collide; "
                "disable one of them"
            )
        if self.production and self.router.enabled and not self.router.image_pinned:
            raise ValueError(
                f"router.image '{self.router.image}' is a mutable tag and this stack is marked "
                "production; pin it by digest (router.image: <repo>@sha256:<digest>)"
            )
        if self.role == "tenant" and self.tenant is None:
            raise ValueError(
                "role is 'tenant' but the tenant section is missing; set tenant.platformStack "
                "and tenant.namespace"
            )
        self._check_sandbox_workloads()
        return self

    def _check_sandbox_workloads(self) -> None:
        """Every template and sandbox runs on a RuntimeClass this stack installs, and a
        production stack runs only images pinned by digest."""
        iso = self.isolation
        installed = iso.admitted_runtime_classes
        for key, i, item in self.sandboxes.workloads:
            rc = item.runtime_class
            # A tenant's classes are the platform's: checked against its stack outputs
            # (components/composition/tenant.py), not against this stack's isolation section.
            if self.role != "tenant" and rc is not None and rc not in installed:
                raise ValueError(
                    f"sandboxes.{key}[{i}].runtimeClass: '{item.name}' asks for '{rc}', which "
                    f"this stack does not install (isolation.runtime: {iso.runtime}, installed: "
                    f"{', '.join(installed)}); use one of those, add the shim to "
                    "isolation.kata.shims, or omit runtimeClass for the default "
                    f"({iso.effective_default_runtime_class})"
                )
            if self.production and "@sha256:" not in item.image:
                raise ValueError(
                    f"sandboxes.{key}[{i}].image '{item.image}' is a mutable tag and this stack "
                    "is marked production; pin it by digest (<repo>@sha256:<digest>)"
                )


# ---------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------
SECTIONS = tuple((f.alias or to_camel(name)) for name, f in PlatformSettings.model_fields.items())


def format_validation_error(err: ValidationError) -> str:
    return errors.format_validation_error(err, PlatformSettings)


def parse_settings(raw: Mapping[str, Any]) -> PlatformSettings:
    """Validate a mapping of section -> value (camelCase, as in Pulumi.<stack>.yaml)."""
    python_spelled = python_spelled_keys(PlatformSettings, dict(raw))
    if python_spelled:
        raise SettingsError(
            "invalid stack settings:\n"
            + "\n".join(
                f"  - {NS}:{path}: stack files spell settings in camelCase; write {camel}"
                for path, camel in python_spelled
            )
        )
    try:
        return PlatformSettings.model_validate(dict(raw))
    except ValidationError as err:
        raise SettingsError(format_validation_error(err)) from None


# Config namespaces a stack may use: Pulumi's own, the providers this program uses, and the
# project's. Anything else is a typo (agent-sandbox-platfrom:...) that would otherwise be
# ignored silently while the stack deploys its defaults.
CONFIG_NAMESPACES = ("pulumi", "kubernetes", "gcp", "random", NS)


def config_sections(config: Mapping[str, Any], also: tuple[str, ...] = ()) -> dict[str, Any]:
    """Pick this project's keys out of a flat ``ns:key -> value`` config map; a key in any
    namespace the program does not know (CONFIG_NAMESPACES, plus ``also``: the running project's
    own when the components are used as a library), or in none, is refused with the fix."""
    known = (*CONFIG_NAMESPACES, *(ns for ns in also if ns not in CONFIG_NAMESPACES))
    out: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in config.items():
        ns, colon, name = key.partition(":")
        if not colon:
            hint = f"did you mean '{NS}:{key}'? " if key in SECTIONS else ""
            problems.append(
                f"  - {key}: a config key without a namespace; {hint}write it as "
                f"{NS}:<setting> (or <provider>:<key> for {', '.join(CONFIG_NAMESPACES[:-1])})"
            )
            continue
        if ns not in known:
            hint = errors.did_you_mean(ns, list(known))
            problems.append(
                f"  - {key}: unknown config namespace '{ns}'; {hint}this program reads only "
                f"{', '.join(known)} — fix the namespace or remove the key"
            )
            continue
        if ns != NS:
            continue
        if isinstance(value, str):
            # Structured config arrives JSON-encoded; plain strings stay strings.
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        out[name] = value
    if problems:
        raise SettingsError("invalid stack config:\n" + "\n".join(problems))
    return out


def load_settings() -> PlatformSettings:
    """Read every ``agent-sandbox-platform:*`` key of the running stack, once."""
    from pulumi.runtime import config as runtime_config

    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return parse_settings(config_sections(merged, also=(pulumi.get_project(),)))


__all__ = [
    "CONFIG_NAMESPACES",
    "NS",
    "PLATFORM_ONLY_SECTIONS",
    "SECTIONS",
    "AdmissionSettings",
    "CapacitySettings",
    "ClusterSettings",
    "ControlPlaneSettings",
    "Dns1123Name",
    "GatewaySettings",
    "HttpsSettings",
    "IsolationSettings",
    "KataSettings",
    "KubeconfigSettings",
    "NodePoolSettings",
    "PlatformSettings",
    "PortSettings",
    "ProbeSettings",
    "Quantity",
    "ResourceSettings",
    "RouterSettings",
    "SandboxSettings",
    "SandboxesSettings",
    "SecurityOverrides",
    "SettingsError",
    "StorageSettings",
    "SystemPoolSettings",
    "TemplateSettings",
    "TenantBoundarySettings",
    "TenantLimitSettings",
    "TenantQuotaSettings",
    "TenantSettings",
    "WarmPoolSettings",
    "WorkloadSettings",
    "config_sections",
    "format_validation_error",
    "load_settings",
    "parse_settings",
]
