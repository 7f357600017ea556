"""The one home for strings that several modules (and the policy pack) must agree on.

The policy pack cannot import this module at run time (it ships alone), so it keeps its own copy
in ``policies/constants.py``; ``tests/policies/test_constants.py`` proves the two are equal.
"""

from __future__ import annotations

PROJECT = "agent-sandbox-platform"
TYPE_PREFIX = f"{PROJECT}:"


def type_token(module: str, type_name: str) -> str:
    """Component type token, ``agent-sandbox-platform:<module>:<Type>`` (DESIGN §2)."""
    return f"{TYPE_PREFIX}{module}:{type_name}"


# --- agent-sandbox API ----------------------------------------------------------------------
AGENTS_GROUP = "agents.x-k8s.io"
EXTENSIONS_GROUP = "extensions.agents.x-k8s.io"
AGENTS_VERSION = "v1beta1"
SANDBOX_API_VERSION = f"{AGENTS_GROUP}/{AGENTS_VERSION}"
EXTENSIONS_API_VERSION = f"{EXTENSIONS_GROUP}/{AGENTS_VERSION}"
KIND_SANDBOX = "Sandbox"
KIND_SANDBOX_TEMPLATE = "SandboxTemplate"
KIND_SANDBOX_CLAIM = "SandboxClaim"
KIND_SANDBOX_WARM_POOL = "SandboxWarmPool"

# Pulumi type tokens of the custom resources: kubernetes:<apiVersion>:<kind> (DESIGN §3 Pulumi).
SANDBOX_TYPE = f"kubernetes:{SANDBOX_API_VERSION}:{KIND_SANDBOX}"
SANDBOX_TEMPLATE_TYPE = f"kubernetes:{EXTENSIONS_API_VERSION}:{KIND_SANDBOX_TEMPLATE}"
SANDBOX_CLAIM_TYPE = f"kubernetes:{EXTENSIONS_API_VERSION}:{KIND_SANDBOX_CLAIM}"
SANDBOX_WARM_POOL_TYPE = f"kubernetes:{EXTENSIONS_API_VERSION}:{KIND_SANDBOX_WARM_POOL}"

AGENT_SANDBOX_NAMESPACE = "agent-sandbox-system"
AGENT_SANDBOX_DEFAULT_VERSION = "v1.0.3"
AGENT_SANDBOX_RELEASE_URL = (
    "https://github.com/kubernetes-sigs/agent-sandbox/releases/download/{version}/"
    "sandbox-with-extensions.yaml"
)
CONTROLLER_NAME = "agent-sandbox-controller"
CONTROLLER_IMAGE_REPOSITORY = "registry.k8s.io/agent-sandbox/agent-sandbox-controller"

# --- sandbox router -------------------------------------------------------------------------
# The SDKs hard-code these (DESIGN §3 Sandbox router); upstream's default template
# NetworkPolicy admits ingress only from pods with ROUTER_APP_LABEL in AGENT_SANDBOX_NAMESPACE.
ROUTER_SERVICE_NAME = "sandbox-router-svc"
ROUTER_PORT = 8080
ROUTER_APP_LABEL = {"app": "sandbox-router"}
ROUTER_DEFAULT_IMAGE = (
    "us-central1-docker.pkg.dev/k8s-staging-images/agent-sandbox/sandbox-router:latest-main"
)
SANDBOX_DEFAULT_RUNTIME_PORT = 8888
ROUTER_HEADERS = ("X-Sandbox-ID", "X-Sandbox-Namespace", "X-Sandbox-Port")

# --- isolation runtimes ---------------------------------------------------------------------
KATA_DEPLOY_IMAGE_REPOSITORY = "quay.io/kata-containers/kata-deploy"
KATA_DEFAULT_VERSION = "4.1.0"
KATA_RUNTIME_CLASS_PREFIX = "kata-"
# Label kata-deploy puts on a node once Kata is installed and ready there.
KATA_READY_LABEL = "katacontainers.io/kata-runtime"
KATA_READY_VALUE = "true"
GVISOR_RUNTIME_CLASS = "gvisor"
GVISOR_NODE_LABEL = "sandbox.gke.io/runtime"

# overhead.podFixed per supported shim, from kata-deploy 4.1's runtimeclasses template
# (DESIGN §3 Kata). `fc` is left out: it needs a devmapper snapshotter GKE nodes do not have.
KATA_SHIM_OVERHEAD: dict[str, tuple[str, str]] = {
    "qemu": ("320Mi", "250m"),
    "qemu-runtime-rs": ("320Mi", "250m"),
    "clh": ("130Mi", "250m"),
    "clh-runtime-rs": ("130Mi", "250m"),
    "dragonball": ("130Mi", "250m"),
}
KATA_SHIMS = tuple(KATA_SHIM_OVERHEAD)


def kata_runtime_class(shim: str) -> str:
    """RuntimeClass name (== handler) kata-deploy uses for a shim."""
    return f"{KATA_RUNTIME_CLASS_PREFIX}{shim}"


KATA_RUNTIME_CLASSES = tuple(kata_runtime_class(s) for s in KATA_SHIMS)
# What the policy pack allows by default: every Kata class we know, and GKE's gVisor.
ALLOWED_RUNTIME_CLASSES = (*KATA_RUNTIME_CLASSES, GVISOR_RUNTIME_CLASS)

# --- sandbox node pool ----------------------------------------------------------------------
# The pool is tainted so that only pods that tolerate it (via their RuntimeClass) land there.
SANDBOX_POOL_LABEL = "agent-sandbox.dev/pool"
SANDBOX_POOL_LABEL_VALUE = "sandbox"
SANDBOX_POOL_TAINT_KEY = "agent-sandbox.dev/sandbox"
SANDBOX_POOL_TAINT_VALUE = "true"
SANDBOX_POOL_TAINT_EFFECT = "NoSchedule"
SYSTEM_POOL_LABEL = "agent-sandbox.dev/pool"
SYSTEM_POOL_LABEL_VALUE = "system"
GKE_NODEPOOL_LABEL = "cloud.google.com/gke-nodepool"

# --- common labels --------------------------------------------------------------------------
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
PART_OF_LABEL = "app.kubernetes.io/part-of"
COMPONENT_LABEL = "app.kubernetes.io/component"
COMMON_LABELS = {MANAGED_BY_LABEL: "pulumi", PART_OF_LABEL: PROJECT}

# Makes pulumi-kubernetes wait for a custom resource's Ready condition.
WAIT_FOR_ANNOTATION = "pulumi.com/waitFor"
WAIT_FOR_READY = "condition=Ready"

# --- Gateway API / GKE ----------------------------------------------------------------------
GATEWAY_API_VERSION = "gateway.networking.k8s.io/v1"
GKE_NETWORKING_API_VERSION = "networking.gke.io/v1"
GATEWAY_DEFAULT_CLASS = "gke-l7-global-external-managed"
GATEWAY_CLASSES = (
    "gke-l7-global-external-managed",
    "gke-l7-regional-external-managed",
    "gke-l7-rilb",
)
GATEWAY_REGIONAL_CLASSES = ("gke-l7-regional-external-managed", "gke-l7-rilb")
