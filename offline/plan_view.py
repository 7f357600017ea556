"""Turn a recorded Plan into what a reviewer reads: the resource tree with the properties that
matter per type, the capacity plan, the dependency order, warnings, stack outputs, and the
machine-readable JSON form. Secret values never leave this module in clear text."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from components import constants as c
from components.gke.cluster import DEPLOYER_ROLES, NESTED_VIRTUALIZATION_CONSTRAINT, REQUIRED_APIS

from .engine import Plan, Registration
from .graph import (
    Graph,
    dependency_graph,
    dependents,
    is_node,
    layers,
    provider_urn,
    sandbox_pool_urns,
)

SECRET = "[secret]"
SANDBOX_POOL_COMPONENT = c.type_token("node_pool", "SandboxNodePool")
# In the dependency listing, a layer shows at most this many resources of one type by name.
GROUP_AFTER = 6
WORKLOAD_LINES = 10  # capacity-plan workloads listed one by one


# ---------------------------------------------------------------------------------------------
# secrets
# ---------------------------------------------------------------------------------------------
def _join(path: str, key: str) -> str:
    # The same path spelling as offline.engine records in Registration.secret_paths.
    return f"{path}.{key}" if path else key


def mask(value: Any, leaf: Callable[[Any], Any]) -> Any:
    """Keep the shape (keys, list lengths) of a secret value, replace every leaf."""
    if isinstance(value, dict):
        return {k: mask(v, leaf) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, leaf) for v in value]
    return leaf(value)


def redact(
    value: Any,
    secret_paths: Iterable[str],
    leaf: Callable[[str, Any], Any] = lambda _path, _value: SECRET,
    path: str = "",
) -> Any:
    """``value`` with everything at or below a secret path replaced by ``leaf(path, value)``."""
    paths = secret_paths if isinstance(secret_paths, (set, frozenset)) else set(secret_paths)
    if not paths:
        return value
    if path in paths:
        return mask(value, lambda v: leaf(path, v))
    if isinstance(value, dict):
        return {k: redact(v, paths, leaf, _join(path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, paths, leaf, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def redacted_inputs(reg: Registration) -> dict[str, Any]:
    out: dict[str, Any] = redact(reg.inputs, reg.secret_paths)
    return out


def _leaves(value: Any) -> Iterable[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def secret_values(plan: Plan, min_length: int = 8) -> set[str]:
    """Every clear-text secret string of the plan (inputs and stack outputs), for leak checks.

    Short values are left out: they would match innocent text (``true``, a port number).
    """
    found: set[str] = set()
    for reg in plan.registrations:
        if reg.secret_paths:
            marked = redact(reg.inputs, reg.secret_paths, lambda _p, v: ("\0secret", v))
            for leaf in _leaves(marked):
                if isinstance(leaf, tuple) and leaf[:1] == ("\0secret",):
                    found.add(str(leaf[1]))
    for key in plan.secret_outputs:
        found.update(str(v) for v in _leaves(plan.outputs.get(key)))
    return {v for v in found if len(v) >= min_length}


def public_outputs(plan: Plan) -> dict[str, Any]:
    return {k: (SECRET if k in plan.secret_outputs else v) for k, v in plan.outputs.items()}


# ---------------------------------------------------------------------------------------------
# per-type properties a reviewer cares about
# ---------------------------------------------------------------------------------------------
Props = list[tuple[str, str]]


def dig(value: Any, path: str, default: Any = None) -> Any:
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return default
    return value


def fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return ", ".join(f"{k}={fmt(v)}" for k, v in sorted(value.items())) or "{}"
    if isinstance(value, list):
        return ", ".join(fmt(v) for v in value) or "[]"
    return str(value)


def _add(props: Props, label: str, value: Any) -> None:
    if value is not None and value != [] and value != {}:
        props.append((label, value if isinstance(value, str) else fmt(value)))


def _image(image: str) -> str:
    return f"{image} (pinned)" if "@sha256:" in image else f"{image} (tag, not pinned by digest)"


def _resources(r: dict[str, Any]) -> str:
    return "; ".join(
        f"{kind} " + " ".join(f"{k} {v}" for k, v in (r.get(kind) or {}).items())
        for kind in ("requests", "limits")
        if r.get(kind)
    )


def _pod(props: Props, pod: Any) -> None:
    """What matters in a pod spec: isolation, images, placement, ports, resources."""
    if not isinstance(pod, dict):
        return
    _add(props, "runtimeClassName", pod.get("runtimeClassName"))
    containers = [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]
    _add(props, "images", [_image(str(ct.get("image"))) for ct in containers if ct.get("image")])
    ports = [
        f"{p.get('name') + ':' if p.get('name') else ''}{p.get('containerPort')}"
        for ct in containers
        for p in ct.get("ports") or []
    ]
    _add(props, "ports", ports)
    resources = [
        f"{ct.get('name', '?')}: {_resources(ct['resources'])}"
        for ct in pod.get("containers") or []
        if ct.get("resources")
    ]
    _add(props, "resources", "; ".join(resources) or None)
    _add(props, "serviceAccount", pod.get("serviceAccountName"))
    _add(props, "nodeSelector", pod.get("nodeSelector"))
    tolerations = [
        f"{t.get('key', '*')}{'=' + t['value'] if t.get('value') else ''}:{t.get('effect', '*')}"
        for t in pod.get("tolerations") or []
    ]
    _add(props, "tolerations", tolerations)
    _add(props, "terminationGracePeriodSeconds", pod.get("terminationGracePeriodSeconds"))


def _gke_cluster(i: dict[str, Any]) -> Props:
    p: Props = []
    _add(p, "location", i.get("location"))
    _add(p, "releaseChannel", dig(i, "releaseChannel.channel"))
    _add(p, "gatewayApi", dig(i, "gatewayApiConfig.channel"))
    _add(p, "datapath", i.get("datapathProvider"))
    _add(p, "networkingMode", i.get("networkingMode"))
    _add(p, "workloadIdentity", dig(i, "workloadIdentityConfig.workloadPool"))
    _add(p, "removeDefaultNodePool", i.get("removeDefaultNodePool"))
    _add(p, "managedAgentSandboxAddon", dig(i, "addonsConfig.agentSandboxConfig.enabled"))
    _add(p, "deletionProtection", i.get("deletionProtection"))
    return p


def _node_pool(i: dict[str, Any]) -> Props:
    p: Props = []
    n = i.get("nodeConfig") or {}
    _add(p, "name", i.get("name") or (f"{i['namePrefix']}*" if i.get("namePrefix") else None))
    _add(p, "machineType", n.get("machineType"))
    amf = n.get("advancedMachineFeatures") or {}
    if amf:
        nested = amf.get("enableNestedVirtualization")
        _add(
            p,
            "nestedVirtualization",
            f"{fmt(bool(nested))} (threadsPerCore {amf.get('threadsPerCore')})",
        )
    _add(p, "imageType", n.get("imageType"))
    _add(p, "sandboxConfig", dig(n, "sandboxConfig.type"))
    _add(p, "minCpuPlatform", n.get("minCpuPlatform"))
    taints = [f"{t.get('key')}={t.get('value')}:{t.get('effect')}" for t in n.get("taints") or []]
    _add(p, "taints", taints)
    _add(p, "labels", n.get("labels"))
    a = i.get("autoscaling") or {}
    lo, hi = a.get("totalMinNodeCount"), a.get("totalMaxNodeCount")
    scope = "total"
    if lo is None and hi is None:
        lo, hi, scope = a.get("minNodeCount"), a.get("maxNodeCount"), "per zone"
    if lo is not None or hi is not None:
        _add(p, "autoscaling", f"{lo}-{hi} nodes ({scope})")
    _add(p, "spot", n.get("spot"))
    _add(p, "maxPodsPerNode", i.get("maxPodsPerNode"))
    if n.get("diskSizeGb") is not None:
        _add(p, "bootDisk", f"{n.get('diskSizeGb')} GB {n.get('diskType') or ''}".strip())
    _add(p, "workloadMetadata", dig(n, "workloadMetadataConfig.mode"))
    _add(p, "secureBoot", dig(n, "shieldedInstanceConfig.enableSecureBoot"))
    _add(p, "serviceAccount", n.get("serviceAccount"))
    return p


def _runtime_class(i: dict[str, Any]) -> Props:
    p: Props = []
    _add(p, "handler", i.get("handler"))
    _add(p, "overhead", dig(i, "overhead.podFixed"))
    _add(p, "nodeSelector", dig(i, "scheduling.nodeSelector"))
    tolerations = [
        f"{t.get('key', '*')}{'=' + t['value'] if t.get('value') else ''}:{t.get('effect', '*')}"
        for t in dig(i, "scheduling.tolerations") or []
    ]
    _add(p, "tolerations", tolerations)
    return p


def _workload(i: dict[str, Any]) -> Props:
    p: Props = []
    _add(p, "replicas", dig(i, "spec.replicas"))
    _pod(p, dig(i, "spec.template.spec"))
    return p


def _service(i: dict[str, Any]) -> Props:
    p: Props = []
    spec = i.get("spec") or {}
    _add(p, "type", spec.get("type"))
    if spec.get("clusterIP") == "None":
        _add(p, "clusterIP", "None (headless)")
    ports = [
        f"{(x.get('name') + ' ') if x.get('name') else ''}{x.get('port')}"
        f"->{x.get('targetPort', x.get('port'))}/{x.get('protocol', 'TCP')}"
        for x in spec.get("ports") or []
    ]
    _add(p, "ports", ports)
    _add(p, "selector", spec.get("selector"))
    return p


def _sandbox(i: dict[str, Any]) -> Props:
    p: Props = []
    spec = i.get("spec") or {}
    _add(p, "operatingMode", spec.get("operatingMode"))
    _pod(p, dig(spec, "podTemplate.spec"))
    _add(p, "service", spec.get("service"))
    _add(p, "shutdownTime", spec.get("shutdownTime"))
    _add(p, "shutdownPolicy", spec.get("shutdownPolicy"))
    _add(p, "networkPolicyManagement", spec.get("networkPolicyManagement"))
    return p


def _warm_pool(i: dict[str, Any]) -> Props:
    p: Props = []
    _add(p, "replicas", dig(i, "spec.replicas"))
    _add(p, "template", dig(i, "spec.sandboxTemplateRef.name"))
    return p


def _claim(i: dict[str, Any]) -> Props:
    p: Props = []
    _add(p, "warmPool", dig(i, "spec.warmPoolRef.name"))
    return p


def _gateway(i: dict[str, Any]) -> Props:
    p: Props = []
    _add(p, "class", dig(i, "spec.gatewayClassName"))
    listeners = [
        f"{x.get('name')} {x.get('protocol')}:{x.get('port')}"
        + (f" {x['hostname']}" if x.get("hostname") else "")
        for x in dig(i, "spec.listeners") or []
    ]
    _add(p, "listeners", listeners)
    return p


def _ref(r: dict[str, Any]) -> str:
    ns = f"{r['namespace']}/" if r.get("namespace") else ""
    port = f":{r['port']}" if r.get("port") else ""
    return f"{r.get('kind', '')} {ns}{r.get('name')}{port}".strip()


def _http_route(i: dict[str, Any]) -> Props:
    p: Props = []
    _add(p, "parents", [_ref(r) for r in dig(i, "spec.parentRefs") or []])
    _add(p, "hostnames", dig(i, "spec.hostnames"))
    backends = [
        _ref(b) for rule in dig(i, "spec.rules") or [] for b in rule.get("backendRefs") or []
    ]
    _add(p, "backends", backends)
    return p


def _gcp_backend_policy(i: dict[str, Any]) -> Props:
    p: Props = []
    _add(p, "target", _ref(dig(i, "spec.targetRef") or {}) or None)
    _add(p, "timeoutSec", dig(i, "spec.default.timeoutSec"))
    _add(p, "connectionDraining", dig(i, "spec.default.connectionDraining.drainingTimeoutSec"))
    return p


def _health_check_policy(i: dict[str, Any]) -> Props:
    p: Props = []
    _add(p, "target", _ref(dig(i, "spec.targetRef") or {}) or None)
    cfg = dig(i, "spec.default.config") or {}
    _add(p, "check", cfg.get("type"))
    for key in ("httpHealthCheck", "httpsHealthCheck", "http2HealthCheck"):
        if key in cfg:
            _add(p, "requestPath", cfg[key].get("requestPath"))
            _add(p, "port", cfg[key].get("port"))
    return p


def _crd(i: dict[str, Any]) -> Props:
    p: Props = []
    spec = i.get("spec") or {}
    _add(p, "kind", f"{dig(spec, 'names.kind')} ({spec.get('group')})")
    _add(p, "versions", [v.get("name") for v in spec.get("versions") or [] if v.get("served")])
    return p


def _namespace(i: dict[str, Any]) -> Props:
    p: Props = []
    labels = {
        k: v for k, v in (dig(i, "metadata.labels") or {}).items() if k not in c.COMMON_LABELS
    }
    _add(p, "labels", labels)
    return p


def _keys(i: dict[str, Any]) -> Props:
    p: Props = []
    _add(p, "type", i.get("type"))
    _add(p, "keys", sorted({*(i.get("data") or {}), *(i.get("stringData") or {})}))
    return p


def _rbac_role(i: dict[str, Any]) -> Props:
    p: Props = []
    _add(p, "rules", len(i.get("rules") or []))
    return p


def _binding(i: dict[str, Any]) -> Props:
    p: Props = []
    _add(p, "role", dig(i, "roleRef.name"))
    subjects = [_ref(s) for s in i.get("subjects") or []]
    _add(p, "subjects", subjects)
    return p


def _network_policy(i: dict[str, Any]) -> Props:
    p: Props = []
    _add(p, "podSelector", dig(i, "spec.podSelector.matchLabels") or "all pods")
    _add(p, "policyTypes", dig(i, "spec.policyTypes"))
    return p


def _vap(i: dict[str, Any]) -> Props:
    p: Props = []
    _add(p, "failurePolicy", dig(i, "spec.failurePolicy"))
    _add(p, "validations", len(dig(i, "spec.validations") or []))
    return p


def _vap_binding(i: dict[str, Any]) -> Props:
    p: Props = []
    _add(p, "policy", dig(i, "spec.policyName"))
    _add(p, "validationActions", dig(i, "spec.validationActions"))
    return p


def _spec_fields(*fields: str) -> Callable[[dict[str, Any]], Props]:
    def extract(i: dict[str, Any]) -> Props:
        p: Props = []
        for f in fields:
            _add(p, f.rsplit(".", 1)[-1], dig(i, f))
        return p

    return extract


def _opaque_manifest(i: dict[str, Any]) -> Props:
    p: Props = []
    _add(p, "file", i.get("file") or i.get("files"))
    _add(p, "unexpanded", "rendered inside the provider binary: its objects are invisible offline")
    return p


def _k8s_provider(i: dict[str, Any]) -> Props:
    p: Props = []
    _add(p, "context", i.get("context"))
    _add(p, "clusterIdentifier", i.get("clusterIdentifier"))
    _add(p, "kubeconfig", SECRET if i.get("kubeconfig") == SECRET else i.get("kubeconfig"))
    return p


# Keyed by Pulumi type token, or by Kubernetes kind for any "kubernetes:<apiVersion>:<Kind>".
EXTRACTORS: dict[str, Callable[[dict[str, Any]], Props]] = {
    "gcp:container/cluster:Cluster": _gke_cluster,
    "gcp:container/nodePool:NodePool": _node_pool,
    "gcp:serviceaccount/account:Account": _spec_fields("accountId"),
    "gcp:projects/iAMMember:IAMMember": _spec_fields("role"),
    "random:index/randomPassword:RandomPassword": _spec_fields("length", "special"),
    "pulumi:providers:kubernetes": _k8s_provider,
    "kubernetes:yaml/v2:ConfigFile": _opaque_manifest,
    "kubernetes:yaml/v2:ConfigGroup": _opaque_manifest,
    "kubernetes:helm.sh/v4:Chart": _opaque_manifest,
    "Namespace": _namespace,
    "CustomResourceDefinition": _crd,
    "RuntimeClass": _runtime_class,
    "DaemonSet": _workload,
    "Deployment": _workload,
    "StatefulSet": _workload,
    "Service": _service,
    "Secret": _keys,
    "ConfigMap": _keys,
    "ClusterRole": _rbac_role,
    "Role": _rbac_role,
    "ClusterRoleBinding": _binding,
    "RoleBinding": _binding,
    "NetworkPolicy": _network_policy,
    "ResourceQuota": _spec_fields("spec.hard"),
    "LimitRange": _spec_fields("spec.limits"),
    "PodDisruptionBudget": _spec_fields("spec.minAvailable", "spec.maxUnavailable"),
    "PriorityClass": _spec_fields("value"),
    "ValidatingAdmissionPolicy": _vap,
    "ValidatingAdmissionPolicyBinding": _vap_binding,
    c.KIND_SANDBOX: _sandbox,
    c.KIND_SANDBOX_TEMPLATE: _sandbox,
    c.KIND_SANDBOX_WARM_POOL: _warm_pool,
    c.KIND_SANDBOX_CLAIM: _claim,
    "Gateway": _gateway,
    "HTTPRoute": _http_route,
    "GCPBackendPolicy": _gcp_backend_policy,
    "HealthCheckPolicy": _health_check_policy,
    "ReferenceGrant": _spec_fields("spec.from", "spec.to"),
}


def _kind(reg: Registration) -> str | None:
    if reg.type.startswith("kubernetes:") and reg.type.count(":") == 2:
        return reg.type.split(":")[2]
    return None


def properties(reg: Registration, inputs: dict[str, Any] | None = None) -> Props:
    """The reviewer-relevant properties of one resource, secrets already redacted."""
    i = inputs if inputs is not None else redacted_inputs(reg)
    extractor = EXTRACTORS.get(reg.type) or EXTRACTORS.get(_kind(reg) or "")
    props = extractor(i) if extractor else []
    if _kind(reg):
        _add(props, "waitFor", dig(i, "metadata.annotations", {}).get(c.WAIT_FOR_ANNOTATION))
    o = reg.options
    flags = [k for k in ("retainOnDelete", "protect", "deleteBeforeReplace") if o.get(k)]
    flags += [f"{k}={fmt(o[k])}" for k in ("replaceOnChanges", "ignoreChanges") if o.get(k)]
    if o.get("deletedWith"):
        flags.append("deletedWith")
    if o.get("read"):
        flags.append("read (reads existing state; not managed)")
    _add(props, "options", flags)
    secrets = sorted(reg.secret_paths)
    _add(props, "secretInputs", secrets)
    return props


def opaque_steps(plan: Plan) -> list[Registration]:
    """Components whose objects the mock engine cannot see (they expand inside the provider)."""
    children: dict[str, list[Registration]] = {}
    for reg in plan.registrations:
        children.setdefault(reg.parent, []).append(reg)
    return [r for r in plan.registrations if not r.custom and is_node(r, children)]


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def short_type(type_: str) -> str:
    if type_.startswith("pulumi:providers:"):
        return f"Provider({type_.rsplit(':', 1)[-1]})"
    return type_.rsplit(":", 1)[-1]


def identity(reg: Registration, inputs: dict[str, Any]) -> str:
    """``namespace/name`` as kubectl shows it, when it differs from the Pulumi name."""
    if not _kind(reg):
        return ""
    name = dig(inputs, "metadata.name") or reg.name
    ns = dig(inputs, "metadata.namespace")
    shown = f"{ns}/{name}" if ns else name
    return "" if shown == reg.name else shown


# ---------------------------------------------------------------------------------------------
# text sections
# ---------------------------------------------------------------------------------------------
def render_tree(plan: Plan, graph: Graph | None = None) -> list[str]:
    """Components as headings, resources beneath them with their properties. Siblings come in
    deploy order (dependency layer), then by type and name: the SDK's registration order is
    not stable between runs, and the preview should diff cleanly in review."""
    graph = graph if graph is not None else dependency_graph(plan)
    children: dict[str, list[Registration]] = {}
    for reg in plan.registrations:
        children.setdefault(reg.parent, []).append(reg)
    known = {r.urn for r in plan.registrations}
    layer = {urn: n for n, urns in enumerate(layers(graph)) for urn in urns}

    def first_layer(reg: Registration) -> int:
        if reg.urn in layer:
            return layer[reg.urn]
        return min((first_layer(c) for c in children.get(reg.urn, [])), default=len(layer))

    def ordered(regs: list[Registration]) -> list[Registration]:
        return sorted(regs, key=lambda r: (first_layer(r), r.type, r.name))

    lines = [f"Resources ({len(plan.registrations)} registered, stack {plan.stack})"]

    def walk(reg: Registration, depth: int) -> None:
        pad = "  " * depth
        if not is_node(reg, children):
            lines.append(f"{pad}[{short_type(reg.type)}] {reg.name}")
            for child in ordered(children.get(reg.urn, [])):
                walk(child, depth + 1)
            return
        inputs = redacted_inputs(reg)
        who = identity(reg, inputs)
        lines.append(f"{pad}- {reg.type}  {reg.name}" + (f"  ({who})" if who else ""))
        for label, value in properties(reg, inputs):
            lines.append(f"{pad}    {label}: {value}")
        for child in ordered(children.get(reg.urn, [])):  # parented to a custom resource
            walk(child, depth + 1)

    for reg in ordered([r for r in plan.registrations if r.parent not in known]):
        walk(reg, 1)
    return lines


def render_capacity(plan: Plan) -> list[str]:
    cap = plan.outputs.get("capacity")
    lines = ["Capacity plan (sandbox node pool)"]
    if "capacity" in plan.secret_outputs:
        return [*lines, f"  {SECRET}"]
    if not isinstance(cap, Mapping):
        return [*lines, "  no sandbox node pool in this stack (nothing to size)"]
    g = cap.get
    lines += [
        f"  machine: {g('machine_type')} ({g('vcpus')} vCPU, {g('memory_mib')} MiB); "
        f"~{g('host_memory_per_sandbox_mib')} MiB host memory per sandbox",
        f"  per node: {g('sandboxes_per_node')} sandboxes (limited by {g('limited_by')}); "
        f"maxPodsPerNode {g('max_pods_per_node')}",
        f"  pool: {g('sandboxes_per_node')} x maxNodes {g('max_nodes')} = "
        f"{g('pool_capacity')} sandboxes",
        f"  declared: {g('declared')} (standalone + warm-pool replicas) -> "
        + ("fits" if g("fits") else "DOES NOT FIT"),
    ]
    if g("nodes_needed") is not None:
        lines.append(f"  nodes needed: {g('nodes_needed')} of maxNodes {g('max_nodes')}")
    workloads = [w for w in g("workloads") or [] if isinstance(w, Mapping)]
    for w in workloads[:WORKLOAD_LINES]:
        lines.append(
            f"  - {w.get('setting')}: {w.get('count')} x {w.get('cpu_millis')}m CPU, "
            f"{w.get('memory_mib')} MiB host memory ({w.get('runtime_class')}) -> "
            f"{w.get('per_node')} per node, limited by {w.get('limited_by')}"
        )
    if len(workloads) > WORKLOAD_LINES:
        rest = sum(int(w.get("count") or 0) for w in workloads[WORKLOAD_LINES:])
        more = len(workloads) - WORKLOAD_LINES
        lines.append(f"  ... and {more} more workloads ({rest} sandboxes)")
    return lines


def label(reg: Registration) -> str:
    return f"{short_type(reg.type)} {reg.name}"


def _names(labels: Iterable[str], limit: int = GROUP_AFTER) -> str:
    items = sorted(set(labels))
    return ", ".join(items[:limit]) + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def _grouped(
    regs: list[Registration],
    graph: Graph | None,
    by_urn: Mapping[str, Registration],
    hide: AbstractSet[str] = frozenset(),
) -> list[str]:
    """One line per resource (with what it waits for), or one ``Type xN`` line for a big group."""
    by_type: dict[str, list[Registration]] = {}
    for reg in regs:
        by_type.setdefault(reg.type, []).append(reg)

    def waits(group: list[Registration]) -> str:
        if graph is None:
            return ""
        deps = {label(by_urn[d]) for r in group for d in graph[r.urn] if d not in hide}
        return f"  <- {_names(deps)}" if deps else ""

    out = []
    for type_, group in by_type.items():
        if len(group) > GROUP_AFTER:
            names = ", ".join(r.name for r in group[:3])
            out.append(f"{short_type(type_)} x{len(group)} ({names}, ...){waits(group)}")
        else:
            out.extend(f"{label(r)}{waits([r])}" for r in group)
    return out


def render_dependencies(plan: Plan, graph: Graph | None = None) -> list[str]:
    graph = graph if graph is not None else dependency_graph(plan)
    by_urn = plan.by_urn()
    providers = {r.urn for r in plan.registrations if r.is_provider}
    lines = [
        "Dependency order (each layer waits only for earlier ones; every Kubernetes object also "
        "waits for its provider)"
    ]
    for n, layer in enumerate(layers(graph), start=1):
        regs = sorted((by_urn[u] for u in layer), key=lambda r: (r.type, r.name))
        entries = _grouped(regs, graph, by_urn, providers)
        lines.append(f"  {n}. {entries[0]}")
        lines += [f"     {e}" for e in entries[1:]]
    pools = sandbox_pool_urns(plan, SANDBOX_POOL_COMPONENT)
    if pools:
        waiting = dependents(graph, pools)
        waiters = sorted((by_urn[u] for u in waiting), key=lambda r: (r.type, r.name))
        names = ", ".join(label(by_urn[u]) for u in pools)
        lines.append(f"  Waits for the sandbox node pool ({names}):")
        lines += [f"     {e}" for e in _grouped(waiters, None, by_urn) or ["nothing"]]
        beside = len(graph) - len(waiting) - len(pools)
        lines.append(f"  Deploys beside the pool (does not wait for it): {beside} resources")
    return lines


def _output_value(value: Any) -> str:
    if isinstance(value, str):
        return f"<{value.count(chr(10)) + 1} lines>" if "\n" in value.strip() else value
    return json.dumps(value, sort_keys=True)


def render_outputs(plan: Plan) -> list[str]:
    lines = ["Stack outputs"]
    for key, value in public_outputs(plan).items():
        lines.append(f"  {key}: {SECRET if key in plan.secret_outputs else _output_value(value)}")
    return lines


def render_warnings(plan: Plan) -> list[str]:
    if not plan.warnings:
        return ["Warnings: none"]
    return [f"Warnings ({len(plan.warnings)})", *(f"  ! {w}" for w in plan.warnings)]


def render_first_deploy(plan: Plan) -> list[str]:
    """What a first `pulumi up` of a GKE stack needs, and what this preview cannot prove."""
    if not plan.by_type("gcp:container/nodePool:NodePool"):
        return []
    enabled = bool(plan.by_type("gcp:projects/service:Service"))
    return [
        "First deploy on GKE (docs/gke.md)",
        f"  APIs: {', '.join(REQUIRED_APIS)}"
        + (" (enabled by this stack)" if enabled else " (must already be enabled)"),
        f"  Org policy: {NESTED_VIRTUALIZATION_CONSTRAINT} must not be enforced on the project",
        f"  Deployer roles: {', '.join(DEPLOYER_ROLES)}",
        "  Credentials: Application Default Credentials for pulumi-gcp and, with "
        "cluster.kubeCredentials application-default, for gke-gcloud-auth-plugin",
        "  Not proven offline: GKE/Compute API acceptance (quotas, machine availability in "
        "the zones, org policies), admission, controllers, Kata on the nodes",
    ]


def render(plan: Plan) -> str:
    graph = dependency_graph(plan)
    sections = [
        render_tree(plan, graph),
        render_capacity(plan),
        render_dependencies(plan, graph),
        render_warnings(plan),
        render_outputs(plan),
    ]
    first = render_first_deploy(plan)
    if first:
        sections.insert(-2, first)
    return "\n\n".join("\n".join(s) for s in sections) + "\n"


# ---------------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------------
JSON_KEYS = ("stack", "error", "warnings", "resources", "outputs", "secretOutputs")
RESOURCE_KEYS = (
    "type",
    "name",
    "urn",
    "custom",
    "parent",
    "provider",
    "dependencies",
    "options",
    "inputs",
    "secretPaths",
)


def _sorted(value: Any) -> Any:
    """Dict keys in order, recursively: the engine's map order is not stable between runs."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def plan_json(plan: Plan) -> dict[str, Any]:
    """The plan for other tools: every registration (sorted by URN, so two runs diff cleanly),
    secrets replaced by ``[secret]``."""
    known = {r.urn for r in plan.registrations}
    resources = [
        {
            "type": r.type,
            "name": r.name,
            "urn": r.urn,
            "custom": r.custom,
            "parent": r.parent if r.parent in known else None,
            "provider": provider_urn(r.provider) or None,
            "dependencies": sorted(r.dependencies),
            "options": _sorted(r.options),
            "inputs": _sorted(redacted_inputs(r)),
            "secretPaths": sorted(r.secret_paths),
        }
        for r in sorted(plan.registrations, key=lambda r: r.urn)
    ]
    return {
        "stack": plan.stack,
        "error": plan.error,
        "warnings": list(plan.warnings),
        "resources": resources,
        "outputs": _sorted(public_outputs(plan)),
        "secretOutputs": sorted(plan.secret_outputs),
    }
