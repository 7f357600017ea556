"""The sandbox router: where clients expect it, hardened, highly available, authenticated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import adoptable, run

from offline.engine import Plan

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
SECRET = "kubernetes:core/v1:Secret"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
NODE_POOL = "gcp:container/nodePool:NodePool"
ROUTER = "agent-sandbox-platform:router:Router"
# What offline/engine.py's PlatformMocks returns for every RandomPassword.
MOCK_TOKEN = "mock-random-password-value"
# DESIGN §3: clients and upstream's default sandbox NetworkPolicy look here.
ROUTER_NAMESPACE = "agent-sandbox-system"
SYSTEM_POOL = {"agent-sandbox.dev/pool": "system"}
SANDBOX_POOL_LABEL = ("agent-sandbox.dev/pool", "sandbox")
PINNED = "registry.example.com/agent-sandbox/sandbox-router@sha256:" + "a" * 64
# Production also refuses the dev stack's example sandbox images: keep only the router's.
NO_SANDBOXES: dict[str, Any] = {"sandboxes": {"templates": [], "warmPools": [], "sandboxes": []}}


def upstream_router(upstream: Path) -> dict[str, dict[str, Any]]:
    path = upstream / "agent-sandbox/examples/python-sandbox-router/sandbox_router.yaml"
    return {d["kind"]: d for d in yaml.safe_load_all(path.read_text()) if d}


def deployment(plan: Plan) -> dict[str, Any]:
    return plan.one(DEPLOYMENT, "router-deployment").inputs


def service(plan: Plan) -> dict[str, Any]:
    return plan.one(SERVICE, "router-service").inputs


def pod_spec(plan: Plan) -> dict[str, Any]:
    spec: dict[str, Any] = deployment(plan)["spec"]["template"]["spec"]
    return spec


def container(plan: Plan) -> dict[str, Any]:
    (only,) = pod_spec(plan)["containers"]
    return dict(only)


def env(plan: Plan) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(plan).get("env", [])}


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# --- where clients expect it ------------------------------------------------------------------
def test_service_and_pods_match_upstreams_contract(dev_plan: Plan, upstream: Path) -> None:
    up = upstream_router(upstream)
    up_svc, up_dep = up["Service"], up["Deployment"]
    svc = service(dev_plan)
    assert svc["metadata"]["name"] == up_svc["metadata"]["name"]
    assert svc["metadata"]["namespace"] == ROUTER_NAMESPACE
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["selector"] == up_svc["spec"]["selector"]
    (port,) = svc["spec"]["ports"]
    (up_port,) = up_svc["spec"]["ports"]
    assert port["port"] == up_port["port"]

    dep = deployment(dev_plan)
    assert dep["metadata"]["namespace"] == ROUTER_NAMESPACE
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    # Upstream's sandbox NetworkPolicy admits only pods labelled like upstream's router pods.
    assert matches(up_dep["spec"]["template"]["metadata"]["labels"], pod_labels)
    assert matches(svc["spec"]["selector"], pod_labels)
    assert matches(dep["spec"]["selector"]["matchLabels"], pod_labels)
    # The Service's target port resolves to the container port upstream's image listens on.
    c = container(dev_plan)
    (up_c,) = up_dep["spec"]["template"]["spec"]["containers"]
    (cport,) = c["ports"]
    assert port["targetPort"] in (cport["name"], cport["containerPort"])
    assert cport["containerPort"] == up_c["ports"][0]["containerPort"]


def test_probes_hit_healthz(dev_plan: Plan, upstream: Path) -> None:
    (up_c,) = upstream_router(upstream)["Deployment"]["spec"]["template"]["spec"]["containers"]
    c = container(dev_plan)
    port_names = {p["name"]: p["containerPort"] for p in c["ports"]}
    for probe in ("readinessProbe", "livenessProbe"):
        get = c[probe]["httpGet"]
        assert get["path"] == up_c[probe]["httpGet"]["path"] == "/healthz"
        assert port_names.get(get["port"], get["port"]) == up_c[probe]["httpGet"]["port"]


def test_env_names_are_the_routers_own(dev_plan: Plan, upstream: Path) -> None:
    """A typo'd variable is silently ignored by the router: every name must be one it reads."""
    folder = upstream / "agent-sandbox/examples/python-sandbox-router"
    documented = (folder / "README.md").read_text() + (folder / "sandbox_router.yaml").read_text()
    plan = run(router={"trustedProxyCidrs": ["10.0.0.0/8"]})
    for name in env(plan):
        if name.startswith("UVICORN_"):
            continue  # uvicorn's own, below
        assert name in documented, name


def test_keep_alive_reaches_uvicorn_and_outlasts_the_load_balancer(dev_plan: Plan) -> None:
    """The router image runs the uvicorn CLI, which reads UVICORN_<OPTION> variables (click's
    auto_envvar_prefix); the load balancer reuses idle backend connections for 600 s."""
    import importlib.util

    spec = importlib.util.find_spec("uvicorn.main")
    assert spec is not None and spec.origin is not None
    source = Path(spec.origin).read_text()
    assert '"auto_envvar_prefix": "UVICORN"' in source and '"--timeout-keep-alive"' in source
    assert int(env(dev_plan)["UVICORN_TIMEOUT_KEEP_ALIVE"]["value"]) > 600
    bad = run(router={"keepAliveTimeoutSeconds": 600})
    assert bad.error is not None and "router.keepAliveTimeoutSeconds" in bad.error
    assert bad.registrations == []
    # Without a load balancer (port-forward only) any keep-alive is fine.
    assert run(router={"keepAliveTimeoutSeconds": 30}, gateway={"enabled": False}).error is None


def test_timeouts_and_websocket_limits_come_from_settings(dev_plan: Plan) -> None:
    # Defaults are the router's own (python-sandbox-router README).
    e = env(dev_plan)
    assert e["PROXY_TIMEOUT_SECONDS"]["value"] == "180"
    assert e["WEBSOCKET_IDLE_TIMEOUT_SECONDS"]["value"] == "3600"
    assert e["WEBSOCKET_MAX_LIFETIME_SECONDS"]["value"] == "86400"
    assert e["WEBSOCKET_MAX_MESSAGE_BYTES"]["value"] == "16777216"
    assert "TRUSTED_PROXY_CIDRS" not in e
    plan = run(
        router={
            "proxyTimeoutSeconds": 600,
            "websocketIdleTimeoutSeconds": 120,
            "websocketMaxLifetimeSeconds": 7200,
            "websocketMaxMessageBytes": 1048576,
            "websocketMaxConnectionsPerClient": 16,
            "trustedProxyCidrs": ["35.191.0.0/16", "130.211.0.0/22"],
        }
    )
    assert plan.error is None, plan.error
    e = env(plan)
    assert e["PROXY_TIMEOUT_SECONDS"]["value"] == "600"
    assert e["WEBSOCKET_IDLE_TIMEOUT_SECONDS"]["value"] == "120"
    assert e["WEBSOCKET_MAX_LIFETIME_SECONDS"]["value"] == "7200"
    assert e["WEBSOCKET_MAX_MESSAGE_BYTES"]["value"] == "1048576"
    assert e["WEBSOCKET_MAX_CONNECTIONS_PER_CLIENT"]["value"] == "16"
    assert e["TRUSTED_PROXY_CIDRS"]["value"] == "35.191.0.0/16,130.211.0.0/22"
    # A per-client cap with the trusted proxies named is not warned about.
    assert not [w for w in plan.warnings if "websocketMaxConnectionsPerClient" in w]


def test_per_client_cap_behind_gateway_without_trusted_proxies_warns() -> None:
    plan = run(router={"websocketMaxConnectionsPerClient": 16})
    assert plan.error is None, plan.error
    assert [w for w in plan.warnings if "router.trustedProxyCidrs" in w]


def test_bad_trusted_proxy_cidr_is_a_settings_error() -> None:
    plan = run(router={"trustedProxyCidrs": ["10.0.0.0/33"]})
    assert plan.error is not None
    assert "router.trustedProxyCidrs" in plan.error and "10.0.0.0/33" in plan.error
    assert plan.registrations == []


# --- placement and availability ---------------------------------------------------------------
def test_runs_on_the_system_pool_never_the_sandbox_pool(dev_plan: Plan) -> None:
    spec = pod_spec(dev_plan)
    # The label the created cluster puts on its system pool.
    system_pool = dev_plan.one(NODE_POOL, "cluster-system-pool").inputs
    assert matches(spec["nodeSelector"], system_pool["nodeConfig"]["labels"])
    assert spec["nodeSelector"] == SYSTEM_POOL
    sandbox_pool = dev_plan.one(NODE_POOL, "sandbox-pool-pool").inputs
    assert not matches(spec["nodeSelector"], sandbox_pool["nodeConfig"]["labels"])
    # It tolerates no taint (the sandbox pool's keeps it off)...
    assert not spec.get("tolerations")
    # ...and refuses sandbox-pool nodes outright.
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    key, value = SANDBOX_POOL_LABEL
    for term in terms["nodeSelectorTerms"]:
        assert {"key": key, "operator": "NotIn", "values": [value]} in term["matchExpressions"]


@pytest.mark.parametrize("stack", ["existing", "local"])
def test_no_system_pool_selector_where_this_stack_did_not_create_the_pool(stack: str) -> None:
    existing = run(cluster={"mode": "existing"}, gke_clusters=adoptable())
    plan = existing if stack == "existing" else run("local")
    assert plan.error is None, plan.error
    spec = pod_spec(plan)
    assert not spec.get("nodeSelector")  # no such label on a pool we did not create
    assert spec["affinity"]["nodeAffinity"]  # still never on the sandbox pool


def test_replicas_spread_over_nodes_with_a_disruption_budget(dev_plan: Plan) -> None:
    dep = deployment(dev_plan)
    assert dep["spec"]["replicas"] >= 2
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    spread = {t["topologyKey"]: t for t in pod_spec(dev_plan)["topologySpreadConstraints"]}
    host = spread["kubernetes.io/hostname"]
    assert host["whenUnsatisfiable"] == "DoNotSchedule" and host["maxSkew"] == 1
    assert matches(host["labelSelector"]["matchLabels"], pod_labels)
    assert "topology.kubernetes.io/zone" in spread
    # A rollout never drops below the configured replicas.
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0

    pdb = dev_plan.one(PDB, "router-pdb").inputs
    assert pdb["metadata"]["namespace"] == ROUTER_NAMESPACE
    assert matches(pdb["spec"]["selector"]["matchLabels"], pod_labels)
    replicas = dep["spec"]["replicas"]
    if "maxUnavailable" in pdb["spec"]:
        assert 1 <= pdb["spec"]["maxUnavailable"] < replicas  # drains proceed, one stays up
    else:
        assert 1 <= pdb["spec"]["minAvailable"] < replicas


def test_replicas_and_resources_come_from_settings() -> None:
    resources = {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
    plan = run(router={"replicas": 4, "resources": resources})
    assert plan.error is None, plan.error
    assert deployment(plan)["spec"]["replicas"] == 4
    assert container(plan)["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},  # deep-merged over the dev stack's limits
    }


def test_router_deploys_beside_the_sandbox_pool_not_after_it(dev_plan: Plan) -> None:
    """DESIGN §5: only kata-deploy and the sandboxes wait for the sandbox node pool."""
    by_urn = dev_plan.by_urn()
    pool = dev_plan.one(NODE_POOL, "sandbox-pool-pool").urn
    router = dev_plan.one(ROUTER, "router").urn

    def waits_for(urn: str, seen: set[str]) -> set[str]:
        for dep in by_urn[urn].dependencies:
            if dep not in seen and dep in by_urn:
                seen.add(dep)
                waits_for(dep, seen)
        return seen

    for reg in dev_plan.registrations:
        if reg.parent == router:
            assert pool not in waits_for(reg.urn, set()), reg.name


# --- hardening --------------------------------------------------------------------------------
def test_restrictive_security_context(dev_plan: Plan) -> None:
    spec = pod_spec(dev_plan)
    sc = container(dev_plan)["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc.get("privileged", False) is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert not sc["capabilities"].get("add")
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    # A read-only root still leaves the process a writable /tmp.
    mounts = {m["mountPath"]: m["name"] for m in container(dev_plan)["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert not spec.get("hostNetwork") and not spec.get("hostPID")


def test_dedicated_service_account_without_api_token(dev_plan: Plan) -> None:
    sa = dev_plan.one(SERVICE_ACCOUNT, "router-sa").inputs
    spec = pod_spec(dev_plan)
    assert spec["serviceAccountName"] == sa["metadata"]["name"] != "default"
    assert sa["metadata"]["namespace"] == ROUTER_NAMESPACE
    assert sa["automountServiceAccountToken"] is False
    assert spec["automountServiceAccountToken"] is False


def test_mutable_tag_is_always_pulled_digest_is_not(dev_plan: Plan) -> None:
    assert container(dev_plan)["imagePullPolicy"] == "Always"
    plan = run(router={"image": PINNED})
    assert container(plan)["image"] == PINNED
    assert container(plan)["imagePullPolicy"] == "IfNotPresent"


# --- authentication ---------------------------------------------------------------------------
def test_token_reaches_the_router_from_a_secret(dev_plan: Plan) -> None:
    e = env(dev_plan)
    assert e["ALLOW_UNAUTHENTICATED_ROUTER"]["value"] == "false"
    token = e["ROUTER_AUTH_TOKEN"]
    assert "value" not in token  # never inline in the pod spec
    ref = token["valueFrom"]["secretKeyRef"]
    secret = dev_plan.one(SECRET, "router-auth")
    assert ref["name"] == secret.inputs["metadata"]["name"]
    assert secret.inputs["metadata"]["namespace"] == deployment(dev_plan)["metadata"]["namespace"]
    data = secret.inputs.get("stringData") or secret.inputs.get("data")
    assert ref["key"] in data
    password = dev_plan.one(RANDOM_PASSWORD, "router-token").inputs
    assert password["length"] >= 32


def _plain_hits(value: Any, path: str, secret_paths: list[str]) -> list[str]:
    if isinstance(value, dict):
        return [
            hit
            for k, v in value.items()
            for hit in _plain_hits(v, f"{path}.{k}" if path else k, secret_paths)
        ]
    if isinstance(value, list):
        return [
            hit for i, v in enumerate(value) for hit in _plain_hits(v, f"{path}[{i}]", secret_paths)
        ]
    if isinstance(value, str) and MOCK_TOKEN in value:
        covered = any(
            path == s or path.startswith(f"{s}.") or path.startswith(f"{s}[") for s in secret_paths
        )
        return [] if covered else [path]
    return []


def test_token_is_never_plain_text_in_any_input_or_output(dev_plan: Plan) -> None:
    leaks = {
        reg.name: hits
        for reg in dev_plan.registrations
        if (hits := _plain_hits(reg.inputs, "", reg.secret_paths))
    }
    assert leaks == {}
    # The token does reach the Secret, as a secret.
    secret = dev_plan.one(SECRET, "router-auth")
    assert MOCK_TOKEN in json.dumps(secret.inputs)
    assert secret.secret_paths
    for key, value in dev_plan.outputs.items():
        if key not in dev_plan.secret_outputs:
            assert MOCK_TOKEN not in json.dumps(value, default=str), key


def test_token_is_exported_only_as_a_secret(dev_plan: Plan) -> None:
    assert dev_plan.outputs["routerAuthToken"] == MOCK_TOKEN
    assert "routerAuthToken" in dev_plan.secret_outputs
    assert (
        dev_plan.outputs["routerAuthSecretName"]
        == (dev_plan.one(SECRET, "router-auth").inputs["metadata"]["name"])
    )


def test_a_new_token_rolls_the_router_pods(dev_plan: Plan) -> None:
    """Env from a Secret is read at start: the pod template must change with the token."""
    reg = dev_plan.one(DEPLOYMENT, "router-deployment")
    annotations = reg.inputs["spec"]["template"]["metadata"]["annotations"]
    (key,) = annotations
    assert f"spec.template.metadata.annotations.{key}" in reg.secret_paths
    assert annotations[key] and MOCK_TOKEN not in annotations[key]


def test_unauthenticated_router_needs_the_setting_and_is_warned_about(dev_plan: Plan) -> None:
    assert not [w for w in dev_plan.warnings if "allowUnauthenticated" in w]
    plan = run(router={"allowUnauthenticated": True})
    assert plan.error is None, plan.error
    e = env(plan)
    assert e["ALLOW_UNAUTHENTICATED_ROUTER"]["value"] == "true"
    assert "ROUTER_AUTH_TOKEN" not in e
    assert plan.by_type(RANDOM_PASSWORD) == [] and plan.by_type(SECRET) == []
    assert plan.outputs["routerAuthToken"] is None
    assert [w for w in plan.warnings if "router.allowUnauthenticated is true" in w]


# --- image ------------------------------------------------------------------------------------
def test_default_image_is_the_staging_one_and_preview_says_so(dev_plan: Plan) -> None:
    image = container(dev_plan)["image"]
    assert image.startswith("us-central1-docker.pkg.dev/k8s-staging-images/")
    assert [w for w in dev_plan.warnings if "router.image" in w and "staging" in w]


@pytest.mark.parametrize(
    "image",
    [
        None,  # the default staging tag
        "registry.example.com/agent-sandbox/sandbox-router:v1.0.0",
    ],
)
def test_mutable_tag_in_production_is_a_settings_error(image: str | None) -> None:
    plan = run(production=True, router={"image": image} if image else {}, **NO_SANDBOXES)
    assert plan.error is not None
    assert "router.image" in plan.error and "@sha256:" in plan.error
    assert plan.registrations == []  # rejected before anything registers


def test_digest_pinned_image_passes_in_production() -> None:
    plan = run(production=True, router={"image": PINNED}, **NO_SANDBOXES)
    assert plan.error is None, plan.error
    assert container(plan)["image"] == PINNED
    assert not [w for w in plan.warnings if "router.image" in w]


# --- outputs the SDK needs ----------------------------------------------------------------------
def test_outputs_for_the_sdk(dev_plan: Plan, upstream: Path) -> None:
    out = dev_plan.outputs
    svc = service(dev_plan)
    assert out["routerServiceName"] == svc["metadata"]["name"] == "sandbox-router-svc"
    assert out["routerNamespace"] == svc["metadata"]["namespace"] == ROUTER_NAMESPACE
    assert out["routerPort"] == svc["spec"]["ports"][0]["port"] == 8080
    assert out["routerUrl"] == (
        "http://sandbox-router-svc.agent-sandbox-system.svc.cluster.local:8080"
    )
    # The runtime port upstream's sandbox example listens on (the SDKs' default).
    template = upstream / "agent-sandbox/examples/python-client/python-sandbox-template.yaml"
    text = template.read_text().replace("${", "").replace("}", "")
    (c,) = yaml.safe_load(text)["spec"]["podTemplate"]["spec"]["containers"]
    assert out["sandboxPort"] == c["ports"][0]["containerPort"]


def test_router_disabled_registers_nothing_and_outputs_stay() -> None:
    plan = run(router={"enabled": False}, gateway={"enabled": False})
    assert plan.error is None, plan.error
    assert plan.by_type(ROUTER) == []
    # The controller's Deployment stays; no router Deployment is left.
    assert [d for d in plan.by_type(DEPLOYMENT) if "router" in d.name] == []
    for key in ("routerServiceName", "routerNamespace", "routerUrl", "routerAuthToken"):
        assert plan.outputs[key] is None


# ---------------------------------------------------------------------------------------------
# the router's NetworkPolicy
# ---------------------------------------------------------------------------------------------
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SANDBOX_POD = {"agents.x-k8s.io/sandbox-name-hash": "3f2a9c1b"}


def router_policy(plan: Plan) -> dict[str, Any]:
    (policy,) = [
        p.inputs
        for p in plan.by_type(NETWORK_POLICY)
        if p.inputs["metadata"]["name"] == "sandbox-router"
    ]
    return dict(policy)


def _selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for req in selector.get("matchExpressions") or []:
        assert req["operator"] == "Exists", req
        if req["key"] not in labels:
            return False
    return True


def egress_allows(
    policy: dict[str, Any], namespace: str, labels: dict[str, str], port: int
) -> bool:
    """Does an egress rule admit TCP to a pod (namespace, labels) on port? ipBlocks never match
    pods here: the test asserts there are none."""
    for rule in policy["spec"]["egress"]:
        ports = [p["port"] for p in rule.get("ports") or []]
        if ports and port not in ports:
            continue
        for peer in rule.get("to") or []:
            assert "ipBlock" not in peer, peer
            ns = {"kubernetes.io/metadata.name": namespace}
            if _selects(peer.get("namespaceSelector"), ns) and _selects(
                peer.get("podSelector"), labels
            ):
                return True
    return False


def test_router_network_policy_selects_the_router(dev_plan: Plan) -> None:
    policy = router_policy(dev_plan)
    assert policy["metadata"]["namespace"] == "agent-sandbox-system"
    assert policy["spec"]["podSelector"] == {"matchLabels": {"app": "sandbox-router"}}
    assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"]


def test_router_reaches_only_dns_and_sandbox_pods(dev_plan: Plan) -> None:
    policy = router_policy(dev_plan)
    assert egress_allows(policy, "kube-system", {"k8s-app": "kube-dns"}, 53)
    for port in (8888, 13337):  # the SDK's runtime port; the VS Code sandbox's port
        assert egress_allows(policy, "agent-sandboxes", SANDBOX_POD, port)
    # X-Sandbox-Pod-IP / X-Sandbox-Namespace cannot aim it anywhere else.
    assert not egress_allows(policy, "agent-sandboxes", {"app": "agent-runner"}, 8888)
    assert not egress_allows(policy, "agent-sandbox-system", {"control-plane": "x"}, 8080)
    assert not egress_allows(policy, "kube-system", SANDBOX_POD, 8888)
    assert not egress_allows(policy, "agent-sandboxes", SANDBOX_POD, 22)
    plan = run(admission={"sandboxNamespaces": ["team-b"]})
    assert egress_allows(router_policy(plan), "team-b", SANDBOX_POD, 8888)


def test_router_ingress_only_from_the_load_balancer_and_client_namespaces(dev_plan: Plan) -> None:
    (rule,) = router_policy(dev_plan)["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]
    # Google's load-balancer proxies and health checkers (global class)...
    cidrs = sorted(p["ipBlock"]["cidr"] for p in rule["from"] if "ipBlock" in p)
    assert cidrs == ["130.211.0.0/22", "35.191.0.0/16"]
    # ...and team-a's client namespace (tenants[].clientNamespace) plus router.clientNamespaces
    # (empty in dev); nobody else.
    namespaces = [p["namespaceSelector"] for p in rule["from"] if "ipBlock" not in p]
    assert namespaces == [{"matchLabels": {"kubernetes.io/metadata.name": "team-a-agents"}}]
    assert all(set(p) in ({"ipBlock"}, {"namespaceSelector"}) for p in rule["from"])
    plan = run(router={"clientNamespaces": ["ops-agents"]})
    (rule,) = router_policy(plan)["spec"]["ingress"]
    assert [p["namespaceSelector"]["matchLabels"] for p in rule["from"] if "ipBlock" not in p] == [
        {"kubernetes.io/metadata.name": "ops-agents"},
        {"kubernetes.io/metadata.name": "team-a-agents"},
    ]
    no_clients = [{"namespace": "team-a"}]  # a tenant without a client namespace
    plan = run(tenants=no_clients)
    (rule,) = router_policy(plan)["spec"]["ingress"]
    assert all("ipBlock" in p for p in rule["from"])
    # Without a gateway and without client namespaces: no ingress (kubectl port-forward enters
    # the pod's own network namespace and is not subject to NetworkPolicy).
    plan = run(gateway={"enabled": False}, tenants=no_clients)
    assert router_policy(plan)["spec"]["ingress"] == []


def test_regional_gateway_admits_the_proxy_only_subnet() -> None:
    bad = run(gateway={"className": "gke-l7-rilb"})
    assert bad.error is not None and "router.trustedProxyCidrs" in bad.error
    assert bad.registrations == []
    plan = run(
        gateway={"className": "gke-l7-rilb"}, router={"trustedProxyCidrs": ["10.129.0.0/23"]}
    )
    (rule,) = router_policy(plan)["spec"]["ingress"]
    assert {"ipBlock": {"cidr": "10.129.0.0/23"}} in rule["from"]


def test_client_namespaces_cannot_be_sandbox_namespaces() -> None:
    plan = run(router={"clientNamespaces": ["agent-sandboxes"]})
    assert plan.error is not None and "router.clientNamespaces" in plan.error
    plan = run(router={"clientNamespaces": ["kube-system"]})
    assert plan.error is not None and "router.clientNamespaces" in plan.error
