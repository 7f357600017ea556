"""The settings refusal reference (docs/settings-refusals.md), generated from the models.

Per setting: its default, what it accepts (read from the model's type and constraints: the same
words the refusal messages use) and the further checks that refuse a value, with why. Those
further checks live in model validators whose messages are prose, not data, so they are listed
here by hand, one line per refusal; a test proves every path listed exists in the models, and
another that the committed file equals ``render()``.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from typing import Any

from pydantic_core import PydanticUndefined

from .. import constants as c
from . import gcp_rules
from .reference import Leaf, alias, describe_node, model_of, resolve, walk

# "<workload>." stands for both sandboxes.templates[]. and sandboxes.sandboxes[].
WORKLOAD = "<workload>."
CHECKS: dict[str, list[str]] = {
    "role": [
        "`tenant` without a `tenant` section; `platform` with `admission.enabled: false` "
        "(tenants' SDK clients create sandboxes only the admission backstop checks)",
        "a tenant stack setting platform sections (nodePool, isolation, controlPlane, router, "
        "gateway, admission): they belong to its platform stack",
    ],
    "production": [
        "`true` with a router or sandbox image that is not pinned by `@sha256:` digest",
    ],
    "cluster.mode": [
        "`platform-stack` outside a tenant stack; `create`/`existing` in a tenant stack",
    ],
    "cluster.project": [
        "missing in a GKE mode (create, existing)",
        "not a GCP project ID (6–30 lower-case letters, digits, '-'; a letter first)",
    ],
    "cluster.location": ["missing in a GKE mode; neither a region nor a zone"],
    "cluster.name": [
        f"in a GKE mode: not a GKE name (a letter first, at most {gcp_rules.GKE_NAME_MAX} "
        "characters)",
    ],
    "cluster.autopilot": [
        "`true`: Autopilot allows neither nested virtualization nor kata-deploy's host mounts",
    ],
    "cluster.network": ["in a GKE mode: neither a Compute Engine name nor a resource path"],
    "cluster.subnetwork": ["in a GKE mode: neither a Compute Engine name nor a resource path"],
    "cluster.systemPool.minNodes": ["above `cluster.systemPool.maxNodes`"],
    "cluster.systemPool.maxNodes": [
        f"above GKE's {gcp_rules.MAX_NODES_PER_POOL_ZONE} nodes per node pool and zone",
    ],
    "cluster.systemPool.diskSizeGb": [
        f"above GCE's {gcp_rules.DISK_GB_MAX} GB boot disk limit",
    ],
    "cluster.managedAgentSandboxAddon": [
        "`true` with `controlPlane.enabled: true`: both install the agent-sandbox CRDs",
    ],
    "cluster.kubeconfig.context": [
        "missing with `cluster.mode: kubeconfig` (never the active context by accident); the "
        "`kubeconfig` section with any other mode",
    ],
    "nodePool.name": [
        f"not a GKE name of at most {gcp_rules.NODE_POOL_NAME_MAX} characters: GKE allows "
        f"{gcp_rules.GKE_NAME_MAX} and the pool is named <name>-pool-<7 random characters>",
    ],
    "nodePool.machineType": [
        "a series that cannot nest virtualization for Kata (E2, AMD, Arm, M-series) or that "
        "this platform cannot size",
    ],
    "nodePool.minCpuPlatform": [
        "not a CPU platform of the machine's series (e.g. N2: Intel Cascade Lake, Intel Ice "
        "Lake); on N1 with Kata, older than Intel Haswell",
    ],
    "nodePool.minNodes": ["above `nodePool.maxNodes`"],
    "nodePool.maxNodes": [
        f"above GKE's {gcp_rules.MAX_NODES_PER_POOL_ZONE} nodes per node pool and zone",
        "too few nodes for the declared sandboxes (unless `isolation.capacity.onOvercommit: warn`)",
    ],
    "nodePool.diskSizeGb": [
        "below 150 with Kata (every sandbox pulls its image and boots a guest on the node)",
        f"above GCE's {gcp_rules.DISK_GB_MAX} GB",
    ],
    "nodePool.diskType": ["anything but `hyperdisk-balanced` on C4 and N4 machines"],
    "nodePool.imageType": [
        "anything but `UBUNTU_CONTAINERD` with Kata (COS has a read-only /opt); anything but "
        "`COS_CONTAINERD` with gVisor",
    ],
    "nodePool.zones": [
        "not a zone, a zone outside the cluster's region, or a zone listed twice",
    ],
    "nodePool.labels": [
        "keys or values that are not Kubernetes labels",
        "keys under kubernetes.io, k8s.io (the kubelet refuses them: the node never registers), "
        "cloud.google.com (GKE's), katacontainers.io (would open kata-deploy's readiness gate) "
        "or agent-sandbox.dev (the platform's)",
    ],
    "nodePool.maxPodsPerNode": [
        "too few to leave a pod slot for a sandbox beside GKE's system pods",
    ],
    "nodePool.serviceAccount": ["not a service account e-mail (…@….gserviceaccount.com)"],
    "isolation.runtime": ["`gvisor` on a kubeconfig cluster (GKE Sandbox only)"],
    "isolation.kata.version": [
        "not a kata-deploy 4.x release (the DaemonSet is rendered from 4.x)"
    ],
    "isolation.kata.imageRepository": ["a tag or digest in it (the tag comes from the version)"],
    "isolation.kata.shims": ["empty, an unknown shim, or a shim listed twice"],
    "isolation.kata.namespace": [
        "the control plane's namespace, `sandboxes.namespace`, a namespace in "
        "`admission.sandboxNamespaces`, or default / kube-public / kube-node-lease: the "
        "namespace would be declared twice, or sandboxes would share kata-deploy's privileged "
        "namespace, or admission would refuse kata-deploy's pods",
    ],
    "isolation.defaultRuntimeClass": ["a class this stack does not install"],
    "isolation.capacity.hostMemoryPerSandboxMib": [
        "larger than what a node has for sandboxes (no sandbox would fit)",
    ],
    "isolation.capacity.reservedMemoryMib": [
        "so large that a node has no memory left for one sandbox",
    ],
    "isolation.capacity.reservedCpuMillis": [
        "so large that a node has no CPU left for one sandbox",
    ],
    "controlPlane.enabled": ["`true` with `cluster.managedAgentSandboxAddon: true`"],
    "controlPlane.version": ["not a release tag such as v1.0.3"],
    "controlPlane.manifest": [
        "neither a local path nor an http(s):// or file:// URL; a plain `http://` URL without "
        "`controlPlane.sha256` (anyone on the path could change what is installed)",
    ],
    "controlPlane.sha256": [
        "not 64 hex digits; a manifest whose digest differs (checked before anything registers)",
    ],
    "controlPlane.imageRegistry": ["a scheme, a trailing slash, or anything not a registry prefix"],
    "controlPlane.resources.requests": [
        "CPU with a byte suffix or finer than 1m; memory in millibytes, fractions of a byte or "
        "below 6Mi",
    ],
    "controlPlane.resources.limits": ["below the matching request"],
    "router.image": [
        "an empty or malformed image reference; a mutable tag when `production: true`",
    ],
    "router.proxyTimeoutSeconds": ["above `gateway.timeoutSec` (the load balancer would cut in)"],
    "router.trustedProxyCidrs": ["an entry that is not a CIDR"],
    "router.resources.requests": [
        "CPU with a byte suffix or finer than 1m; memory in millibytes, fractions of a byte or "
        "below 6Mi",
    ],
    "router.resources.limits": ["below the matching request"],
    "gateway.enabled": [
        "`true` on a kubeconfig cluster (the classes are GKE's) or with `router.enabled: false`",
    ],
    "gateway.className": [f"not one of GKE's gateway classes ({', '.join(c.GATEWAY_CLASSES)})"],
    "gateway.https.certificateSecret": ["set together with `preSharedCertificate`, or neither"],
    "gateway.https.preSharedCertificate": ["set together with `certificateSecret`, or neither"],
    "gateway.timeoutSec": ["below `router.proxyTimeoutSeconds`"],
    "sandboxes.namespace": [
        "a reserved namespace (kube-*, the control plane's); `default` with "
        "`createNamespace: true`; set at all in a tenant stack",
    ],
    "sandboxes.createNamespace": [
        "set in a tenant stack (the platform stack creates a tenant's namespace: `tenants[]`)"
    ],
    "sandboxes.podSecurity": [
        "`restricted` while a workload's security overrides need baseline",
    ],
    WORKLOAD + "name": ["a name used twice in the same list"],
    WORKLOAD + "image": ["a mutable tag when `production: true`"],
    WORKLOAD + "ports[].name": ["without a letter, or used twice"],
    WORKLOAD + "ports[].containerPort": ["used twice"],
    WORKLOAD + "resources.requests": [
        "without cpu and memory; CPU with a byte suffix or finer than 1m; memory or "
        "ephemeral-storage in millibytes or fractions of a byte; memory below 6Mi",
    ],
    WORKLOAD + "resources.limits": [
        "without cpu and memory (Kata sizes the VM from them); below the matching request",
    ],
    WORKLOAD + "runtimeClass": ["a class this stack does not install"],
    WORKLOAD + "storage[].name": ["used twice"],
    WORKLOAD + "storage[].mountPath": ["used twice"],
    WORKLOAD + "storage[].type": ["`hostPath` (it reaches past the VM boundary)"],
    WORKLOAD + "storage[].storageClass": ["set on an emptyDir"],
    WORKLOAD + "storage[].accessMode": ["set on an emptyDir"],
    WORKLOAD + "egressAllowlist": [
        "an entry that is not a network CIDR, or one that overlaps the metadata server's "
        "link-local range",
    ],
    WORKLOAD + "readinessProbe.port": ["a port the workload does not declare in `ports`"],
    WORKLOAD + "livenessProbe.port": ["a port the workload does not declare in `ports`"],
    WORKLOAD + "security.runAsUser": ["0 while `runAsNonRoot` is true"],
    WORKLOAD + "security.addCapabilities": [
        "a capability beyond the Pod Security baseline (e.g. SYS_ADMIN, NET_ADMIN)",
    ],
    WORKLOAD + "security.privileged": ["`true`: a privileged container defeats the isolation"],
    WORKLOAD + "hostNetwork": ["`true`: never shared with a sandbox"],
    WORKLOAD + "hostPID": ["`true`: never shared with a sandbox"],
    WORKLOAD + "hostIPC": ["`true`: never shared with a sandbox"],
    WORKLOAD + "labels": [
        "keys or values that are not Kubernetes labels; keys under agents.x-k8s.io, "
        "kubernetes.io, k8s.io or agent-sandbox.dev (set by the controller, Kubernetes or "
        "the platform)",
    ],
    "sandboxes.warmPools[].name": ["a name used twice"],
    "sandboxes.warmPools[].template": ["a template not declared in `sandboxes.templates`"],
    "sandboxes.sandboxes[].name": [
        "with `service: true`, a name that does not start with a letter: the Service it names "
        "is a DNS-1035 label",
    ],
    "sandboxes.sandboxes[].shutdownTime": [
        "a time already past (the controller would shut the sandbox down at once)",
    ],
    "admission.sandboxNamespaces": [
        "a reserved namespace (system and platform pods run there without a sandbox class); a "
        "namespace listed twice",
    ],
    "tenant.platformStack": ["a stack of another project than agent-sandbox-platform"],
    "tenant.namespace": ["a system namespace or `default`"],
    "tenants[].namespace": ["a system namespace or `default`; a namespace declared twice"],
    "tenants[].quota.cpu": ["below `tenants[].limits.maxCpu`"],
    "tenants[].quota.memory": ["below `tenants[].limits.maxMemory`"],
    "tenants[].limits.defaultCpu": ["outside defaultRequestCpu <= defaultCpu <= maxCpu"],
    "tenants[].limits.defaultMemory": [
        "outside defaultRequestMemory <= defaultMemory <= maxMemory"
    ],
    "tenant.clientGroups": ["a group listed twice"],
    "tenant.clientServiceAccounts": ["a name listed twice"],
}

_WORKLOAD_LISTS = ("sandboxes.templates[].", "sandboxes.sandboxes[].")


def checks_for(path: str) -> list[str]:
    out = list(CHECKS.get(path, []))
    for prefix in _WORKLOAD_LISTS:
        if path.startswith(prefix):
            out += CHECKS.get(WORKLOAD + path.removeprefix(prefix), [])
    return out


def _default_at(root: Any, path: str) -> Any:
    """The default a stack gets at ``path``: a nested model's default instance wins over its
    field defaults (router.resources.requests is the router's, not ResourceSettings' {})."""
    model, value = model_of(root), _UNSET
    for part in re.findall(r"[^.\[\]]+|\[\]", path):
        if part == "[]":
            value = _UNSET  # an item of a list has only its model's field defaults
            continue
        assert model is not None
        name = next(n for n, f in model.model_fields.items() if alias(n, f) == part)
        field = model.model_fields[name]
        if value is not _UNSET and value is not None and value is not PydanticUndefined:
            value = getattr(value, name)
        else:
            value = field.default
        tp = field.annotation
        inner = typing.get_args(tp)[0] if typing.get_origin(tp) is list else tp
        model = model_of(inner)
    return value


_UNSET = object()


def _default(root: Any, leaf: Leaf) -> str:
    default: Any = _default_at(root, leaf.path)
    if default is PydanticUndefined:
        return "required"
    if default is None:
        return "`null`"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, list):
        return f"`[{', '.join(map(str, default))}]`"
    if isinstance(default, dict) and not default:
        return "`{}`"
    if isinstance(default, dict):
        inner = ", ".join(f"{k}: {v}" for k, v in default.items())
        return f"`{{{inner}}}`"
    return f"`{default}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rows(root: Any) -> Iterator[tuple[str, str, str, str]]:
    """(setting, default, accepts, refused further) per setting; the workload settings that
    templates and standalone sandboxes share come once, as sandboxes.{templates,sandboxes}[]."""
    seen: set[str] = set()
    for leaf in walk(root):
        path = leaf.path
        accepts = describe_node(resolve(root, _loc(path)))
        row = (path, _default(root, leaf), accepts, "; ".join(checks_for(path)))
        twin = None
        if path.startswith(_WORKLOAD_LISTS[0]):
            twin = _WORKLOAD_LISTS[1] + path.removeprefix(_WORKLOAD_LISTS[0])
        elif path.startswith(_WORKLOAD_LISTS[1]):
            twin = _WORKLOAD_LISTS[0] + path.removeprefix(_WORKLOAD_LISTS[1])
        if twin is not None and twin in _paths(root):
            rest = path.split("[].", 1)[1]
            merged = f"sandboxes.{{templates,sandboxes}}[].{rest}"
            if merged in seen:
                continue
            seen.add(merged)
            row = (merged, *row[1:])
        yield row


_PATH_CACHE: dict[int, set[str]] = {}


def _paths(root: Any) -> set[str]:
    key = id(root)
    if key not in _PATH_CACHE:
        _PATH_CACHE[key] = {leaf.path for leaf in walk(root)}
    return _PATH_CACHE[key]


def _loc(path: str) -> tuple[int | str, ...]:
    out: list[int | str] = []
    for part in path.split("."):
        name, brackets, rest = part.partition("[]")
        out.append(name)
        if brackets:
            out.append(0)
            if rest:
                out.append(rest)
    return tuple(out)


HEADER = """# Settings: what each one accepts and what is refused

Generated from the settings models by `bin/settings-refusals` (a test fails when this file and
the models disagree). Every refusal happens before any resource registers and names the setting
as written in the stack file (`agent-sandbox-platform:<path>`), the value given, what is allowed
and how to fix it. The config reference in README.md says what each setting does.

**The stack file itself** (read as the Pulumi CLI reads it):
- a key given twice in one mapping is refused (PyYAML would silently keep the last one);
- every config key names its namespace; only `pulumi`, `kubernetes`, `gcp`, `random` and
  `agent-sandbox-platform` are accepted — anything else (e.g. `agent-sandbox-platfrom:router`)
  is refused with a did-you-mean, never ignored;
- settings are spelled in camelCase (`machineType`); a snake_case spelling (`machine_type`) or
  an unknown key at any level is refused, naming the keys that exist there;
- an unquoted timestamp stays the text written, and only `true`/`false` are booleans.

**What these checks cannot know** (GCP and the cluster answer at `pulumi up`): whether the
project, network, service account or cluster exists; quotas and organization policies (e.g.
`constraints/compute.disableNestedVirtualization`); whether a machine type or CPU platform is
offered in the chosen zones; what the agent-sandbox controller does with the names it generates.
The GCP limits used here, with their sources, are written down in
`components/settings/gcp_rules.py`.

**Every setting** refuses a value of another type or outside "Accepts" below. A number written
where a Kubernetes quantity is expected (`cpu: 1`) is taken as that quantity, as Kubernetes does.

| Setting | Default | Accepts | Also refused (and why) |
| --- | --- | --- | --- |
"""


def render(root: Any) -> str:
    lines = [
        f"| `{path}` | {_cell(default)} | {_cell(accepts)} | {_cell(checks) or '—'} |"
        for path, default, accepts, checks in rows(root)
    ]
    return HEADER + "\n".join(lines) + "\n"
