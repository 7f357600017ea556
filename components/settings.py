"""The stack's whole UI: one pydantic model tree, validated once, before any resource exists.

Stack config keys live in the project namespace (``agent-sandbox-platform:<section>``), written in
camelCase. ``load_settings`` reads every key of that namespace, so a typo'd section is an error
too. Cross-field and cross-layer checks live in model validators whose messages name the setting
and say how to fix it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import pulumi
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from . import constants as c
from .machines import MachineSpec, machine_spec

NS = c.PROJECT


class SettingsError(pulumi.RunError):
    """A user mistake in stack config. Pulumi prints RunError without a traceback."""


def _key(path: str) -> str:
    return f"{NS}:{path}"


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        validate_default=True,
    )


DNS1123 = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
Dns1123Name = Annotated[str, Field(pattern=DNS1123, max_length=63)]
Quantity = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")]


# ---------------------------------------------------------------------------------------------
# cluster
# ---------------------------------------------------------------------------------------------
class SystemPoolSettings(_Model):
    """General-purpose pool for the controller and router (not for sandboxes)."""

    machine_type: str = "e2-standard-4"
    min_nodes: int = Field(1, ge=0)
    max_nodes: int = Field(3, ge=1)
    disk_size_gb: int = Field(100, ge=20)

    @model_validator(mode="after")
    def _bounds(self) -> SystemPoolSettings:
        if self.min_nodes > self.max_nodes:
            raise ValueError(
                f"cluster.systemPool.minNodes ({self.min_nodes}) is greater than maxNodes "
                f"({self.max_nodes}); lower minNodes or raise maxNodes"
            )
        return self


class KubeconfigSettings(_Model):
    """Adopt any cluster (minikube, kind, another cloud) through a kubeconfig context."""

    context: str = Field(..., min_length=1)
    path: str | None = None


class ClusterSettings(_Model):
    # create: a new GKE Standard cluster; existing: a GKE cluster by name/location (we add the
    # sandbox pool); kubeconfig: any cluster by context, no GCP resource at all.
    mode: Literal["create", "existing", "kubeconfig"] = "create"
    project: str | None = None
    location: str | None = None
    name: str = "agent-sandbox"
    autopilot: bool = False
    release_channel: Literal["RAPID", "REGULAR", "STABLE", "EXTENDED"] = "REGULAR"
    network: str = "default"
    subnetwork: str | None = None
    deletion_protection: bool = True
    system_pool: SystemPoolSettings = SystemPoolSettings()
    # GKE's managed agent-sandbox add-on installs its own CRDs (DESIGN §3 GKE).
    managed_agent_sandbox_addon: bool = False
    kubeconfig: KubeconfigSettings | None = None

    @property
    def is_gke(self) -> bool:
        return self.mode in ("create", "existing")

    @model_validator(mode="after")
    def _mode(self) -> ClusterSettings:
        if self.autopilot:
            raise ValueError(
                "cluster.autopilot is true, but GKE Autopilot allows neither nested virtualization "
                "nor the privileged kata-deploy DaemonSet; use a GKE Standard cluster "
                "(set cluster.autopilot: false)"
            )
        if self.is_gke:
            missing = [k for k in ("project", "location") if not getattr(self, k)]
            if missing:
                raise ValueError(
                    f"cluster.{' and cluster.'.join(missing)} must be set when cluster.mode is "
                    f"'{self.mode}' (GKE); e.g. project: my-gcp-project, location: us-central1 — "
                    "or use cluster.mode: kubeconfig for a non-GKE cluster"
                )
            if self.kubeconfig is not None:
                raise ValueError(
                    f"cluster.kubeconfig is only used with cluster.mode: kubeconfig, not "
                    f"'{self.mode}'; remove it or change the mode"
                )
        elif self.kubeconfig is None:
            raise ValueError(
                "cluster.mode is 'kubeconfig' but cluster.kubeconfig.context is not set; name the "
                "context explicitly (e.g. kubeconfig: {context: minikube}) so the platform never "
                "deploys to whatever context happens to be active"
            )
        return self


# ---------------------------------------------------------------------------------------------
# sandbox node pool
# ---------------------------------------------------------------------------------------------
class NodePoolSettings(_Model):
    """The dedicated, tainted pool sandboxes run on (GKE only)."""

    name: Dns1123Name = "sandbox-pool"
    machine_type: str = "n2-standard-8"
    # N1 needs Haswell or later for nested virtualization; None lets GKE choose (or we pin
    # Haswell for N1).
    min_cpu_platform: str | None = None
    threads_per_core: Literal[1, 2] = 2
    min_nodes: int = Field(1, ge=0)
    max_nodes: int = Field(3, ge=1)
    disk_size_gb: int = Field(200, ge=10)
    disk_type: Literal["pd-balanced", "pd-ssd", "pd-standard", "hyperdisk-balanced"] = "pd-balanced"
    # None: derived from isolation.runtime (UBUNTU_CONTAINERD for Kata, COS_CONTAINERD for gVisor).
    image_type: Literal["UBUNTU_CONTAINERD", "COS_CONTAINERD"] | None = None
    spot: bool = False
    zones: list[str] = []
    labels: dict[str, str] = {}
    # None: derived from the capacity plan (how many Kata pods really fit on one node).
    max_pods_per_node: int | None = Field(None, ge=8, le=256)
    # None: a dedicated least-privilege node service account is created.
    service_account: str | None = None

    @property
    def machine(self) -> MachineSpec:
        return machine_spec(self.machine_type)

    @model_validator(mode="after")
    def _checks(self) -> NodePoolSettings:
        if self.min_nodes > self.max_nodes:
            raise ValueError(
                f"nodePool.minNodes ({self.min_nodes}) is greater than nodePool.maxNodes "
                f"({self.max_nodes}); lower minNodes or raise maxNodes"
            )
        spec = self.machine  # raises a ValueError naming nodePool.machineType
        if spec.series in ("c4", "n4") and self.disk_type != "hyperdisk-balanced":
            raise ValueError(
                f"nodePool.diskType '{self.disk_type}' is not supported by {spec.series.upper()} "
                "machines; set nodePool.diskType: hyperdisk-balanced"
            )
        return self


# ---------------------------------------------------------------------------------------------
# isolation runtime
# ---------------------------------------------------------------------------------------------
class KataSettings(_Model):
    version: str = c.KATA_DEFAULT_VERSION
    # Registry mirror for air-gapped clusters: replaces quay.io/kata-containers/kata-deploy.
    image_repository: str = c.KATA_DEPLOY_IMAGE_REPOSITORY
    shims: list[str] = ["qemu", "clh"]
    namespace: Dns1123Name = "kube-system"
    debug: bool = False

    @model_validator(mode="after")
    def _shims(self) -> KataSettings:
        if not self.shims:
            raise ValueError(
                f"isolation.kata.shims is empty; list at least one of {', '.join(c.KATA_SHIMS)}"
            )
        unknown = [s for s in self.shims if s not in c.KATA_SHIMS]
        if unknown:
            raise ValueError(
                f"isolation.kata.shims has unknown shim(s) {', '.join(unknown)}; valid shims are "
                f"{', '.join(c.KATA_SHIMS)}"
            )
        if len(set(self.shims)) != len(self.shims):
            raise ValueError("isolation.kata.shims lists a shim twice; list each shim once")
        return self


class CapacitySettings(_Model):
    """Real per-sandbox cost on the node, far above RuntimeClass podFixed (DESIGN §3 Kata)."""

    # ~1.13 GiB host RSS per Kata pod, measured on GKE c4-standard-8.
    host_memory_per_sandbox_mib: int = Field(1157, ge=64)
    # Memory and CPU kept back for the kubelet, system daemons and kata-deploy itself.
    reserved_memory_mib: int = Field(2048, ge=0)
    reserved_cpu_millis: int = Field(500, ge=0)
    # CPU budget per sandbox: podFixed 250m plus a small agent request; with the memory figure
    # this gives ~21 per c4-standard-8, close to the ~20 measured there.
    cpu_per_sandbox_millis: int = Field(350, ge=50)
    # What to do when declared sandboxes + warm pools exceed the pool's maximum.
    on_overcommit: Literal["error", "warn"] = "error"


class IsolationSettings(_Model):
    runtime: Literal["kata", "gvisor"] = "kata"
    kata: KataSettings = KataSettings()
    # None: the first installed class (kata-<first shim>, or gvisor).
    default_runtime_class: str | None = None
    capacity: CapacitySettings = CapacitySettings()

    @property
    def runtime_classes(self) -> tuple[str, ...]:
        """The RuntimeClasses sandboxes may use on this stack."""
        if self.runtime == "gvisor":
            return (c.GVISOR_RUNTIME_CLASS,)
        return tuple(c.kata_runtime_class(s) for s in self.kata.shims)

    @property
    def effective_default_runtime_class(self) -> str:
        return self.default_runtime_class or self.runtime_classes[0]

    @model_validator(mode="after")
    def _default_class(self) -> IsolationSettings:
        installed = self.runtime_classes
        if self.default_runtime_class and self.default_runtime_class not in installed:
            raise ValueError(
                f"isolation.defaultRuntimeClass '{self.default_runtime_class}' is not installed "
                f"by this stack (isolation.runtime: {self.runtime}); use one of "
                f"{', '.join(installed)}"
            )
        return self


# ---------------------------------------------------------------------------------------------
# agent-sandbox control plane
# ---------------------------------------------------------------------------------------------
class ResourceSettings(_Model):
    requests: dict[Literal["cpu", "memory", "ephemeral-storage"], Quantity] = {}
    limits: dict[Literal["cpu", "memory", "ephemeral-storage"], Quantity] = {}


class ControlPlaneSettings(_Model):
    enabled: bool = True
    version: Annotated[str, Field(pattern=r"^v\d+\.\d+\.\d+.*$")] = c.AGENT_SANDBOX_DEFAULT_VERSION
    # Local path or URL of sandbox-with-extensions.yaml; wins over the release URL.
    manifest: str | None = None
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    cache_dir: str | None = None
    # Registry mirror for air-gapped clusters: replaces registry.k8s.io in the controller image.
    image_registry: str | None = None
    replicas: int = Field(1, ge=1, le=5)
    resources: ResourceSettings = ResourceSettings(
        requests={"cpu": "100m", "memory": "128Mi"}, limits={"cpu": "1", "memory": "512Mi"}
    )


# ---------------------------------------------------------------------------------------------
# router and gateway
# ---------------------------------------------------------------------------------------------
class RouterSettings(_Model):
    enabled: bool = True
    # Upstream publishes only a staging image; pin a digest (image@sha256:...) in production.
    image: str = c.ROUTER_DEFAULT_IMAGE
    replicas: int = Field(2, ge=1, le=20)
    # Running without ROUTER_AUTH_TOKEN must be asked for explicitly.
    allow_unauthenticated: bool = False
    proxy_timeout_seconds: int = Field(180, ge=1, le=3600)
    websocket_idle_timeout_seconds: int = Field(3600, ge=1)
    websocket_max_lifetime_seconds: int = Field(86400, ge=1)
    websocket_max_message_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    resources: ResourceSettings = ResourceSettings(
        requests={"cpu": "100m", "memory": "128Mi"}, limits={"cpu": "1", "memory": "512Mi"}
    )

    @property
    def image_pinned(self) -> bool:
        return "@sha256:" in self.image


class HttpsSettings(_Model):
    # Exactly one: a Kubernetes TLS Secret in the gateway namespace, or a Compute Engine
    # pre-shared SSL certificate name.
    certificate_secret: str | None = None
    pre_shared_certificate: str | None = None

    @model_validator(mode="after")
    def _one(self) -> HttpsSettings:
        if bool(self.certificate_secret) == bool(self.pre_shared_certificate):
            raise ValueError(
                "gateway.https needs exactly one of certificateSecret or preSharedCertificate"
            )
        return self


class GatewaySettings(_Model):
    enabled: bool = True
    class_name: str = c.GATEWAY_DEFAULT_CLASS
    name: Dns1123Name = "sandbox-gateway"
    hostname: str | None = None
    https: HttpsSettings | None = None
    # Backend timeout at the load balancer. None: the router's timeout (GCP's default is 30 s).
    timeout_sec: int | None = Field(None, ge=1, le=86400)

    @model_validator(mode="after")
    def _class(self) -> GatewaySettings:
        if self.class_name not in c.GATEWAY_CLASSES:
            raise ValueError(
                f"gateway.className '{self.class_name}' is not a GKE gateway class; use one of "
                f"{', '.join(c.GATEWAY_CLASSES)}"
            )
        return self


# ---------------------------------------------------------------------------------------------
# sandboxes (typed resources declared per environment)
# ---------------------------------------------------------------------------------------------
class PortSettings(_Model):
    name: Dns1123Name | None = None
    container_port: int = Field(..., ge=1, le=65535)


class StorageSettings(_Model):
    name: Dns1123Name
    size: Quantity
    mount_path: str
    storage_class: str | None = None


class SecurityOverrides(_Model):
    """Explicit, reviewable exceptions to the secure pod defaults."""

    run_as_non_root: bool = True
    read_only_root_filesystem: bool = False
    automount_service_account_token: bool = False


class WorkloadSettings(_Model):
    """What a sandbox runs: shared by templates and standalone sandboxes."""

    image: str
    command: list[str] = []
    args: list[str] = []
    ports: list[PortSettings] = []
    env: dict[str, str] = {}
    resources: ResourceSettings
    runtime_class: str | None = None
    storage: list[StorageSettings] = []
    # Extra egress destinations (CIDRs) beyond public internet and cluster DNS.
    egress_allowlist: list[str] = []
    service: bool = True
    security: SecurityOverrides = SecurityOverrides()
    labels: dict[str, str] = {}

    @model_validator(mode="after")
    def _limits(self) -> WorkloadSettings:
        missing = [
            f"resources.{kind}.{res}"
            for kind in ("requests", "limits")
            for res in ("cpu", "memory")
            if res not in getattr(self.resources, kind)
        ]
        if missing:
            raise ValueError(
                f"{', '.join(missing)} must be set: every sandbox declares CPU and memory "
                "requests and limits so the node pool's capacity plan holds"
            )
        return self


class TemplateSettings(WorkloadSettings):
    name: Dns1123Name


class WarmPoolSettings(_Model):
    name: Dns1123Name
    template: Dns1123Name
    replicas: int = Field(1, ge=0, le=1000)


class SandboxSettings(WorkloadSettings):
    name: Dns1123Name
    operating_mode: Literal["Running", "Suspended"] = "Running"
    # RFC 3339 time after which the controller shuts the sandbox down.
    shutdown_time: str | None = None
    shutdown_policy: Literal["Retain", "Delete"] = "Retain"


class SandboxesSettings(_Model):
    namespace: Dns1123Name = "agent-sandboxes"
    create_namespace: bool = True
    templates: list[TemplateSettings] = []
    warm_pools: list[WarmPoolSettings] = []
    sandboxes: list[SandboxSettings] = []

    @model_validator(mode="after")
    def _refs(self) -> SandboxesSettings:
        for kind, items in (
            ("templates", self.templates),
            ("warmPools", self.warm_pools),
            ("sandboxes", self.sandboxes),
        ):
            names = [i.name for i in items]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"sandboxes.{kind} has duplicate name(s) {', '.join(dupes)}")
        templates = {t.name for t in self.templates}
        for pool in self.warm_pools:
            if pool.template not in templates:
                raise ValueError(
                    f"sandboxes.warmPools '{pool.name}' references template '{pool.template}', "
                    f"which is not declared in sandboxes.templates (declared: "
                    f"{', '.join(sorted(templates)) or 'none'})"
                )
        return self


# ---------------------------------------------------------------------------------------------
# admission backstop and tenancy
# ---------------------------------------------------------------------------------------------
class AdmissionSettings(_Model):
    enabled: bool = True
    # Namespaces where sandboxes (and their pods) must carry an allowed runtime class. The
    # sandboxes namespace is always included.
    sandbox_namespaces: list[Dns1123Name] = []


class TenantQuotaSettings(_Model):
    cpu: Quantity = "16"
    memory: Quantity = "64Gi"
    pods: int = Field(20, ge=1)
    storage: Quantity = "200Gi"


class TenantSettings(_Model):
    # Fully qualified platform stack, e.g. my-org/agent-sandbox-platform/dev.
    platform_stack: str = Field(..., min_length=1)
    namespace: Dns1123Name
    quota: TenantQuotaSettings = TenantQuotaSettings()
    # Kubernetes users/groups/service accounts of the tenant's SDK clients.
    client_groups: list[str] = []
    client_service_accounts: list[Dns1123Name] = []


# ---------------------------------------------------------------------------------------------
# the root
# ---------------------------------------------------------------------------------------------
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
    tenant: TenantSettings | None = None

    @property
    def sandbox_namespaces(self) -> tuple[str, ...]:
        extra = [n for n in self.admission.sandbox_namespaces if n != self.sandboxes.namespace]
        return (self.sandboxes.namespace, *extra)

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
        self._check_runtime_classes()
        return self

    def _check_runtime_classes(self) -> None:
        installed = self.isolation.runtime_classes
        for kind, items in (
            ("templates", self.sandboxes.templates),
            ("sandboxes", self.sandboxes.sandboxes),
        ):
            for item in items:
                rc = item.runtime_class
                if rc is not None and rc not in installed:
                    raise ValueError(
                        f"sandboxes.{kind} '{item.name}' has runtimeClass '{rc}', which this "
                        f"stack does not install; use one of {', '.join(installed)} (or omit it "
                        f"for the default, {self.isolation.effective_default_runtime_class})"
                    )


# ---------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------
SECTIONS = tuple((f.alias or to_camel(name)) for name, f in PlatformSettings.model_fields.items())


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def format_validation_error(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = _format_loc(tuple(p for p in e["loc"] if p not in ("function-after",)))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown setting (typo?); see the config reference in README.md"
        if e["type"] == "missing":
            msg = "required setting is missing"
        where = f"{_key(loc)}: " if loc else ""
        lines.append(f"  - {where}{msg}")
    return "invalid stack settings:\n" + "\n".join(lines)


def parse_settings(raw: Mapping[str, Any]) -> PlatformSettings:
    """Validate a mapping of section -> value (camelCase, as in Pulumi.<stack>.yaml)."""
    try:
        return PlatformSettings.model_validate(dict(raw))
    except ValidationError as err:
        raise SettingsError(format_validation_error(err)) from None


def config_sections(config: Mapping[str, Any]) -> dict[str, Any]:
    """Pick this project's keys out of a flat ``ns:key -> value`` config map."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        ns, _, name = key.partition(":")
        if ns != NS:
            continue
        if isinstance(value, str):
            # Structured config arrives JSON-encoded; plain strings stay strings.
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        out[name] = value
    return out


def load_settings() -> PlatformSettings:
    """Read every ``agent-sandbox-platform:*`` key of the running stack, once."""
    from pulumi.runtime import config as runtime_config

    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return parse_settings(config_sections(merged))


__all__ = [
    "SECTIONS",
    "PlatformSettings",
    "SettingsError",
    "load_settings",
    "parse_settings",
]
