"""The policy pack's own copy of the strings it shares with the program.

`pulumi policy publish` ships only this folder, so the pack cannot import ``components`` at run
time. ``tests/policies/test_constants.py`` proves every value here equals the program's.
"""

from __future__ import annotations

PACK_NAME = "agent-sandbox-policies"

# --- agent-sandbox custom resources: kubernetes:<apiVersion>:<kind> (DESIGN §3 Pulumi) --------
SANDBOX_TYPE = "kubernetes:agents.x-k8s.io/v1beta1:Sandbox"
SANDBOX_TEMPLATE_TYPE = "kubernetes:extensions.agents.x-k8s.io/v1beta1:SandboxTemplate"
CONTROLLER_NAME = "agent-sandbox-controller"
CONTROLLER_IMAGE_REPOSITORY = "registry.k8s.io/agent-sandbox/agent-sandbox-controller"

# --- runtime classes ----------------------------------------------------------------------
KATA_RUNTIME_CLASSES = (
    "kata-qemu",
    "kata-qemu-runtime-rs",
    "kata-clh",
    "kata-clh-runtime-rs",
    "kata-dragonball",
)
GVISOR_RUNTIME_CLASS = "gvisor"
ALLOWED_RUNTIME_CLASSES = (*KATA_RUNTIME_CLASSES, GVISOR_RUNTIME_CLASS)
# Where the program puts sandboxes unless told otherwise (sandboxes.namespace).
DEFAULT_SANDBOX_NAMESPACES = ("agent-sandboxes",)
# What the Kubernetes provider uses for an object without metadata.namespace.
KUBERNETES_DEFAULT_NAMESPACE = "default"

# --- what a sandbox pod may not carry (the admission backstop checks the same) -------------
# Capabilities Pod Security "baseline" allows a container to add.
BASELINE_CAPABILITIES = (
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
)
# Sysctls Pod Security "baseline" calls safe.
SAFE_SYSCTLS = (
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
)
# Pod annotations Kata reads as VM configuration (kernel parameters, hypervisor paths...).
KATA_ANNOTATION_PREFIX = "io.katacontainers."

# --- Kubernetes types whose pods the workload rules look at -------------------------------
POD_TYPE = "kubernetes:core/v1:Pod"
# type -> path of the pod spec inside the object.
WORKLOAD_POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    POD_TYPE: ("spec",),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:core/v1:ReplicationController": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
SANDBOX_POD_SPEC_PATH = ("spec", "podTemplate", "spec")
DEPLOYMENT_TYPE = "kubernetes:apps/v1:Deployment"

# --- GKE sandbox node pool ----------------------------------------------------------------
NODE_POOL_TYPE = "gcp:container/nodePool:NodePool"
SANDBOX_POOL_LABEL = "agent-sandbox.dev/pool"
SANDBOX_POOL_LABEL_VALUE = "sandbox"
SANDBOX_POOL_TAINT_KEY = "agent-sandbox.dev/sandbox"
KATA_IMAGE_TYPE = "UBUNTU_CONTAINERD"
# Intel series that can nest virtualization (DESIGN §3 GKE). GCE's bare "custom-" types are N1.
NESTED_VIRTUALIZATION_SERIES = ("n1", "n2", "n4", "c2", "c3", "c4")
# N1 below Haswell cannot nest.
N1_TOO_OLD_CPU_PLATFORMS = ("Intel Sandy Bridge", "Intel Ivy Bridge")

# --- sandbox router and gateway -----------------------------------------------------------
ROUTER_APP_LABEL = {"app": "sandbox-router"}
ROUTER_SERVICE_NAME = "sandbox-router-svc"
ROUTER_ENV_ALLOW_UNAUTHENTICATED = "ALLOW_UNAUTHENTICATED_ROUTER"
ROUTER_ENV_AUTH_TOKEN = "ROUTER_AUTH_TOKEN"
ROUTER_ENV_PROXY_TIMEOUT = "PROXY_TIMEOUT_SECONDS"
# The router's own default when PROXY_TIMEOUT_SECONDS is not set.
ROUTER_DEFAULT_PROXY_TIMEOUT_SECONDS = 180
# Upstream's Go router (image sandbox-router-go, sandbox-router/ in kubernetes-sigs/agent-sandbox)
# reads no ROUTER_AUTH_TOKEN: it authorizes by --authz-mode, whose default allow-all lets every
# request through; tokenreview lets tokenless requests through unless
# --authz-tokenreview-require-token=true (sandbox-router/config/flags.go).
GO_ROUTER_IMAGE_NAME = "sandbox-router-go"
GO_ROUTER_AUTHZ_FLAG = "--authz-mode"
GO_ROUTER_REQUIRE_TOKEN_FLAG = "--authz-tokenreview-require-token"
GO_ROUTER_SECURE_AUTHZ_MODES = ("tokenreview", "scoped-token")
GCP_BACKEND_POLICY_TYPE = "kubernetes:networking.gke.io/v1:GCPBackendPolicy"
HTTP_ROUTE_TYPE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
# GCP's backend service timeout when a GCPBackendPolicy leaves timeoutSec out.
GCP_DEFAULT_BACKEND_TIMEOUT_SEC = 30
# Written by the typed sandboxes on a pod template whose security.allowPrivilegeEscalation is
# true: the reviewed per-sandbox exception sandbox-pod-hardening accepts.
ALLOW_PRIVILEGE_ESCALATION_ANNOTATION = "agent-sandbox.dev/allow-privilege-escalation"
