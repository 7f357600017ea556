"""The pack's checks as pure functions: (type, props, config) -> violation messages.

``PolicyPack()`` never returns (DESIGN §3 Pulumi), so the checks live here where tests import
them. Props are what the engine sends: camelCase keys, read through ``Mapping``/``Sequence``
proxies (not dicts) that raise ``UnknownValueError`` when a value is not known during preview.
Every read goes through :func:`get`, which turns an unknown into :data:`UNKNOWN`; a check that
meets an unknown skips that part instead of failing the preview.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from pulumi_policy import proxy
from pulumi_policy.proxy import UnknownValueError

from . import constants as c

# The engine's markers for values that are not known yet, in case a caller hands over raw props
# instead of the analyzer's proxies.
_UNKNOWN_SENTINELS = frozenset(
    {
        proxy.UNKNOWN_BOOLEAN_VALUE,
        proxy.UNKNOWN_NUMBER_VALUE,
        proxy.UNKNOWN_STRING_VALUE,
        proxy.UNKNOWN_ARRAY_VALUE,
        proxy.UNKNOWN_ASSET_VALUE,
        proxy.UNKNOWN_ARCHIVE_VALUE,
        proxy.UNKNOWN_OBJECT_VALUE,
    }
)


class _Unknown(enum.Enum):
    UNKNOWN = "UNKNOWN"


UNKNOWN: Final = _Unknown.UNKNOWN
"""A value that cannot be known during preview."""


def _known(value: Any) -> Any:
    if isinstance(value, str) and value in _UNKNOWN_SENTINELS:
        return _Unknown.UNKNOWN
    return value


def get(obj: Any, *path: str | int) -> Any:
    """``obj[path[0]][path[1]]...``; None when absent, UNKNOWN when not known yet."""
    current = _known(obj)
    for key in path:
        if current is UNKNOWN:
            return _Unknown.UNKNOWN
        try:
            if isinstance(key, int):
                if not _is_list(current) or not -len(current) <= key < len(current):
                    return None
                current = current[key]
            else:
                if not isinstance(current, Mapping):
                    return None
                current = current.get(key, None)
        except UnknownValueError:
            return _Unknown.UNKNOWN
        current = _known(current)
        if current is None:
            return None
    return current


def items(obj: Any, *path: str | int) -> list[Any] | Literal[_Unknown.UNKNOWN]:
    """The list at ``path`` ([] when absent); UNKNOWN when the list or an element is unknown."""
    value = get(obj, *path)
    if value is UNKNOWN:
        return _Unknown.UNKNOWN
    if not _is_list(value):
        return []
    out = []
    for i in range(len(value)):
        element = get(value, i)
        if element is UNKNOWN:
            return _Unknown.UNKNOWN
        out.append(element)
    return out


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _path(parts: Iterable[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


# ---------------------------------------------------------------------------------------------
# where a pod spec lives
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PodSpec:
    """A pod spec found in a resource: ``where`` is its property path, for messages."""

    where: tuple[str, ...]
    spec: Any  # Mapping, or UNKNOWN
    # The pod's (or pod template's) metadata.annotations: Mapping, None or UNKNOWN.
    annotations: Any = None


def sandbox_pod_spec(resource_type: str, props: Mapping[str, Any]) -> PodSpec | None:
    """The pod template of a Sandbox or SandboxTemplate; None for any other type."""
    if resource_type not in (c.SANDBOX_TYPE, c.SANDBOX_TEMPLATE_TYPE):
        return None
    return _pod(c.SANDBOX_POD_SPEC_PATH, props)


def workload_pod_spec(resource_type: str, props: Mapping[str, Any]) -> PodSpec | None:
    """The pod spec of a Pod or of a pod-owning workload (Deployment, Job, ...)."""
    path = c.WORKLOAD_POD_SPEC_PATHS.get(resource_type)
    if path is None:
        return None
    return _pod(path, props)


def _pod(path: tuple[str, ...], props: Mapping[str, Any]) -> PodSpec:
    annotations = get(props, *path[:-1], "metadata", "annotations")
    return PodSpec(path, get(props, *path), annotations)


def namespace_of(props: Mapping[str, Any], default: str = c.KUBERNETES_DEFAULT_NAMESPACE) -> Any:
    """metadata.namespace, or the provider's default namespace; UNKNOWN when not known yet."""
    ns = get(props, "metadata", "namespace")
    if ns is UNKNOWN:
        return _Unknown.UNKNOWN
    return ns if isinstance(ns, str) and ns else default


def in_sandbox_namespace(
    resource_type: str,
    props: Mapping[str, Any],
    sandbox_namespaces: Iterable[str],
    default_namespace: str = c.KUBERNETES_DEFAULT_NAMESPACE,
) -> PodSpec | None:
    """The pod spec of a Pod/workload that lives in a sandbox namespace; None otherwise (and
    when the namespace is not known yet)."""
    found = workload_pod_spec(resource_type, props)
    if found is None:
        return None
    ns = namespace_of(props, default_namespace)
    if ns is UNKNOWN or ns not in set(sandbox_namespaces):
        return None
    return found


# ---------------------------------------------------------------------------------------------
# checks on one pod spec
# ---------------------------------------------------------------------------------------------
def runtime_class_present(pod: PodSpec) -> list[str]:
    """runtimeClassName missing, null, empty or whitespace -> a violation."""
    if pod.spec is UNKNOWN:
        return []
    where = _path((*pod.where, "runtimeClassName"))
    if not isinstance(pod.spec, Mapping):
        return [f"{_path(pod.where)} is missing, so {where} is not set"]
    value = get(pod.spec, "runtimeClassName")
    if value is UNKNOWN:
        return []
    if value is None:
        return [f"{where} is not set: the pod would run as a plain container (runc)"]
    if not isinstance(value, str):
        return [f"{where} must be a string, not {type(value).__name__}"]
    if not value.strip():
        return [f"{where} is {value!r}: an empty runtime class means a plain container (runc)"]
    return []


def runtime_class_allowed(pod: PodSpec, allowed: Iterable[str]) -> list[str]:
    """A set runtimeClassName that is not in ``allowed`` -> a violation. Missing/blank values are
    runtime_class_present's business."""
    if pod.spec is UNKNOWN or not isinstance(pod.spec, Mapping):
        return []
    value = get(pod.spec, "runtimeClassName")
    if not isinstance(value, str) or not value.strip():
        return []
    allowed = tuple(allowed)
    if value in allowed:
        return []
    where = _path((*pod.where, "runtimeClassName"))
    return [f"{where} is '{value}', which is not an allowed runtime class ({', '.join(allowed)})"]


_HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


def pod_hardening(pod: PodSpec) -> list[str]:
    """The hardening every sandbox pod needs; one message per problem."""
    spec = pod.spec
    if spec is UNKNOWN or not isinstance(spec, Mapping):
        return []
    out: list[str] = []

    def at(*parts: str | int) -> str:
        return _path((*pod.where, *parts))

    for field in _HOST_NAMESPACES:
        if get(spec, field) is True:
            out.append(f"{at(field)} is true: the pod would share the node's namespace")
    automount = get(spec, "automountServiceAccountToken")
    if automount is not UNKNOWN and automount is not False:
        out.append(
            f"{at('automountServiceAccountToken')} must be false: sandboxed code must not get a "
            "Kubernetes API token"
        )
    account = get(spec, "serviceAccountName")
    if isinstance(account, str) and account not in ("", "default"):
        out.append(
            f"{at('serviceAccountName')} is '{account}': sandboxed code would act as that "
            "service account; remove it"
        )
    volumes = items(spec, "volumes")
    if volumes is not UNKNOWN:
        for i, volume in enumerate(volumes):
            name = get(volume, "name")
            if get(volume, "hostPath") not in (None, UNKNOWN):
                out.append(f"{at('volumes', i)} ('{name}') mounts a hostPath from the node")
            sources = items(volume, "projected", "sources")
            if sources is not UNKNOWN and any(
                get(src, "serviceAccountToken") not in (None, UNKNOWN) for src in sources
            ):
                out.append(f"{at('volumes', i)} ('{name}') projects a service-account token")
    out.extend(_profiles(get(spec, "securityContext"), at("securityContext")))
    sysctls = items(spec, "securityContext", "sysctls")
    if sysctls is not UNKNOWN:
        unsafe = [n for n in (get(x, "name") for x in sysctls) if isinstance(n, str)]
        unsafe = [n for n in unsafe if n not in c.SAFE_SYSCTLS]
        if unsafe:
            out.append(
                f"{at('securityContext', 'sysctls')} sets {', '.join(unsafe)}, beyond the Pod "
                "Security baseline's safe sysctls"
            )
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        containers = items(spec, kind)
        if containers is UNKNOWN:
            continue
        for i, container in enumerate(containers):
            out.extend(
                _container_hardening(container, kind, (*pod.where, kind, i), _escalation_ok(pod))
            )
    return out


def _profiles(security_context: Any, where: str) -> list[str]:
    """Unconfined seccomp or AppArmor in a pod's or container's securityContext."""
    out = []
    for field, name in (("seccompProfile", "seccomp"), ("appArmorProfile", "AppArmor")):
        if get(security_context, field, "type") == "Unconfined":
            out.append(f"{where}.{field} is Unconfined: use RuntimeDefault ({name})")
    return out


def pod_annotations(pod: PodSpec, props: Mapping[str, Any]) -> list[str]:
    """``io.katacontainers.*`` annotations (the VM's kernel parameters and hypervisor) and an
    unconfined AppArmor annotation on the pod (template) metadata beside ``pod.where``."""
    where = (*pod.where[:-1], "metadata", "annotations")
    annotations = get(props, *where)
    if not isinstance(annotations, Mapping):
        return []
    out = []
    for key in annotations:
        if not isinstance(key, str):
            continue
        if key.startswith(c.KATA_ANNOTATION_PREFIX):
            out.append(
                f"{_path(where)} has {key}: Kata reads it as VM configuration (kernel "
                "parameters, hypervisor); remove it"
            )
        if key.startswith(APPARMOR_ANNOTATION) and get(annotations, key) == "unconfined":
            out.append(f"{_path(where)} sets {key}: unconfined; remove it")
    return out


def _escalation_ok(pod: PodSpec) -> bool:
    """The pod template declares the reviewed exception (security.allowPrivilegeEscalation of
    a typed sandbox, e.g. sudo in an IDE terminal inside the Kata VM)."""
    marker = get(pod.annotations, c.ALLOW_PRIVILEGE_ESCALATION_ANNOTATION)
    return isinstance(marker, str) and marker == "true"


def _container_hardening(
    container: Any, kind: str, where: tuple[str | int, ...], escalation_ok: bool = False
) -> list[str]:
    out: list[str] = []
    name = get(container, "name")
    label = f"{_path(where)} ('{name}')" if isinstance(name, str) else _path(where)
    sc = get(container, "securityContext")
    if sc is UNKNOWN:
        return []
    if get(sc, "privileged") is True:
        out.append(f"{label} is privileged (securityContext.privileged: true)")
    escalation = get(sc, "allowPrivilegeEscalation")
    if escalation is not UNKNOWN and escalation is not False and not escalation_ok:
        out.append(
            f"{label} must set securityContext.allowPrivilegeEscalation: false (or, for a "
            "typed sandbox that needs it, set its security.allowPrivilegeEscalation: true, "
            f"which annotates the pod {c.ALLOW_PRIVILEGE_ESCALATION_ANNOTATION}: 'true')"
        )
    drop = items(sc, "capabilities", "drop")
    if drop is not UNKNOWN and "ALL" not in drop:
        out.append(f"{label} must drop all capabilities (securityContext.capabilities.drop: [ALL])")
    add = items(sc, "capabilities", "add")
    beyond = [] if add is UNKNOWN else [x for x in add if x not in c.BASELINE_CAPABILITIES]
    if beyond:
        out.append(
            f"{label} adds {', '.join(map(str, beyond))}, beyond the Pod Security baseline "
            "capabilities (securityContext.capabilities.add)"
        )
    proc = get(sc, "procMount")
    if isinstance(proc, str) and proc != "Default":
        out.append(f"{label} sets securityContext.procMount: {proc}; remove it")
    out.extend(_profiles(sc, f"{label} securityContext"))
    ports = items(container, "ports")
    if ports is not UNKNOWN:
        for port in ports:
            host = get(port, "hostPort")
            if isinstance(host, int | float) and host:
                out.append(f"{label} binds host port {int(host)} (ports[].hostPort)")
    # Ephemeral containers cannot declare resources; the pod's other containers bound them.
    if kind != "ephemeralContainers":
        limits = get(container, "resources", "limits")
        if limits is not UNKNOWN:
            missing = [r for r in ("cpu", "memory") if get(limits, r) is None]
            if missing:
                out.append(f"{label} has no {' or '.join(missing)} limit (resources.limits)")
    return out


# ---------------------------------------------------------------------------------------------
# the pack's resource rules
# ---------------------------------------------------------------------------------------------
def sandbox_runtime_class_required(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    pod = sandbox_pod_spec(resource_type, props)
    return runtime_class_present(pod) if pod else []


def sandbox_runtime_class_allowed(
    resource_type: str, props: Mapping[str, Any], allowed: Iterable[str]
) -> list[str]:
    pod = sandbox_pod_spec(resource_type, props)
    return runtime_class_allowed(pod, allowed) if pod else []


def workload_runtime_class_required(
    resource_type: str,
    props: Mapping[str, Any],
    sandbox_namespaces: Iterable[str],
    default_namespace: str = c.KUBERNETES_DEFAULT_NAMESPACE,
) -> list[str]:
    pod = in_sandbox_namespace(resource_type, props, sandbox_namespaces, default_namespace)
    return runtime_class_present(pod) if pod else []


def workload_runtime_class_allowed(
    resource_type: str,
    props: Mapping[str, Any],
    sandbox_namespaces: Iterable[str],
    allowed: Iterable[str],
    default_namespace: str = c.KUBERNETES_DEFAULT_NAMESPACE,
) -> list[str]:
    pod = in_sandbox_namespace(resource_type, props, sandbox_namespaces, default_namespace)
    return runtime_class_allowed(pod, allowed) if pod else []


def sandbox_pod_hardening(
    resource_type: str,
    props: Mapping[str, Any],
    sandbox_namespaces: Iterable[str],
    default_namespace: str = c.KUBERNETES_DEFAULT_NAMESPACE,
) -> list[str]:
    """Sandbox/SandboxTemplate pod templates everywhere; Pods and workloads in sandbox
    namespaces."""
    pod = sandbox_pod_spec(resource_type, props) or in_sandbox_namespace(
        resource_type, props, sandbox_namespaces, default_namespace
    )
    return [*pod_hardening(pod), *pod_annotations(pod, props)] if pod else []


def machine_series(machine_type: str) -> str:
    """``n2-standard-8`` -> ``n2``; GCE's bare ``custom-4-16384`` is an N1 custom type."""
    series = machine_type.split("-", 1)[0].lower()
    return "n1" if series == "custom" else series


def serves_kata(props: Mapping[str, Any]) -> bool | Literal[_Unknown.UNKNOWN]:
    """A node pool serves Kata when it carries the sandbox pool's label or taint, or asks for
    nested virtualization — unless it is a GKE Sandbox (gVisor) pool."""
    node = get(props, "nodeConfig")
    if node is UNKNOWN:
        return _Unknown.UNKNOWN
    sandbox_type = get(node, "sandboxConfig", "type")
    if sandbox_type is UNKNOWN:
        return _Unknown.UNKNOWN
    if isinstance(sandbox_type, str) and sandbox_type.upper() == "GVISOR":
        return False
    label = get(node, "labels", c.SANDBOX_POOL_LABEL)
    taints = items(node, "taints")
    features = get(node, "advancedMachineFeatures")
    if label is UNKNOWN or features is UNKNOWN or taints is UNKNOWN:
        return _Unknown.UNKNOWN
    tainted = any(get(t, "key") == c.SANDBOX_POOL_TAINT_KEY for t in taints)
    return label == c.SANDBOX_POOL_LABEL_VALUE or tainted or features is not None


def kata_node_pool(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """A GKE node pool that serves Kata: nested virtualization, Intel, UBUNTU_CONTAINERD."""
    if resource_type != c.NODE_POOL_TYPE or serves_kata(props) is not True:
        return []
    node = get(props, "nodeConfig")
    out: list[str] = []
    nested = get(node, "advancedMachineFeatures", "enableNestedVirtualization")
    if nested is not UNKNOWN and nested is not True:
        out.append(
            "nodeConfig.advancedMachineFeatures.enableNestedVirtualization is not true: Kata "
            "needs nested virtualization on the node"
        )
    machine = get(node, "machineType")
    if machine is None:
        out.append(
            "nodeConfig.machineType is not set: GKE's default (e2-medium) cannot nest "
            "virtualization"
        )
    elif isinstance(machine, str):
        series = machine_series(machine)
        if series not in c.NESTED_VIRTUALIZATION_SERIES:
            out.append(
                f"nodeConfig.machineType '{machine}' cannot nest virtualization (series "
                f"{series.upper()}); use an Intel series: "
                f"{', '.join(s.upper() for s in c.NESTED_VIRTUALIZATION_SERIES)}"
            )
        elif series == "n1":
            cpu = get(node, "minCpuPlatform")
            if cpu is None or cpu in c.N1_TOO_OLD_CPU_PLATFORMS:
                out.append(
                    f"nodeConfig.minCpuPlatform is {cpu!r} on N1 machine '{machine}': nested "
                    "virtualization needs 'Intel Haswell' or later"
                )
    image = get(node, "imageType")
    if image is None or (isinstance(image, str) and image.upper() != c.KATA_IMAGE_TYPE):
        shown = "not set (GKE's default is COS_CONTAINERD)" if image is None else f"'{image}'"
        out.append(
            f"nodeConfig.imageType is {shown}: kata-deploy writes /opt/kata, which needs "
            f"{c.KATA_IMAGE_TYPE}"
        )
    return out


def is_router(resource_type: str, props: Mapping[str, Any]) -> bool:
    """The sandbox router Deployment: labelled app=sandbox-router (object or pod template)."""
    if resource_type != c.DEPLOYMENT_TYPE:
        return False
    for labels in (
        get(props, "metadata", "labels"),
        get(props, "spec", "template", "metadata", "labels"),
    ):
        if isinstance(labels, Mapping) and all(
            get(labels, k) == v for k, v in c.ROUTER_APP_LABEL.items()
        ):
            return True
    return False


def _env(container: Any, name: str) -> Any:
    """The literal value of env var ``name``: None when unset or from a reference."""
    env = items(container, "env")
    if env is UNKNOWN:
        return _Unknown.UNKNOWN
    for var in env:
        if get(var, "name") == name:
            return get(var, "value")
    return None


def _flags(container: Any) -> dict[str, str] | None:
    """``--name=value`` / ``--name value`` flags of command + args; None when unknown."""
    argv: list[str] = []
    for key in ("command", "args"):
        part = items(container, key)
        if part is UNKNOWN:
            return None
        argv += [str(x) for x in part]
    out: dict[str, str] = {}
    for i, arg in enumerate(argv):
        if not arg.startswith("--"):
            continue
        name, eq, value = arg.partition("=")
        if not eq:
            following = argv[i + 1] if i + 1 < len(argv) else ""
            value = following if following and not following.startswith("--") else "true"
        out[name] = value
    return out


def is_go_router(container: Any) -> bool:
    """Upstream's Go router: its image (mirrors keep the last path segment) or its flags."""
    image = get(container, "image")
    if isinstance(image, str):
        name = image.split("@")[0].rsplit("/", 1)[-1].split(":")[0]
        if name == c.GO_ROUTER_IMAGE_NAME:
            return True
    flags = _flags(container) or {}
    return c.GO_ROUTER_AUTHZ_FLAG in flags


def _go_router_problem(container: Any) -> str | None:
    flags = _flags(container)
    if flags is None:
        return None  # unknown during preview: skipped, not guessed
    mode = flags.get(c.GO_ROUTER_AUTHZ_FLAG, "allow-all")
    if mode not in c.GO_ROUTER_SECURE_AUTHZ_MODES:
        return (
            f"runs the Go router with {c.GO_ROUTER_AUTHZ_FLAG}={mode}: it reads no "
            f"{c.ROUTER_ENV_AUTH_TOKEN} and lets every request through; pass "
            f"{c.GO_ROUTER_AUTHZ_FLAG}=scoped-token (per-sandbox tokens) or tokenreview"
        )
    if mode == "tokenreview" and flags.get(c.GO_ROUTER_REQUIRE_TOKEN_FLAG) != "true":
        return (
            f"runs the Go router with {c.GO_ROUTER_AUTHZ_FLAG}=tokenreview but without "
            f"{c.GO_ROUTER_REQUIRE_TOKEN_FLAG}=true: requests without a token are let through"
        )
    return None


def router_authentication_required(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Whichever router image runs, a request without a valid token is refused."""
    if not is_router(resource_type, props):
        return []
    containers = items(props, "spec", "template", "spec", "containers")
    if containers is UNKNOWN:
        return []
    out = []
    for i, container in enumerate(containers):
        where = f"spec.template.spec.containers[{i}]"
        if is_go_router(container):
            problem = _go_router_problem(container)
            if problem:
                out.append(f"{where} {problem}")
            continue
        value = _env(container, c.ROUTER_ENV_ALLOW_UNAUTHENTICATED)
        if isinstance(value, str) and value.strip().lower() == "true":
            out.append(
                f"{where} sets {c.ROUTER_ENV_ALLOW_UNAUTHENTICATED}="
                f"{value}: anyone who reaches the router reaches every sandbox"
            )
    return out


def is_controller(resource_type: str, props: Mapping[str, Any]) -> bool:
    if resource_type != c.DEPLOYMENT_TYPE:
        return False
    if get(props, "metadata", "name") == c.CONTROLLER_NAME:
        return True
    containers = items(props, "spec", "template", "spec", "containers")
    if containers is UNKNOWN:
        return False
    # A mirrored registry keeps the image's last path segment.
    suffix = "/" + c.CONTROLLER_IMAGE_REPOSITORY.rsplit("/", 1)[1]
    for container in containers:
        image = get(container, "image")
        if isinstance(image, str) and image.split("@")[0].rsplit(":", 1)[0].endswith(suffix):
            return True
    return False


def images_pinned_by_digest(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """The controller's and router's images must name a digest, not a mutable tag."""
    if not (is_router(resource_type, props) or is_controller(resource_type, props)):
        return []
    out = []
    for kind in ("initContainers", "containers"):
        containers = items(props, "spec", "template", "spec", kind)
        if containers is UNKNOWN:
            continue
        for i, container in enumerate(containers):
            image = get(container, "image")
            if isinstance(image, str) and "@sha256:" not in image:
                out.append(
                    f"spec.template.spec.{kind}[{i}] image '{image}' is not pinned by digest "
                    "(<repository>@sha256:<digest>)"
                )
    return out


# ---------------------------------------------------------------------------------------------
# stack rule
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StackResource:
    """What the stack rule needs of each resource."""

    resource_type: str
    props: Mapping[str, Any]
    urn: str = ""


@dataclass(frozen=True)
class StackViolation:
    message: str
    urn: str | None = None


def router_timeout_seconds(props: Mapping[str, Any]) -> int | Literal[_Unknown.UNKNOWN] | None:
    """PROXY_TIMEOUT_SECONDS of the router (its default when unset); None when not a number."""
    containers = items(props, "spec", "template", "spec", "containers")
    if containers is UNKNOWN:
        return _Unknown.UNKNOWN
    for container in containers:
        value = _env(container, c.ROUTER_ENV_PROXY_TIMEOUT)
        if value is UNKNOWN:
            return _Unknown.UNKNOWN
        if value is not None:
            try:
                return int(float(value))
            except (TypeError, ValueError):
                return None
    return c.ROUTER_DEFAULT_PROXY_TIMEOUT_SECONDS


def _routes_to_router(props: Mapping[str, Any]) -> bool:
    rules = items(props, "spec", "rules")
    if rules is UNKNOWN:
        return False
    for rule in rules:
        refs = items(rule, "backendRefs")
        if refs is not UNKNOWN and any(
            get(ref, "name") == c.ROUTER_SERVICE_NAME and get(ref, "kind") in (None, "Service")
            for ref in refs
        ):
            return True
    return False


def _targets_router(props: Mapping[str, Any]) -> bool:
    ref = get(props, "spec", "targetRef")
    return (
        get(ref, "name") == c.ROUTER_SERVICE_NAME
        and get(ref, "kind") == "Service"
        and get(ref, "group") in ("", None)
    )


def gateway_timeout_covers_router(resources: Iterable[StackResource]) -> list[StackViolation]:
    """Every GCPBackendPolicy on the router Service allows at least the router's own timeout; a
    route to the router with no such policy gets GCP's 30 s default, which is too short."""
    resources = list(resources)
    routers = [r for r in resources if is_router(r.resource_type, r.props)]
    if not routers:
        return []
    timeouts = [router_timeout_seconds(r.props) for r in routers]
    if any(t is UNKNOWN for t in timeouts):
        return []
    needed = max((t for t in timeouts if isinstance(t, int)), default=None)
    if needed is None:
        return []
    policies = [
        r
        for r in resources
        if r.resource_type == c.GCP_BACKEND_POLICY_TYPE and _targets_router(r.props)
    ]
    out = []
    for policy in policies:
        timeout = get(policy.props, "spec", "default", "timeoutSec")
        if timeout is UNKNOWN:
            continue
        effective = c.GCP_DEFAULT_BACKEND_TIMEOUT_SEC if timeout is None else timeout
        if isinstance(effective, int | float) and effective < needed:
            shown = (
                f"not set (GCP's default is {c.GCP_DEFAULT_BACKEND_TIMEOUT_SEC} s)"
                if timeout is None
                else f"{int(effective)} s"
            )
            out.append(
                StackViolation(
                    f"spec.default.timeoutSec is {shown}, below the router's "
                    f"{c.ROUTER_ENV_PROXY_TIMEOUT} ({needed} s): the load balancer would cut "
                    "requests the router still allows",
                    policy.urn or None,
                )
            )
    if not policies:
        for route in resources:
            if route.resource_type == c.HTTP_ROUTE_TYPE and _routes_to_router(route.props):
                out.append(
                    StackViolation(
                        f"this route sends traffic to {c.ROUTER_SERVICE_NAME}, but no "
                        "GCPBackendPolicy targets that Service: GCP's default backend timeout "
                        f"({c.GCP_DEFAULT_BACKEND_TIMEOUT_SEC} s) is below the router's "
                        f"{c.ROUTER_ENV_PROXY_TIMEOUT} ({needed} s)",
                        route.urn or None,
                    )
                )
    return out
