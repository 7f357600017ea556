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
# Scopes the controller's Pod/Service informer caches to objects it labelled (v1.0 sources,
# cmd/agent-sandbox-controller/main.go).
CONTROLLER_CACHE_LABEL_SELECTORS_FLAG = "--cache-label-selectors"
CONTROLLER_IMAGE_REPOSITORY = "registry.k8s.io/agent-sandbox/agent-sandbox-controller"
# controlPlane.imageRegistry replaces this prefix of the controller image (air-gapped mirrors).
UPSTREAM_IMAGE_REGISTRY = "registry.k8s.io"
AGENT_SANDBOX_MANIFEST_FILE = "sandbox-with-extensions.yaml"
# The four CRDs of the all-in-one manifest; the sandboxes layer needs every one of them.
AGENT_SANDBOX_CRDS = (
    f"sandboxes.{AGENTS_GROUP}",
    f"sandboxtemplates.{EXTENSIONS_GROUP}",
    f"sandboxclaims.{EXTENSIONS_GROUP}",
    f"sandboxwarmpools.{EXTENSIONS_GROUP}",
)
# controller-runtime's health endpoints on the manifest's `healthz` port.
CONTROLLER_HEALTH_PORT_NAME = "healthz"
CONTROLLER_HEALTH_PORT = 8081
CONTROLLER_LIVENESS_PATH = "/healthz"
CONTROLLER_READINESS_PATH = "/readyz"
# The controller image's non-root user (distroless "nonroot"); pinned so runAsNonRoot holds even
# if an image names its user instead of numbering it.
CONTROLLER_RUN_AS_USER = 65532
# Environment knobs for where the release manifest comes from
# (components/agent_sandbox/release_manifest.py):
# a directory holding <version>/sandbox-with-extensions.yaml or sandbox-with-extensions.yaml,
# searched before the download cache (air-gapped hosts, the test suite) ...
AGENT_SANDBOX_MANIFEST_DIR_ENV = "AGENT_SANDBOX_MANIFEST_DIR"
# ... and "1" to forbid downloads: without a local manifest the control plane previews as one
# unexpanded step (offline preview, CI without network).
AGENT_SANDBOX_OFFLINE_ENV = "AGENT_SANDBOX_OFFLINE"

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
ROUTER_DEPLOYMENT_NAME = "sandbox-router"
ROUTER_SERVICE_ACCOUNT_NAME = "sandbox-router"
ROUTER_CONTAINER_NAME = "router"
ROUTER_PORT_NAME = "http"
ROUTER_HEALTH_PATH = "/healthz"
# Upstream's example names the token Secret and key this way; kept so its docs still apply.
ROUTER_AUTH_SECRET_NAME = "sandbox-router-auth"
ROUTER_AUTH_SECRET_KEY = "auth-token"
ROUTER_AUTH_TOKEN_LENGTH = 48
# uid/gid of the upstream router image's user (upstream's example runs it as 1000:1000).
ROUTER_RUN_AS_USER = 1000
# Router environment variables (python-sandbox-router README).
ROUTER_ENV_AUTH_TOKEN = "ROUTER_AUTH_TOKEN"
ROUTER_ENV_ALLOW_UNAUTHENTICATED = "ALLOW_UNAUTHENTICATED_ROUTER"
ROUTER_ENV_PROXY_TIMEOUT = "PROXY_TIMEOUT_SECONDS"
ROUTER_ENV_WS_IDLE_TIMEOUT = "WEBSOCKET_IDLE_TIMEOUT_SECONDS"
ROUTER_ENV_WS_MAX_LIFETIME = "WEBSOCKET_MAX_LIFETIME_SECONDS"
ROUTER_ENV_WS_MAX_MESSAGE_BYTES = "WEBSOCKET_MAX_MESSAGE_BYTES"
ROUTER_ENV_WS_MAX_CONNECTIONS_PER_CLIENT = "WEBSOCKET_MAX_CONNECTIONS_PER_CLIENT"
ROUTER_ENV_TRUSTED_PROXY_CIDRS = "TRUSTED_PROXY_CIDRS"


# uvicorn (the router image's CMD) reads its CLI options from UVICORN_* variables (click's
# auto_envvar_prefix in uvicorn/main.py): the server keep-alive without replacing the CMD.
ROUTER_ENV_KEEP_ALIVE = "UVICORN_TIMEOUT_KEEP_ALIVE"
# GCP Application Load Balancers keep idle backend connections open 600 s, a fixed value
# (cloud.google.com/load-balancing/docs/https/request-distribution); a backend that closes
# them sooner races the load balancer's next request and yields intermittent 502s.
GCP_LB_BACKEND_KEEP_ALIVE_SECONDS = 600
# Source ranges of the global external load balancer's proxies (GFEs) and of Google Cloud
# health checks (same page; "Firewall rules" in the health-check docs).
GCP_LB_SOURCE_CIDRS = ("35.191.0.0/16", "130.211.0.0/22")
# The agent-sandbox controller labels every pod it creates for a Sandbox (warm-pool sandboxes
# included) with this key (controllers/sandbox_controller.go, sandboxLabel): NetworkPolicies
# select sandbox pods by it, whoever created the Sandbox.
SANDBOX_POD_LABEL = "agents.x-k8s.io/sandbox-name-hash"
ROUTER_NETWORK_POLICY_NAME = "sandbox-router"
# Backend timeout (= longest WebSocket) at the load balancer when the router sets no lifetime.
GATEWAY_DEFAULT_SESSION_SECONDS = 86400


def router_url(namespace: str = AGENT_SANDBOX_NAMESPACE) -> str:
    """In-cluster URL of the router Service (what the SDK's direct mode takes as api_url)."""
    return f"http://{ROUTER_SERVICE_NAME}.{namespace}.svc.cluster.local:{ROUTER_PORT}"


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

# kata-deploy 4.x in daemonset mode, names as its chart renders them without
# multiInstallSuffix (templates/kata-rbac.yaml, kata-deploy.yaml). The binary finds its own
# DaemonSet by name (env DAEMONSET_NAME), so these are fixed, not auto-named.
KATA_DEPLOY_NAME = "kata-deploy"
KATA_DEPLOY_SERVICE_ACCOUNT = "kata-deploy-sa"
KATA_DEPLOY_CLUSTER_ROLE = "kata-deploy-role"
KATA_DEPLOY_CLUSTER_ROLE_BINDING = "kata-deploy-rb"
KATA_DEPLOY_NAMESPACE = "kube-system"
# Per-installation half of the RuntimeClass scheduling gate (kata-deploy 4.x marks each node it
# serves with kata-deploy.katacontainers.io/<suffix>, "default" without a suffix).
KATA_INSTANCE_LABEL_PREFIX = "kata-deploy.katacontainers.io/"
KATA_INSTANCE_LABEL = f"{KATA_INSTANCE_LABEL_PREFIX}default"
KATA_VERSION_ANNOTATION = "katacontainers.io/kata-version"
# kata-deploy's debug mode adds a kata-<shim>-debug RuntimeClass per shim (guest debugging).
KATA_DEBUG_SUFFIX = "-debug"
# Architectures each supported shim is built for (chart values shims.<shim>.supportedArches).
KATA_SHIM_ARCHES: dict[str, tuple[str, ...]] = {
    "qemu": ("amd64", "arm64", "s390x", "ppc64le"),
    "qemu-runtime-rs": ("amd64", "arm64", "s390x", "ppc64le"),
    "clh": ("amd64",),
    "clh-runtime-rs": ("amd64",),
    "dragonball": ("amd64",),
}
# Only the node-critical class keeps the kubelet from evicting kata-deploy under pressure; GKE
# admits it outside kube-system only under a ResourceQuota that names it.
SYSTEM_NODE_CRITICAL = "system-node-critical"

# --- sandbox node pool ----------------------------------------------------------------------
# The pool is tainted so that only pods that tolerate it (via their RuntimeClass) land there.
SANDBOX_POOL_LABEL = "agent-sandbox.dev/pool"
SANDBOX_POOL_LABEL_VALUE = "sandbox"
SANDBOX_POOL_TAINT_KEY = "agent-sandbox.dev/sandbox"
SANDBOX_POOL_TAINT_VALUE = "true"
SANDBOX_POOL_TAINT_EFFECT = "NoSchedule"
SYSTEM_POOL_LABEL = "agent-sandbox.dev/pool"
SYSTEM_POOL_LABEL_VALUE = "system"
# StorageClass (hyperdisk-balanced) the platform creates for sandbox volumes on Hyperdisk-only
# pools (C4, N4…), whose nodes attach none of GKE's preinstalled Persistent Disk classes.
HYPERDISK_STORAGE_CLASS = "sandbox-hyperdisk-balanced"
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
KIND_GATEWAY = "Gateway"
KIND_HTTP_ROUTE = "HTTPRoute"
KIND_HEALTH_CHECK_POLICY = "HealthCheckPolicy"
KIND_GCP_BACKEND_POLICY = "GCPBackendPolicy"
GATEWAY_API_GROUP = "gateway.networking.k8s.io"
GATEWAY_HTTP_PORT = 80
GATEWAY_HTTPS_PORT = 443
GATEWAY_HTTP_LISTENER = "http"
GATEWAY_HTTPS_LISTENER = "https"
GATEWAY_ROUTE_NAME = "sandbox-router-route"
GATEWAY_REDIRECT_ROUTE_NAME = "sandbox-router-https-redirect"
HEALTH_CHECK_POLICY_NAME = "sandbox-router-health-check"
BACKEND_POLICY_NAME = "sandbox-router-backend"
# Gateway listener TLS option naming Compute Engine SSL certificates (GKE).
GKE_PRE_SHARED_CERTS_OPTION = "networking.gke.io/pre-shared-certs"

# --- typed sandboxes ------------------------------------------------------------------------
# Label we put on every sandbox pod template (value: the Sandbox/SandboxTemplate name) so that
# our NetworkPolicies can select a sandbox's pods; the controller's own pod label is a hash.
SANDBOX_NAME_LABEL = "agent-sandbox.dev/sandbox"
SANDBOX_TEMPLATE_LABEL = "agent-sandbox.dev/template"
SANDBOX_COMPONENT = "sandbox"
SANDBOX_CONTAINER_NAME = "sandbox"
# On a sandbox pod template whose security.allowPrivilegeEscalation is true: the reviewed,
# per-sandbox exception (e.g. sudo in an IDE's terminal) that the policy pack accepts.
ALLOW_PRIVILEGE_ESCALATION_ANNOTATION = "agent-sandbox.dev/allow-privilege-escalation"
SANDBOXES_DEFAULT_NAMESPACE = "agent-sandboxes"
# Namespaces sandboxes must never share: the system's own, and the control plane's (a
# namespace-wide sandbox NetworkPolicy would cut off the controller and the router).
RESERVED_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", AGENT_SANDBOX_NAMESPACE)
# Cluster DNS: kube-dns (or CoreDNS, which keeps the k8s-app=kube-dns label) in kube-system.
KUBE_SYSTEM_NAMESPACE = "kube-system"
KUBE_DNS_LABEL = {"k8s-app": "kube-dns"}
DNS_PORT = 53
# Set by the API server on every namespace since Kubernetes 1.21.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
# Egress never reaches these: cluster-internal ranges and link-local, which holds the node's
# metadata server (169.254.169.254). Besides RFC 1918, GKE lets pod and service ranges use the
# shared address space (RFC 6598) and class E, so those are blocked too.
PUBLIC_INTERNET_CIDR = "0.0.0.0/0"
PRIVATE_CIDRS = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "240.0.0.0/4",
)
LINK_LOCAL_CIDR = "169.254.0.0/16"
BLOCKED_EGRESS_CIDRS = (*PRIVATE_CIDRS, LINK_LOCAL_CIDR)
# IPv6 alike (dual-stack clusters), as upstream's default template policy does: everything but
# unique-local (GKE's internal IPv6 ranges; the metadata server's fd20:ce::254) and link-local.
PUBLIC_INTERNET_CIDR_V6 = "::/0"
PRIVATE_CIDRS_V6 = ("fc00::/7",)
LINK_LOCAL_CIDR_V6 = "fe80::/10"
BLOCKED_EGRESS_CIDRS_V6 = (*PRIVATE_CIDRS_V6, LINK_LOCAL_CIDR_V6)
# Where the node's metadata server answers (with the node's credentials): never allowlisted.
METADATA_SERVER_CIDRS = (LINK_LOCAL_CIDR, LINK_LOCAL_CIDR_V6, "fd20:ce::254/128")
# Pod Security Admission namespace labels.
PSA_LABEL_PREFIX = "pod-security.kubernetes.io/"
PSA_MODES = ("enforce", "audit", "warn")
# Capabilities the Pod Security "baseline" profile allows a container to add; "restricted"
# allows only NET_BIND_SERVICE. Anything else (SYS_ADMIN, NET_ADMIN, ...) is never allowed.
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
RESTRICTED_CAPABILITIES = ("NET_BIND_SERVICE",)

# --- admission backstop ---------------------------------------------------------------------
# Cluster-scoped, fixed names: the bindings name their policy, and one platform owns a cluster.
ADMISSION_SANDBOX_POLICY_NAME = "agent-sandbox-runtime-class"
ADMISSION_POD_POLICY_NAME = "agent-sandbox-pod-runtime-class"
# REST resource names (CRD spec.names.plural) the sandbox policy matches.
SANDBOX_RESOURCE = "sandboxes"
SANDBOX_TEMPLATE_RESOURCE = "sandboxtemplates"
# The other policies: where sandbox kinds may exist, what a claim may add to its pod, the
# sandbox namespaces' Pod Security labels, and kata-deploy's writes to its own node.
ADMISSION_NAMESPACE_POLICY_NAME = "agent-sandbox-namespaces"
ADMISSION_CLAIM_POLICY_NAME = "agent-sandbox-claim-metadata"
ADMISSION_POD_SECURITY_POLICY_NAME = "agent-sandbox-pod-security-labels"
ADMISSION_NODE_POLICY_NAME = "agent-sandbox-kata-deploy-node"
# The controller's ServiceAccount (upstream manifest): whoever creates a pod as it creates a
# sandbox pod, in whatever namespace.
CONTROLLER_SERVICE_ACCOUNT = "agent-sandbox-controller"
# Pod annotations Kata reads as VM configuration (kernel parameters, hypervisor paths...).
KATA_ANNOTATION_PREFIX = "io.katacontainers."
# The node a projected service-account token is bound to (KEP-4193), in userInfo.extra.
NODE_NAME_CLAIM = "authentication.kubernetes.io/node-name"
# Sysctls the Pod Security "baseline" profile allows (its "safe" set, latest version).
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

# --- tenants (components/composition/tenant.py) ----------------------------------------------
TENANT_COMPONENT = "tenant"
TENANT_QUOTA_NAME = "sandbox-quota"
TENANT_LIMIT_RANGE_NAME = "sandbox-limits"
# The Role (and RoleBinding) holding what the SDK's clients may do in their namespace.
TENANT_CLIENT_ROLE_NAME = "sandbox-client"
# The Role (and RoleBinding) a tenant stack's deploy identity holds in its namespace.
TENANT_DEPLOYER_ROLE_NAME = "sandbox-deployer"
# In a tenant's client namespace: what its deploy identity needs to place the SDK clients'
# service accounts and the router token Secret there.
TENANT_CLIENT_DEPLOYER_ROLE_NAME = "sandbox-client-deployer"
# REST resource names (CRD spec.names.plural) of the claim and warm-pool CRDs.
SANDBOX_CLAIM_RESOURCE = "sandboxclaims"
SANDBOX_WARM_POOL_RESOURCE = "sandboxwarmpools"
# RBAC's API group: RoleBinding roleRef and Group subjects.
RBAC_API_GROUP = "rbac.authorization.k8s.io"
