"""The GKE Gateway in front of the router: schema-valid resources, in the Service's namespace,
with a health check on /healthz and a backend timeout that never undercuts the router's."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml
from helpers import run

from offline.engine import Plan, Registration
from offline.manifests import to_manifest
from offline.validate import validate_manifest

GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
HTTP_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
HEALTH_CHECK = "kubernetes:networking.gke.io/v1:HealthCheckPolicy"
BACKEND_POLICY = "kubernetes:networking.gke.io/v1:GCPBackendPolicy"
GATEWAY_KINDS = (GATEWAY, HTTP_ROUTE, HEALTH_CHECK, BACKEND_POLICY)
SERVICE = "kubernetes:core/v1:Service"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CRD_FILES = (
    "gateway-api/standard/gateway.networking.k8s.io_gateways.yaml",
    "gateway-api/standard/gateway.networking.k8s.io_httproutes.yaml",
    "gke-gateway-policies/crds/networking.gke.io_healthcheckpolicies.yaml",
    "gke-gateway-policies/crds/networking.gke.io_gcpbackendpolicies.yaml",
)
HTTPS_SECRET = {"https": {"certificateSecret": "router-tls"}, "hostname": "sandboxes.example.com"}
HTTPS_PRE_SHARED = {
    "https": {"preSharedCertificate": "sandbox-cert"},
    "hostname": "sandboxes.example.com",
}


# --- CEL rules of the CRDs (jsonschema cannot check x-kubernetes-validations) -----------------
@cache
def raw_schemas(root: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema with its CEL rules (validate.py drops them)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out = {}
    for rel in CRD_FILES:
        crd = yaml.load((root / rel).read_text(), Loader=loader)
        for version in crd["spec"]["versions"]:
            key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
            out[key] = version["schema"]["openAPIV3Schema"]
    return out


def raw_schema(root: Path, api_version: str, kind: str) -> dict[str, Any]:
    return raw_schemas(root)[(api_version, kind)]


@cache
def cel_program(rule: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(rule))


def cel_violations(schema: dict[str, Any], value: Any, path: str = "") -> list[str]:
    """Evaluate every x-kubernetes-validations rule on the parts of ``value`` that exist."""
    out = []
    for rule in schema.get("x-kubernetes-validations", []):
        if "oldSelf" in rule["rule"]:
            continue  # transition rules need a previous object
        result = cel_program(rule["rule"]).evaluate({"self": celpy.json_to_cel(value)})
        if not isinstance(result, celpy.celtypes.BoolType) or not bool(result):
            out.append(f"{path or '<root>'}: {rule.get('message', rule['rule'])} ({result!r})")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key) or (extra if isinstance(extra, dict) else None)
            if sub:
                out += cel_violations(sub, item, f"{path}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            out += cel_violations(schema["items"], item, f"{path}[{i}]")
    return out


def problems(reg: Registration, root: Path) -> list[str]:
    manifest = to_manifest(reg)
    schema = raw_schema(root, manifest["apiVersion"], manifest["kind"])
    return validate_manifest(manifest) + cel_violations(schema, manifest)


def test_cel_check_catches_a_broken_health_check(upstream: Path) -> None:
    """The CEL evaluation above can fail: a fixed port with USE_SERVING_PORT is refused."""
    schema = raw_schema(upstream, "networking.gke.io/v1", "HealthCheckPolicy")
    bad = {
        "spec": {
            "default": {
                "config": {
                    "type": "HTTP",
                    "httpHealthCheck": {"portSpecification": "USE_SERVING_PORT", "port": 8080},
                }
            }
        }
    }
    assert cel_violations(schema, bad)


# --- helpers ----------------------------------------------------------------------------------
def only(plan: Plan, type_: str) -> dict[str, Any]:
    (reg,) = plan.by_type(type_)
    return reg.inputs


def routes(plan: Plan) -> dict[str, dict[str, Any]]:
    return {r.inputs["metadata"]["name"]: r.inputs for r in plan.by_type(HTTP_ROUTE)}


def router_service(plan: Plan) -> dict[str, Any]:
    return plan.one(SERVICE, "router-service").inputs


def router_env_value(plan: Plan, name: str) -> str:
    (container,) = plan.one(DEPLOYMENT, "router-deployment").inputs["spec"]["template"]["spec"][
        "containers"
    ]
    env = {e["name"]: e.get("value") for e in container["env"]}
    return str(env[name])


def router_timeout(plan: Plan) -> int:
    return int(router_env_value(plan, "PROXY_TIMEOUT_SECONDS"))


def upstream_gateway_docs(upstream: Path) -> dict[str, dict[str, Any]]:
    path = upstream / "agent-sandbox/examples/python-sandbox-router/gateway.yaml"
    return {d["kind"]: d for d in yaml.safe_load_all(path.read_text()) if d}


def listeners(plan: Plan) -> dict[str, dict[str, Any]]:
    return {lst["name"]: lst for lst in only(plan, GATEWAY)["spec"]["listeners"]}


# --- schema -----------------------------------------------------------------------------------
@pytest.mark.parametrize("gateway", [{}, HTTPS_SECRET, HTTPS_PRE_SHARED])
def test_gateway_resources_validate_against_upstream_crds(
    gateway: dict[str, Any], upstream: Path, dev_plan: Plan
) -> None:
    plan = run(gateway=gateway) if gateway else dev_plan
    assert plan.error is None, plan.error
    regs = [r for r in plan.registrations if r.type in GATEWAY_KINDS]
    assert {r.type for r in regs} == set(GATEWAY_KINDS)
    assert {r.name: problems(r, upstream) for r in regs} == {r.name: [] for r in regs}


# --- gateway ----------------------------------------------------------------------------------
def test_gateway_listens_on_http_for_the_routers_namespace_only(
    dev_plan: Plan, upstream: Path
) -> None:
    gw = only(dev_plan, GATEWAY)
    svc = router_service(dev_plan)
    assert gw["metadata"]["namespace"] == svc["metadata"]["namespace"] == "agent-sandbox-system"
    up = upstream_gateway_docs(upstream)["Gateway"]
    assert gw["spec"]["gatewayClassName"] == up["spec"]["gatewayClassName"]
    ls = listeners(dev_plan)
    assert list(ls) == ["http"]
    assert ls["http"]["protocol"] == "HTTP" and ls["http"]["port"] == 80
    # "Same" = the Gateway's namespace, which is the router's.
    assert ls["http"]["allowedRoutes"]["namespaces"] == {"from": "Same"}
    assert [w for w in dev_plan.warnings if "gateway.https" in w]


def test_class_is_a_setting() -> None:
    plan = run(
        gateway={"className": "gke-l7-regional-external-managed"},
        router={"trustedProxyCidrs": ["10.129.0.0/23"]},  # the proxy-only subnet
    )
    assert only(plan, GATEWAY)["spec"]["gatewayClassName"] == "gke-l7-regional-external-managed"
    bad = run(gateway={"className": "istio"})
    assert bad.error is not None and "gateway.className" in bad.error
    assert bad.registrations == []


def test_route_sends_everything_to_the_router_service(dev_plan: Plan) -> None:
    gw = only(dev_plan, GATEWAY)
    svc = router_service(dev_plan)
    route = only(dev_plan, HTTP_ROUTE)
    assert route["metadata"]["namespace"] == svc["metadata"]["namespace"]
    (parent,) = route["spec"]["parentRefs"]
    assert parent["name"] == gw["metadata"]["name"]
    assert parent.get("namespace", gw["metadata"]["namespace"]) == gw["metadata"]["namespace"]
    (rule,) = route["spec"]["rules"]
    (backend,) = rule["backendRefs"]
    assert backend["name"] == svc["metadata"]["name"]
    assert backend["port"] == svc["spec"]["ports"][0]["port"]
    assert backend.get("kind", "Service") == "Service" and backend.get("group", "") == ""
    # Same namespace as the Service: no ReferenceGrant needed.
    assert backend.get("namespace", route["metadata"]["namespace"]) == svc["metadata"]["namespace"]
    assert "hostnames" not in route["spec"]


def test_hostname_is_a_setting() -> None:
    plan = run(gateway={"hostname": "sandboxes.example.com"})
    assert only(plan, HTTP_ROUTE)["spec"]["hostnames"] == ["sandboxes.example.com"]
    bad = run(gateway={"hostname": "Not A Host"})
    assert bad.error is not None and "gateway.hostname" in bad.error


# --- GKE policies -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", [HEALTH_CHECK, BACKEND_POLICY])
def test_policies_sit_beside_the_service_and_target_it(kind: str, dev_plan: Plan) -> None:
    policy = only(dev_plan, kind)
    svc = router_service(dev_plan)
    assert policy["metadata"]["namespace"] == svc["metadata"]["namespace"]
    target = policy["spec"]["targetRef"]
    assert target["group"] == "" and target["kind"] == "Service"
    assert target["name"] == svc["metadata"]["name"]
    assert target.get("namespace", svc["metadata"]["namespace"]) == svc["metadata"]["namespace"]


def test_health_check_uses_healthz_on_the_serving_port(dev_plan: Plan, upstream: Path) -> None:
    up_check = upstream_gateway_docs(upstream)["HealthCheckPolicy"]["spec"]["default"]
    config = only(dev_plan, HEALTH_CHECK)["spec"]["default"]["config"]
    assert config["type"] == up_check["config"]["type"] == "HTTP"
    check = config["httpHealthCheck"]
    assert check["requestPath"] == up_check["config"]["httpHealthCheck"]["requestPath"]
    assert check.get("portSpecification", "USE_SERVING_PORT") == "USE_SERVING_PORT"


def test_backend_timeout_covers_websocket_sessions(dev_plan: Plan) -> None:
    """GCP load balancers apply the backend timeout to a WebSocket's whole life: by default it
    is the router's WebSocket lifetime, not its per-request timeout (the router answers 504
    itself when a request runs longer)."""
    timeout = only(dev_plan, BACKEND_POLICY)["spec"]["default"]["timeoutSec"]
    lifetime = int(router_env_value(dev_plan, "WEBSOCKET_MAX_LIFETIME_SECONDS"))
    assert timeout == lifetime == 86400
    assert timeout > router_timeout(dev_plan)  # the VS Code IDE no longer drops at 180 s
    plan = run(router={"websocketMaxLifetimeSeconds": 7200})
    assert only(plan, BACKEND_POLICY)["spec"]["default"]["timeoutSec"] == 7200
    # 0 disables the router's cap (as upstream's router reads it); the load balancer keeps a day.
    plan = run(router={"websocketMaxLifetimeSeconds": 0})
    assert plan.error is None, plan.error
    assert router_env_value(plan, "WEBSOCKET_MAX_LIFETIME_SECONDS") == "0"
    assert only(plan, BACKEND_POLICY)["spec"]["default"]["timeoutSec"] == 86400
    # A request timeout above the WebSocket cap still wins (never cut a request short).
    plan = run(router={"proxyTimeoutSeconds": 600, "websocketMaxLifetimeSeconds": 300})
    assert only(plan, BACKEND_POLICY)["spec"]["default"]["timeoutSec"] == 600


def test_explicit_gateway_timeout_at_or_above_the_router_wins() -> None:
    plan = run(gateway={"timeoutSec": 900})
    assert plan.error is None, plan.error
    assert only(plan, BACKEND_POLICY)["spec"]["default"]["timeoutSec"] == 900
    assert plan.outputs["gatewayTimeoutSec"] == 900


def test_gateway_timeout_below_the_router_is_a_settings_error() -> None:
    plan = run(gateway={"timeoutSec": 60})
    assert plan.error is not None
    assert "gateway.timeoutSec" in plan.error and "router.proxyTimeoutSeconds" in plan.error
    assert plan.registrations == []


# --- HTTPS ------------------------------------------------------------------------------------
def test_https_with_a_certificate_secret_serves_the_router_on_443_only() -> None:
    plan = run(gateway=HTTPS_SECRET)
    assert plan.error is None, plan.error
    ls = listeners(plan)
    https = ls["https"]
    assert https["protocol"] == "HTTPS" and https["port"] == 443
    assert https["tls"]["mode"] == "Terminate"
    (ref,) = https["tls"]["certificateRefs"]
    assert ref["name"] == "router-tls" and ref.get("kind", "Secret") == "Secret"
    assert "namespace" not in ref  # the Gateway's namespace: no ReferenceGrant needed
    assert https["allowedRoutes"]["namespaces"] == {"from": "Same"}
    assert not [w for w in plan.warnings if "gateway.https" in w]

    by_listener: dict[str, dict[str, Any]] = {}
    for route in routes(plan).values():
        (parent,) = route["spec"]["parentRefs"]
        by_listener[parent["sectionName"]] = route["spec"]
        assert route["spec"]["hostnames"] == ["sandboxes.example.com"]
    # The router (and the token clients send) only behind TLS; plain HTTP only redirects.
    assert "backendRefs" in by_listener["https"]["rules"][0]
    (redirect_rule,) = by_listener["http"]["rules"]
    assert "backendRefs" not in redirect_rule
    (f,) = redirect_rule["filters"]
    assert f["type"] == "RequestRedirect" and f["requestRedirect"]["scheme"] == "https"


def test_https_with_a_pre_shared_certificate() -> None:
    plan = run(gateway=HTTPS_PRE_SHARED)
    assert plan.error is None, plan.error
    tls = listeners(plan)["https"]["tls"]
    assert tls["options"] == {"networking.gke.io/pre-shared-certs": "sandbox-cert"}
    assert "certificateRefs" not in tls


@pytest.mark.parametrize(
    "https",
    [{}, {"certificateSecret": "router-tls", "preSharedCertificate": "sandbox-cert"}],
)
def test_https_needs_exactly_one_certificate(https: dict[str, str]) -> None:
    plan = run(gateway={"https": https})
    assert plan.error is not None
    assert "gateway.https" in plan.error
    assert "certificateSecret" in plan.error and "preSharedCertificate" in plan.error
    assert plan.registrations == []


# --- where there is no gateway ----------------------------------------------------------------
def test_gateway_on_a_kubeconfig_cluster_is_a_settings_error() -> None:
    plan = run("local", gateway={"enabled": True})
    assert plan.error is not None
    assert "gateway.enabled" in plan.error and "port-forward" in plan.error
    assert plan.registrations == []


def test_local_stack_has_the_router_but_no_gateway(local_plan: Plan) -> None:
    assert not [r for r in local_plan.registrations if r.type in GATEWAY_KINDS]
    assert local_plan.by_type(SERVICE)
    assert local_plan.outputs["gatewayName"] is None
    assert local_plan.outputs["routerServiceName"] == "sandbox-router-svc"


def test_gateway_can_be_disabled_on_gke() -> None:
    plan = run(gateway={"enabled": False})
    assert plan.error is None, plan.error
    assert not [r for r in plan.registrations if r.type in GATEWAY_KINDS]
    assert plan.outputs["gatewayName"] is None and plan.outputs["gatewayNamespace"] is None
    assert not [w for w in plan.warnings if "gateway.https" in w]


def test_gateway_without_router_is_a_settings_error() -> None:
    plan = run(router={"enabled": False})
    assert plan.error is not None and "router.enabled" in plan.error


# --- outputs ----------------------------------------------------------------------------------
def test_gateway_outputs_for_the_sdk(dev_plan: Plan) -> None:
    gw = only(dev_plan, GATEWAY)
    assert dev_plan.outputs["gatewayName"] == gw["metadata"]["name"] == "sandbox-gateway"
    assert dev_plan.outputs["gatewayNamespace"] == gw["metadata"]["namespace"]
    assert dev_plan.outputs["gatewayTimeoutSec"] == only(dev_plan, BACKEND_POLICY)["spec"][
        "default"
    ]["timeoutSec"]


# ---------------------------------------------------------------------------------------------
# where SDK clients connect (docs/clients.md): gatewayUrl for each gateway setting
# ---------------------------------------------------------------------------------------------
GLOBAL_ADDRESS = "gcp:compute/globalAddress:GlobalAddress"


def test_default_gateway_has_a_static_address_clients_can_use(dev_plan: Plan) -> None:
    """SDK clients dial plain http://<address> (the SDK's gateway mode does too, and the
    Gateway's status is not readable from a Pulumi CustomResource): the default stack reserves
    the address and exports the URL."""
    (address,) = dev_plan.by_type(GLOBAL_ADDRESS)
    assert address.inputs["project"] == "my-gcp-project"
    assert address.inputs["addressType"] == "EXTERNAL"
    gw = only(dev_plan, GATEWAY)
    (requested,) = gw["spec"]["addresses"]
    assert requested == {"type": "NamedAddress", "value": "agent-sandbox-gateway-address-a1b2c3d"}
    assert dev_plan.outputs["gatewayAddress"] == "192.0.2.20"  # the mock's answer for the IP
    assert dev_plan.outputs["gatewayUrl"] == "http://192.0.2.20"
    assert "hostnames" not in only(dev_plan, HTTP_ROUTE)["spec"]


@pytest.mark.parametrize(
    ("gateway", "url"),
    [
        ({"hostname": "sandboxes.example.com"}, "http://sandboxes.example.com"),
        (HTTPS_SECRET, "https://sandboxes.example.com"),
        # A wildcard names no host a client could dial: the URL is the team's to choose.
        ({"hostname": "*.example.com"}, None),
    ],
)
def test_gateway_url_follows_hostname_and_https(gateway: dict[str, Any], url: str | None) -> None:
    plan = run(gateway=gateway)
    assert plan.error is None, plan.error
    assert plan.outputs.get("gatewayUrl") == url


def test_https_needs_a_hostname() -> None:
    plan = run(gateway={"https": {"certificateSecret": "router-tls"}})
    assert plan.error is not None and "gateway.hostname" in plan.error
    assert plan.registrations == []
