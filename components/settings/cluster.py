"""Where the platform lives: the cluster and the sandbox node pool."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import (
    Field,
    model_validator,
)

from ..gke.machines import DISK_TYPES, MachineSpec, machine_spec
from . import gcp_rules
from .base import Dns1123Name, _Model
from .k8s_rules import Rfc3339Time, parse_time


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

    @model_validator(mode="after")
    def _gcp_limits(self) -> SystemPoolSettings:
        gcp_rules.node_count("cluster.systemPool", self.max_nodes)
        gcp_rules.disk_size("cluster.systemPool", self.disk_size_gb)
        return self


class MaintenanceWindowSettings(_Model):
    """GKE's recurring maintenance window (RFC 3339 times, RFC 5545 RRULE)."""

    start_time: Rfc3339Time
    end_time: Rfc3339Time
    recurrence: str = Field(..., min_length=1)

    @model_validator(mode="after")
    def _order(self) -> MaintenanceWindowSettings:
        _ends_after_start(self.start_time, self.end_time, "cluster.maintenance.window")
        return self


class MaintenanceExclusionSettings(_Model):
    name: Dns1123Name
    start_time: Rfc3339Time
    end_time: Rfc3339Time
    # NO_UPGRADES | NO_MINOR_UPGRADES | NO_MINOR_OR_NODE_UPGRADES: the last keeps nodes (and so
    # running sandboxes) in place.
    scope: Literal["NO_UPGRADES", "NO_MINOR_UPGRADES", "NO_MINOR_OR_NODE_UPGRADES"] = (
        "NO_MINOR_OR_NODE_UPGRADES"
    )

    @model_validator(mode="after")
    def _order(self) -> MaintenanceExclusionSettings:
        _ends_after_start(
            self.start_time, self.end_time, f"cluster.maintenance.exclusions '{self.name}'"
        )
        return self


def _ends_after_start(start: str, end: str, where: str) -> None:
    # GKE refuses a window or exclusion that ends before it starts only at `pulumi up`.
    if parse_time(end) <= parse_time(start):
        raise ValueError(
            f"{where}.endTime {end} is not after its startTime {start}; swap them or move "
            "endTime later"
        )


class MaintenanceSettings(_Model):
    """When GKE may upgrade (and so drain) nodes: every upgrade evicts running sandboxes.
    Terraform's maintenance_policy needs exactly one window (ExactlyOneOf), so window is
    required; exclusions are optional."""

    window: MaintenanceWindowSettings
    exclusions: list[MaintenanceExclusionSettings] = []


# Artifact Registry repository, as projects/<p>/locations/<l>/repositories/<r> or <l>/<r>.
_REPOSITORY = re.compile(
    r"^(projects/(?P<project>[a-z][-a-z0-9]{4,28}[a-z0-9])/locations/)?"
    r"(?P<location>[a-z0-9-]+)/(repositories/)?(?P<repository>[a-z]([-a-z0-9]*[a-z0-9])?)$"
)


def parse_repository(value: str, project: str) -> tuple[str, str, str]:
    """(project, location, repository) of an Artifact Registry repository setting."""
    m = _REPOSITORY.match(value)
    if m is None:
        raise ValueError(value)
    return m.group("project") or project, m.group("location"), m.group("repository")


class KubeconfigSettings(_Model):
    """Adopt any cluster (minikube, kind, another cloud) through a kubeconfig context."""

    context: str = Field(..., min_length=1)
    path: str | None = None


class ClusterSettings(_Model):
    # create: a new GKE Standard cluster; existing: a GKE cluster by name/location (we add the
    # sandbox pool); kubeconfig: any cluster by context, no GCP resource at all; platform-stack
    # (tenant stacks only, their default): the cluster of tenant.platformStack, reached through
    # that stack's kubeconfig output (components/composition/platform_contract.py).
    mode: Literal["create", "existing", "kubeconfig", "platform-stack"] = "create"
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
    # How gke-gcloud-auth-plugin authenticates: Application Default Credentials (works in CI
    # with GOOGLE_APPLICATION_CREDENTIALS or workload identity federation, and after `gcloud
    # auth application-default login`), or gcloud's own login.
    kube_credentials: Literal["application-default", "gcloud"] = "application-default"
    # Enable the APIs the stack calls (never disabled on destroy); false if the deployer may
    # not enable services and they are enabled already (docs/gke.md).
    enable_apis: bool = True
    maintenance: MaintenanceSettings | None = None
    # Nodes without external IPs (a Cloud NAT gives them egress and image pulls).
    private_nodes: bool = True
    # Create a Cloud Router + NAT for the cluster's region; false if the network has one.
    cloud_nat: bool = True
    # Who may reach the control plane's public endpoint. Required (mode create): the networks
    # deployers and CI run from; [0.0.0.0/0] knowingly opens it to the internet.
    master_authorized_networks: list[str] = []
    # Artifact Registry repositories the node service accounts may pull private images from
    # (roles/artifactregistry.reader on each repository, never project-wide).
    node_image_repositories: list[str] = []

    @property
    def is_gke(self) -> bool:
        return self.mode in ("create", "existing")

    @model_validator(mode="after")
    def _mode(self) -> ClusterSettings:
        if self.autopilot:
            raise ValueError(
                "cluster.autopilot is true, but GKE Autopilot allows neither nested virtualization "
                "nor kata-deploy's host mounts; use a GKE Standard cluster "
                "(set cluster.autopilot: false)"
            )
        if self.is_gke:
            self._check_gke_fields()
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
        elif self.mode == "platform-stack" and self.kubeconfig is not None:
            raise ValueError(
                "cluster.kubeconfig is only used with cluster.mode: kubeconfig; a tenant that "
                "wants its own context instead of the platform's kubeconfig output sets "
                "cluster.mode: kubeconfig"
            )
        elif self.mode == "kubeconfig" and self.kubeconfig is None:
            raise ValueError(
                "cluster.mode is 'kubeconfig' but cluster.kubeconfig.context is not set; name the "
                "context explicitly (e.g. kubeconfig: {context: minikube}) so the platform never "
                "deploys to whatever context happens to be active"
            )
        return self

    @model_validator(mode="after")
    def _gcp_names(self) -> ClusterSettings:
        # Only where these become GCP API fields (GKE modes): see gcp_rules for the sources.
        if self.is_gke:
            gcp_rules.gke_name("cluster.name", self.name)
            if self.project:
                gcp_rules.project_id(self.project)
            if self.location:
                gcp_rules.location(self.location)
            gcp_rules.network("cluster.network", self.network)
            gcp_rules.network("cluster.subnetwork", self.subnetwork)
        return self

    @property
    def zone_count(self) -> int:
        """Zones a pool spans when nodePool.zones is empty: a zonal cluster has one; GKE puts a
        regional cluster's pools in three zones of the region by default."""
        location = self.location or ""
        return 1 if re.fullmatch(r"[a-z]+-[a-z]+[0-9]+-[a-z]", location) else 3

    def _check_gke_fields(self) -> None:
        for i, cidr in enumerate(self.master_authorized_networks):
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                raise ValueError(
                    f"cluster.masterAuthorizedNetworks[{i}] '{cidr}' is not a CIDR; write it "
                    "like 203.0.113.0/24"
                ) from None
        for i, repo in enumerate(self.node_image_repositories):
            try:
                parse_repository(repo, self.project or "")
            except ValueError:
                raise ValueError(
                    f"cluster.nodeImageRepositories[{i}] '{repo}' is not an Artifact Registry "
                    "repository; write it as <location>/<repository> (e.g. us-central1/images) "
                    "or projects/<project>/locations/<location>/repositories/<repository>"
                ) from None


# ---------------------------------------------------------------------------------------------
# sandbox node pool
# ---------------------------------------------------------------------------------------------
class NodePoolSettings(_Model):
    """The dedicated, tainted pool sandboxes run on (GKE only)."""

    # The pool's logical name; GKE names it <name>-pool-<7 random hex> (Pulumi autonaming, so a
    # replacement is created before the old pool goes) within GKE's 40 characters.
    name: Dns1123Name = "sandbox-pool"
    machine_type: str = "n2-standard-8"
    # N1 needs Haswell or later for nested virtualization; None lets GKE choose (or we pin
    # Haswell for N1).
    min_cpu_platform: str | None = None
    # 1 turns SMT off: sandboxes run untrusted code, and SMT siblings share a core's caches and
    # execution units with whatever runs on the other thread (Compute Engine recommends one
    # thread per core for such VMs). The nodes then schedule half the vCPUs, billed for all
    # (the capacity plan counts it). 2 doubles the CPU for trusted workloads.
    threads_per_core: Literal[1, 2] = 1
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
        supported = DISK_TYPES.get(spec.series)
        # A series that cannot nest is refused for Kata first (settings cross-layer checks);
        # for gVisor its disks are checked in components/composition/preflight.py.
        if spec.nested_virtualization and supported and self.disk_type not in supported:
            raise ValueError(
                f"nodePool.diskType '{self.disk_type}' cannot be attached to "
                f"{spec.series.upper()} machines, which take {', '.join(supported)}; set "
                f"nodePool.diskType: {supported[0]}"
            )
        return self

    @model_validator(mode="after")
    def _gcp_rules(self) -> NodePoolSettings:
        gcp_rules.gke_name(
            "nodePool.name",
            self.name,
            gcp_rules.NODE_POOL_NAME_MAX,
            f" (GKE names the pool {self.name}{gcp_rules.NODE_POOL_LOGICAL_SUFFIX}-<7 random "
            "characters> and allows 40)",
        )
        gcp_rules.min_cpu_platform(self.machine.series, self.machine_type, self.min_cpu_platform)
        gcp_rules.node_count("nodePool", self.max_nodes)
        gcp_rules.disk_size("nodePool", self.disk_size_gb)
        gcp_rules.zones(self.zones, None)
        gcp_rules.node_labels(self.labels)
        gcp_rules.service_account(self.service_account)
        return self
