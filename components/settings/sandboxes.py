"""Sandboxes declared per environment: templates, warm pools, standalone sandboxes."""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .. import constants as c
from .base import DNS1123, ByteQuantity, NestedSettingError, ResourceSettings, _Model
from .k8s_rules import ImageRef, Rfc3339Time, dns1035, parse_time
from .reference import describe_pattern, describe_validator


def _object_name(value: str) -> str:
    if len(value) > 63 or not re.fullmatch(DNS1123, value):
        raise ValueError(
            f"'{value}' is not a valid name: Kubernetes object names here are DNS-1123 labels "
            "(lower-case letters, digits and '-', at most 63 characters, starting and ending "
            "with a letter or digit); rename it, e.g. python-sandbox"
        )
    return value


describe_validator(
    _object_name,
    "a Kubernetes object name (DNS-1123 label): lower-case letters, digits and '-', at most 63 "
    "characters, starting and ending with a letter or digit",
)


# Names of sandboxes, templates, pools, volumes: they become object names, hostnames, DNS names.
ObjectName = Annotated[str, AfterValidator(_object_name)]
# Container port names are IANA service names: at most 15 characters.
PortName = Annotated[str, Field(pattern=DNS1123, max_length=15)]
EnvName = Annotated[
    str,
    Field(
        pattern=describe_pattern(
            r"^[-._a-zA-Z][-._a-zA-Z0-9]*$",
            "an environment variable name: letters, digits, '_', '-' and '.', not starting "
            "with a digit (e.g. LOG_LEVEL)",
        )
    ),
]
AbsolutePath = Annotated[
    str, Field(pattern=describe_pattern(r"^/.+", "an absolute path (e.g. /workspace)"))
]
_LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_KEY = re.compile(rf"^([a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_LABEL_NAME}$")
_LABEL_VALUE = re.compile(rf"^({_LABEL_NAME})?$")
# Label key prefixes the controller, Kubernetes and this platform write themselves.
_RESERVED_LABEL_PREFIXES = ("agents.x-k8s.io", "kubernetes.io", "k8s.io", "agent-sandbox.dev")
_RESERVED_SUFFIXES = tuple(f".{p}" for p in _RESERVED_LABEL_PREFIXES)
_SVC_NAME_LETTER = re.compile(r"[a-z]")


class PortSettings(_Model):
    """A container port; the sandbox's NetworkPolicy lets the router reach exactly these."""

    name: PortName | None = None
    container_port: int = Field(..., ge=1, le=65535)

    @model_validator(mode="after")
    def _name(self) -> PortSettings:
        if self.name is not None and not _SVC_NAME_LETTER.search(self.name):
            raise ValueError(
                f"ports name '{self.name}' needs at least one letter (Kubernetes port names are "
                "IANA service names, e.g. http or vscode)"
            )
        return self


class ProbeSettings(_Model):
    """An HTTP GET probe (the python runtime answers on /)."""

    path: AbsolutePath | Literal["/"] = "/"
    port: int = Field(..., ge=1, le=65535)
    initial_delay_seconds: int = Field(0, ge=0)
    period_seconds: int = Field(10, ge=1)
    failure_threshold: int = Field(3, ge=1)


class StorageSettings(_Model):
    """A volume mounted into the sandbox.

    persistentVolumeClaim (default) becomes a volumeClaimTemplate: every sandbox gets its own
    PVC, which outlives a pod restart. emptyDir is scratch space capped at ``size``.
    """

    name: ObjectName
    mount_path: AbsolutePath
    size: ByteQuantity
    # hostPath is listed only so that asking for it gets a clear refusal.
    type: Literal["persistentVolumeClaim", "emptyDir", "hostPath"] = "persistentVolumeClaim"
    storage_class: str | None = None
    access_mode: Literal["ReadWriteOnce", "ReadWriteOncePod", "ReadWriteMany"] = "ReadWriteOnce"
    read_only: bool = False

    @field_validator("type")
    @classmethod
    def _no_host_path(cls, value: str) -> str:
        if value == "hostPath":
            raise ValueError(
                "hostPath is not allowed: it mounts a directory of the node into the sandbox, "
                "past the VM boundary Kata puts around it; use type persistentVolumeClaim (or "
                "emptyDir for scratch space)"
            )
        return value

    @model_validator(mode="after")
    def _claim_only(self) -> StorageSettings:
        if self.type == "emptyDir" and (
            self.storage_class is not None or self.access_mode != "ReadWriteOnce"
        ):
            raise ValueError(
                f"storage '{self.name}' is an emptyDir: storageClass and accessMode apply only "
                "to type persistentVolumeClaim; remove them or change the type"
            )
        return self


class SecurityOverrides(_Model):
    """Explicit, reviewable exceptions to the secure pod defaults.

    Defaults: non-root, no privilege escalation, every capability dropped, RuntimeDefault
    seccomp, no service-account token. ``privileged`` exists only to be refused.
    """

    run_as_non_root: bool = True
    run_as_user: int | None = Field(None, ge=0)
    run_as_group: int | None = Field(None, ge=0)
    # Group that owns mounted volumes: a non-root sandbox needs it to write to its PVC.
    fs_group: int | None = Field(None, ge=0)
    read_only_root_filesystem: bool = False
    allow_privilege_escalation: bool = False
    add_capabilities: list[str] = []
    automount_service_account_token: bool = False
    privileged: bool = False

    @field_validator("privileged")
    @classmethod
    def _not_privileged(cls, value: bool) -> bool:
        if value:
            raise ValueError(
                "privileged sandboxes are not allowed: a privileged container gets every "
                "capability and the node's devices, which defeats the isolation the sandbox "
                "exists for; remove security.privileged (add a specific capability with "
                "security.addCapabilities if one is really needed)"
            )
        return value

    @field_validator("automount_service_account_token")
    @classmethod
    def _no_token(cls, value: bool) -> bool:
        if value:
            raise ValueError(
                "a sandbox never mounts a service-account token: code in the sandbox would act "
                "as that identity against the Kubernetes API (the admission backstop refuses "
                "it too); remove security.automountServiceAccountToken"
            )
        return value

    @field_validator("add_capabilities")
    @classmethod
    def _baseline_capabilities(cls, value: list[str]) -> list[str]:
        bad = [cap for cap in value if cap not in c.BASELINE_CAPABILITIES]
        if bad:
            raise ValueError(
                f"capabilities {', '.join(bad)} cannot be added: they reach beyond the Pod "
                "Security baseline profile (e.g. SYS_ADMIN or NET_ADMIN reach the kernel and the "
                f"network); allowed: {', '.join(c.BASELINE_CAPABILITIES)} (write them without "
                "the CAP_ prefix)"
            )
        return value

    @model_validator(mode="after")
    def _root(self) -> SecurityOverrides:
        if self.run_as_non_root and self.run_as_user == 0:
            raise ValueError(
                "security.runAsUser is 0 (root) while security.runAsNonRoot is true; pick a "
                "non-zero uid, or set runAsNonRoot: false explicitly if the image needs root"
            )
        return self

    def restricted_violations(self) -> list[str]:
        """Why a pod with these overrides fails the Pod Security "restricted" profile."""
        out = []
        if not self.run_as_non_root:
            out.append("security.runAsNonRoot is false")
        if self.allow_privilege_escalation:
            out.append("security.allowPrivilegeEscalation is true")
        extra = [cap for cap in self.add_capabilities if cap not in c.RESTRICTED_CAPABILITIES]
        if extra:
            out.append(f"security.addCapabilities has {', '.join(extra)}")
        return out


def _check_labels(labels: Mapping[str, str], where: str) -> None:
    for key, value in labels.items():
        if not _LABEL_KEY.match(key):
            raise ValueError(
                f"{where} key '{key}' is not a Kubernetes label key ([prefix/]name, name up to 63 "
                "characters of letters, digits, '-', '_' and '.')"
            )
        prefix = key.rpartition("/")[0]
        if prefix and (prefix in _RESERVED_LABEL_PREFIXES or prefix.endswith(_RESERVED_SUFFIXES)):
            raise ValueError(
                f"{where} key '{key}' uses a prefix that the controller, Kubernetes or this "
                "platform sets itself; pick your own prefix (e.g. team.example.com/owner)"
            )
        if not _LABEL_VALUE.match(value):
            raise ValueError(
                f"{where} value '{value}' of '{key}' is not a Kubernetes label value (up to 63 "
                "letters, digits, '-', '_' or '.', starting and ending alphanumeric)"
            )


class WorkloadSettings(_Model):
    """What a sandbox runs: shared by templates and standalone sandboxes."""

    name: ObjectName
    # The container's name (kubectl exec/logs -c); the seed's VS Code sandbox uses
    # devcontainer-main.
    container_name: ObjectName = c.SANDBOX_CONTAINER_NAME
    image: ImageRef
    command: list[str] = []
    args: list[str] = []
    ports: list[PortSettings] = []
    env: dict[EnvName, str] = {}
    resources: ResourceSettings
    # None: isolation.defaultRuntimeClass. Always one of the classes this stack installs.
    runtime_class: Annotated[str, Field(min_length=1)] | None = None
    storage: list[StorageSettings] = []
    # Extra egress destinations (CIDRs) beyond public internet and cluster DNS; e.g. a private
    # model endpoint inside the VPC.
    egress_allowlist: list[str] = []
    # A headless Service named after the sandbox: how the router resolves it.
    service: bool = True
    readiness_probe: ProbeSettings | None = None
    liveness_probe: ProbeSettings | None = None
    restart_policy: Literal["Always", "OnFailure", "Never"] = "Always"
    security: SecurityOverrides = SecurityOverrides()
    # Listed only so that asking for them gets a clear refusal.
    host_network: bool = False
    host_pid: bool = Field(False, alias="hostPID")
    host_ipc: bool = Field(False, alias="hostIPC")
    labels: dict[str, str] = {}

    @field_validator("host_network", "host_pid", "host_ipc")
    @classmethod
    def _no_host_namespaces(cls, value: bool, info: ValidationInfo) -> bool:
        if value:
            shared = {
                "host_network": "the node's network stack (and every other pod's traffic)",
                "host_pid": "the node's processes",
                "host_ipc": "the node's shared memory",
            }[str(info.field_name)]
            raise ValueError(
                f"sandboxes never share {shared}: that would step out of the sandbox's VM; "
                "remove the setting (it cannot be overridden)"
            )
        return value

    @model_validator(mode="after")
    def _workload(self) -> WorkloadSettings:
        missing = [
            f"resources.{kind}.{res}"
            for kind in ("requests", "limits")
            for res in ("cpu", "memory")
            if res not in getattr(self.resources, kind)
        ]
        if missing:
            raise ValueError(
                f"{', '.join(missing)} must be set for '{self.name}': every sandbox declares "
                "CPU and memory requests and limits so the node pool's capacity plan holds (and "
                "Kata sizes the sandbox VM from the limits); add them, e.g. resources: "
                "{requests: {cpu: 250m, memory: 512Mi}, limits: {cpu: 1, memory: 1Gi}}"
            )
        for what, values in (
            ("ports containerPort", [str(p.container_port) for p in self.ports]),
            ("ports name", [p.name for p in self.ports if p.name]),
            ("storage name", [v.name for v in self.storage]),
            ("storage mountPath", [v.mount_path for v in self.storage]),
        ):
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(
                    f"'{self.name}' lists {what} {', '.join(dupes)} twice; list each once"
                )
        for cidr in self.egress_allowlist:
            try:
                net = ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                raise ValueError(
                    f"egressAllowlist entry '{cidr}' of '{self.name}' is not a network CIDR; "
                    "write it like 10.20.0.0/16, 203.0.113.7/32 or 2001:db8::/64"
                ) from None
            # IPv6 like IPv4: ::/0 or a unique-local range would reach the metadata server too.
            hit = [m for m in c.METADATA_SERVER_CIDRS if net.overlaps(_network(m))]
            if hit:
                raise ValueError(
                    f"egressAllowlist entry '{cidr}' of '{self.name}' overlaps {hit[0]}, where "
                    "the node's metadata server answers with the node's credentials; sandboxes "
                    "never reach it — remove the entry or narrow it to the addresses you need"
                )
        _check_labels(self.labels, f"labels of '{self.name}'")
        return self

    def exposed_private_ranges(self) -> dict[str, list[str]]:
        """Allowlist entries that re-open whole private ranges, with those ranges."""
        found: dict[str, list[str]] = {}
        for cidr in self.egress_allowlist:
            ranges = [
                p
                for p in (*c.PRIVATE_CIDRS, *c.PRIVATE_CIDRS_V6)
                if _contains(_network(cidr), _network(p))
            ]
            if ranges:
                found[cidr] = ranges
        return found


    @model_validator(mode="after")
    def _probes_on_declared_ports(self) -> WorkloadSettings:
        # A probe on a port the container does not declare either probes nothing (the pod never
        # becomes Ready) or a port the router and NetworkPolicy do not know about.
        declared = sorted(p.container_port for p in self.ports)
        for key, probe in (
            ("readinessProbe", self.readiness_probe),
            ("livenessProbe", self.liveness_probe),
        ):
            if probe is not None and probe.port not in declared:
                raise NestedSettingError(
                    f"{key}.port",
                    f"'{self.name}' probes port {probe.port}, which it does not declare "
                    f"(ports: {', '.join(map(str, declared)) or 'none'}); add "
                    f"{{containerPort: {probe.port}}} to ports or probe a declared port",
                )
        return self


def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(cidr, strict=False)


def _contains(
    outer: ipaddress.IPv4Network | ipaddress.IPv6Network,
    inner: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> bool:
    return outer.version == inner.version and inner.subnet_of(outer)  # type: ignore[arg-type]


class TemplateSettings(WorkloadSettings):
    # What a SandboxClaim may change (CRD fields of the same names).
    env_vars_injection_policy: Literal["Disallowed", "Allowed", "Overrides"] = "Disallowed"
    volume_claim_templates_policy: Literal["Disallowed", "Allowed", "Overrides"] = "Disallowed"


class WarmPoolSettings(_Model):
    name: ObjectName
    template: ObjectName
    # Sandboxes kept booted for claims; 0 gives cold starts (a claim still needs a pool).
    replicas: int = Field(1, ge=0, le=1000)
    update_strategy: Literal["OnReplenish", "Recreate"] = "OnReplenish"


class SandboxSettings(WorkloadSettings):
    operating_mode: Literal["Running", "Suspended"] = "Running"
    # RFC 3339 time (quote it in YAML) after which the controller shuts the sandbox down.
    shutdown_time: Rfc3339Time | None = Field(
        None,
        description="an RFC 3339 time with a zone, in the future, quoted in YAML "
        '(e.g. "2026-12-31T23:59:59Z"), or null',
    )
    shutdown_policy: Literal["Retain", "Delete"] = "Retain"

    @field_validator("shutdown_time")
    @classmethod
    def _future(cls, value: str | None) -> str | None:
        if value is not None and parse_time(value) <= datetime.now(UTC):
            raise ValueError(
                f"'{value}' is already past: the controller would shut the sandbox down as soon "
                "as it exists (and delete it with shutdownPolicy: Delete); set a future time or "
                "remove shutdownTime"
            )
        return value

    @model_validator(mode="after")
    def _service_name(self) -> SandboxSettings:
        # service: true makes a Service named after the sandbox, and Service names are DNS-1035
        # labels (a letter first), stricter than the DNS-1123 names the Sandbox itself allows.
        if self.service and not dns1035(self.name):
            raise NestedSettingError(
                "name",
                f"'{self.name}' cannot name the Service that service: true creates: Service "
                "names start with a letter (DNS-1035); rename the sandbox (e.g. "
                f"sbx-{self.name}) or set service: false",
            )
        return self


class SandboxesSettings(_Model):
    namespace: ObjectName = c.SANDBOXES_DEFAULT_NAMESPACE
    create_namespace: bool = True
    # Pod Security Admission level enforced on the namespace (when created here). auto:
    # restricted, unless a declared workload's security overrides need baseline.
    pod_security: Literal["auto", "restricted", "baseline"] = "auto"
    templates: list[TemplateSettings] = []
    warm_pools: list[WarmPoolSettings] = []
    sandboxes: list[SandboxSettings] = []

    @property
    def workloads(self) -> tuple[tuple[str, int, WorkloadSettings], ...]:
        """(section key, index, workload) of every template and standalone sandbox."""
        return (
            *(("templates", i, t) for i, t in enumerate(self.templates)),
            *(("sandboxes", i, s) for i, s in enumerate(self.sandboxes)),
        )

    def egress_warnings(self) -> list[str]:
        """An allowlist entry that re-opens a whole private range: legal, rarely meant."""
        return [
            f"sandboxes.{key}[{i}].egressAllowlist: '{cidr}' of '{w.name}' re-opens all of "
            f"{', '.join(ranges)}, which sandbox egress otherwise blocks: its sandboxes can "
            "reach the VPC and the cluster's own pods, services and nodes there; list only the "
            "addresses they need (e.g. 10.20.0.5/32)"
            for key, i, w in self.workloads
            for cidr, ranges in w.exposed_private_ranges().items()
        ]

    def baseline_reasons(self) -> list[str]:
        """Workloads that fail the restricted profile, and why."""
        return [
            f"sandboxes.{key}[{i}] '{w.name}': {', '.join(why)}"
            for key, i, w in self.workloads
            if (why := w.security.restricted_violations())
        ]

    @property
    def pod_security_level(self) -> Literal["restricted", "baseline"]:
        if self.pod_security == "auto":
            return "baseline" if self.baseline_reasons() else "restricted"
        return self.pod_security

    @model_validator(mode="after")
    def _refs(self) -> SandboxesSettings:
        if self.namespace in c.RESERVED_NAMESPACES:
            raise ValueError(
                f"sandboxes.namespace '{self.namespace}' is reserved for Kubernetes or the "
                "agent-sandbox control plane (sandbox NetworkPolicies would cut them off); use "
                f"a namespace of its own, e.g. {c.SANDBOXES_DEFAULT_NAMESPACE}"
            )
        if self.namespace == "default" and self.create_namespace:
            raise ValueError(
                "sandboxes.namespace is 'default' and sandboxes.createNamespace is true, but "
                "'default' always exists; set createNamespace: false or pick another namespace"
            )
        for kind, items in (
            ("templates", self.templates),
            ("warmPools", self.warm_pools),
            ("sandboxes", self.sandboxes),
        ):
            # Counter, not list.count: stacks may declare a thousand sandboxes.
            dupes = sorted(n for n, k in Counter(i.name for i in items).items() if k > 1)
            if dupes:
                raise ValueError(
                    f"sandboxes.{kind} has duplicate name(s) {', '.join(dupes)}; names are "
                    "Kubernetes object names and must be unique per kind"
                )
        templates = {t.name for t in self.templates}
        for i, pool in enumerate(self.warm_pools):
            if pool.template not in templates:
                raise ValueError(
                    f"sandboxes.warmPools[{i}].template: warm pool '{pool.name}' references "
                    f"template '{pool.template}', which is not declared in sandboxes.templates "
                    f"(declared: {', '.join(sorted(templates)) or 'none'}); declare it or fix "
                    "the name"
                )
        if self.pod_security == "restricted" and (reasons := self.baseline_reasons()):
            raise ValueError(
                "sandboxes.podSecurity is 'restricted' but these workloads need the baseline "
                f"profile: {'; '.join(reasons)}; drop those overrides or set "
                "sandboxes.podSecurity: auto (or baseline)"
            )
        return self
