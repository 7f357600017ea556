"""GCP's own rules for the settings that become GCP resources, checked before anything
registers (GKE's API would refuse them only at `pulumi up`, after other resources changed).

Sources, written down once:
- Cluster and node-pool names: GKE API (projects.locations.clusters / nodePools, field `name`):
  lower-case letters, digits and hyphens, starting with a letter, ending with a letter or digit,
  at most 40 characters.
- Node-pool names come from Pulumi autonaming: the pool's logical name `<nodePool.name>-pool`,
  a dash and 7 random hex digits (pulumi-gcp's autonaming, offline/engine.py), so the name given
  may use only 40 - 5 - 8 characters.
- Project IDs: 6 to 30 characters, lower-case letters, digits and hyphens, a letter first, no
  hyphen last; a domain-scoped project has an `example.com:` prefix (Resource Manager docs).
- Regions and zones: `<area>-<location><n>` and `<region>-<letter>` (Compute Engine "Regions
  and zones"); node-pool zones (node_locations) must lie in the cluster's region.
- CPU platforms per machine series (Compute Engine "CPU platforms"): a minimum CPU platform
  must be one the series runs on.
- Network and subnetwork: a Compute Engine resource name (a letter first, up to 63 lower-case
  letters, digits and '-') or a resource path (projects/<p>/global/networks/<n>,
  projects/<p>/regions/<r>/subnetworks/<s>); node service accounts are e-mail addresses of
  service accounts (…@….gserviceaccount.com).
- Node counts: at most 1,000 nodes per node pool per zone (GKE quotas and limits); boot disks
  10 GB to 65,536 GB (Compute Engine disk limits, the same for pd-* and hyperdisk-balanced).
- Node labels become kubelet --node-labels: Kubernetes label syntax, and the kubelet refuses
  keys under kubernetes.io / k8s.io (NodeRestriction), so the node never registers; GKE sets
  cloud.google.com/ labels itself, and kata-deploy's katacontainers.io/ labels are the gate
  that keeps sandboxes off nodes where Kata is not ready — a user label there would open it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

GKE_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
GKE_NAME_MAX = 40
AUTONAME_SUFFIX = len("-") + 7  # Pulumi autonaming: "-" + 7 hex digits
NODE_POOL_LOGICAL_SUFFIX = "-pool"  # components/gke/node_pool.py names the pool <name>-pool
NODE_POOL_NAME_MAX = GKE_NAME_MAX - len(NODE_POOL_LOGICAL_SUFFIX) - AUTONAME_SUFFIX
PROJECT_ID = re.compile(r"^([a-z0-9][-a-z0-9.]*[a-z0-9]:)?[a-z][-a-z0-9]{4,28}[a-z0-9]$")
REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
ZONE = re.compile(r"^(?P<region>[a-z]+-[a-z]+[0-9]+)-[a-z]$")
GCE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
GCE_PATH = re.compile(r"^(https://www\.googleapis\.com/compute/v1/)?projects/[^/\s]+(/[^/\s]+)+$")
SERVICE_ACCOUNT = re.compile(r"^[a-z0-9][-a-z0-9.]*@[a-z0-9][-a-z0-9.]*\.gserviceaccount\.com$")
MAX_NODES_PER_POOL_ZONE = 1000
DISK_GB_MIN, DISK_GB_MAX = 10, 65536
CPU_PLATFORMS: dict[str, tuple[str, ...]] = {
    "n1": (
        "Intel Sandy Bridge",
        "Intel Ivy Bridge",
        "Intel Haswell",
        "Intel Broadwell",
        "Intel Skylake",
    ),
    "n2": ("Intel Cascade Lake", "Intel Ice Lake"),
    "n4": ("Intel Emerald Rapids",),
    "c2": ("Intel Cascade Lake",),
    "c3": ("Intel Sapphire Rapids",),
    "c4": ("Intel Emerald Rapids", "Intel Granite Rapids"),
}
# agent-sandbox.dev: the platform's own pool label (constants.SANDBOX_POOL_LABEL) would be
# overwritten silently.
NODE_LABEL_RESERVED = (
    "kubernetes.io",
    "k8s.io",
    "cloud.google.com",
    "katacontainers.io",
    "agent-sandbox.dev",
)
_LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_KEY = re.compile(rf"^([a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_LABEL_NAME}$")
_LABEL_VALUE = re.compile(rf"^({_LABEL_NAME})?$")


def gke_name(setting: str, name: str, limit: int = GKE_NAME_MAX, why: str = "") -> None:
    if not GKE_NAME.match(name) or len(name) > limit:
        raise ValueError(
            f"{setting} '{name}' is not a name GKE accepts: lower-case letters, digits and "
            f"'-', a letter first, a letter or digit last, at most {limit} characters{why}; "
            f"rename it (e.g. {'sandbox-pool' if 'nodePool' in setting else 'agent-sandbox'})"
        )


def project_id(project: str) -> None:
    if not PROJECT_ID.match(project):
        raise ValueError(
            f"cluster.project '{project}' is not a GCP project ID (6 to 30 lower-case letters, "
            "digits and '-', a letter first); use the project ID, not its name or number "
            "(gcloud projects list)"
        )


def network(setting: str, value: str | None) -> None:
    if value is not None and not (GCE_NAME.match(value) or GCE_PATH.match(value)):
        raise ValueError(
            f"{setting} '{value}' is neither a Compute Engine resource name (a letter first, "
            "lower-case letters, digits and '-') nor a resource path (projects/<project>/...); "
            "use the name as `gcloud compute networks list` (or `... subnets list`) shows it"
        )


def service_account(value: str | None) -> None:
    if value is not None and not SERVICE_ACCOUNT.match(value):
        raise ValueError(
            f"nodePool.serviceAccount '{value}' is not a service account e-mail "
            "(name@project.iam.gserviceaccount.com); write the e-mail, or remove it to get a "
            "dedicated least-privilege node account"
        )


def region_of(location: str) -> str | None:
    """The region of a region or zone, or None if it is neither."""
    if REGION.match(location):
        return location
    zone = ZONE.match(location)
    return zone.group("region") if zone else None


def location(location: str) -> None:
    if region_of(location) is None:
        raise ValueError(
            f"cluster.location '{location}' is neither a GCP region (us-central1) nor a zone "
            "(us-central1-a); set one of them"
        )


def zones(pool_zones: list[str], cluster_location: str | None) -> None:
    region = region_of(cluster_location) if cluster_location else None
    for i, zone in enumerate(pool_zones):
        match = ZONE.match(zone)
        if match is None:
            raise ValueError(
                f"nodePool.zones[{i}] '{zone}' is not a zone; write zones like "
                f"{region or 'us-central1'}-a"
            )
        if region is not None and match.group("region") != region:
            raise ValueError(
                f"nodePool.zones[{i}] '{zone}' is outside the cluster's region {region} "
                f"(cluster.location: {cluster_location}); a node pool's zones lie in its "
                f"cluster's region — use zones such as {region}-a, or remove nodePool.zones"
            )
    dupes = sorted({z for z in pool_zones if pool_zones.count(z) > 1})
    if dupes:
        raise ValueError(f"nodePool.zones lists {', '.join(dupes)} twice; list each zone once")


def min_cpu_platform(series: str, machine_type: str, platform: str | None) -> None:
    if platform is None or series not in CPU_PLATFORMS:
        return
    allowed = CPU_PLATFORMS[series]
    if platform not in allowed:
        raise ValueError(
            f"nodePool.minCpuPlatform '{platform}' is not a CPU platform of {series.upper()} "
            f"machines ({machine_type} runs on {', '.join(allowed)}); use one of those, or "
            "remove nodePool.minCpuPlatform"
        )


def node_count(setting: str, max_nodes: int) -> None:
    if max_nodes > MAX_NODES_PER_POOL_ZONE:
        raise ValueError(
            f"{setting}.maxNodes {max_nodes} is above GKE's {MAX_NODES_PER_POOL_ZONE} nodes per "
            f"node pool and zone; lower {setting}.maxNodes (or add zones)"
        )


def disk_size(setting: str, size_gb: int) -> None:
    if not DISK_GB_MIN <= size_gb <= DISK_GB_MAX:
        raise ValueError(
            f"{setting}.diskSizeGb {size_gb} is outside the boot disk sizes GCE allows "
            f"({DISK_GB_MIN} to {DISK_GB_MAX} GB); set {setting}.diskSizeGb within them"
        )


def node_labels(labels: Mapping[str, str]) -> None:
    for key, value in labels.items():
        if not _LABEL_KEY.match(key):
            raise ValueError(
                f"nodePool.labels key '{key}' is not a Kubernetes label key ([prefix/]name, "
                "name up to 63 letters, digits, '-', '_' and '.'); fix the key"
            )
        prefix = key.rpartition("/")[0]
        if prefix and any(prefix == p or prefix.endswith(f".{p}") for p in NODE_LABEL_RESERVED):
            raise ValueError(
                f"nodePool.labels key '{key}' uses a prefix the kubelet, GKE or kata-deploy "
                f"reserve ({', '.join(NODE_LABEL_RESERVED)}): the node would not register, or "
                "Kata's readiness gate would open; pick your own prefix (team.example.com/...)"
            )
        if not _LABEL_VALUE.match(value):
            raise ValueError(
                f"nodePool.labels value '{value}' of '{key}' is not a Kubernetes label value "
                "(up to 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric); "
                "fix the value"
            )
