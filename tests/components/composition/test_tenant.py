"""Tenant stacks: only their namespace and namespaced resources in it, on the platform's runtime
classes and cluster, read from the platform stack's real outputs through a StackReference."""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import plan_for
from helpers import config, merge, run

from components.settings import SettingsError, parse_settings
from offline.engine import Plan, Registration, evaluate

NS = "agent-sandbox-platform"
TENANT = "team-a"
REF = "my-org/agent-sandbox-platform/dev"
STACK_REFERENCE = "pulumi:pulumi:StackReference"
PROVIDER = "pulumi:providers:kubernetes"
TEMPLATE = "kubernetes:extensions.agents.x-k8s.io/v1beta1:SandboxTemplate"
WARM_POOL = "kubernetes:extensions.agents.x-k8s.io/v1beta1:SandboxWarmPool"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
QUOTA = "kubernetes:core/v1:ResourceQuota"
LIMITS = "kubernetes:core/v1:LimitRange"
CLIENTS = "team-a-agents"  # Pulumi.team-a.yaml tenant.clientNamespace
CLIENT_KINDS = {"ServiceAccount", "Secret"}


@pytest.fixture(scope="module")
def dev() -> Plan:
    plan = plan_for("dev")
    assert plan.error is None, plan.error
    return plan


@pytest.fixture(scope="module")
def team_a() -> Plan:
    # evaluate_stack answers the StackReference with the dev stack's real outputs.
    plan = plan_for(TENANT)
    assert plan.error is None, plan.error
    return plan


def tenant_cfg() -> dict[str, Any]:
    return config(TENANT)


def declared(**patch: Any) -> dict[str, Any]:
    """team-a as the dev platform stack declares it (Pulumi.dev.yaml tenants), patched."""
    (t,) = [t for t in config("dev")[f"{NS}:tenants"] if t["namespace"] == TENANT]
    return merge(t, patch)


def platform_with(**patch: Any) -> Plan:
    """The dev platform stack with team-a's declaration patched."""
    plan = run("dev", tenants=[declared(**patch)])
    assert plan.error is None, plan.error
    return plan


def tenant_run(platform: Plan, drop: tuple[str, ...] = (), **sections: Any) -> Plan:
    """team-a with settings patched, against ``platform``'s outputs as Pulumi hands them over
    (outputs whose value is None do not exist)."""
    outputs = {k: v for k, v in platform.outputs.items() if v is not None and k not in drop}
    return evaluate(
        config(TENANT, **sections),
        stack=TENANT,
        stack_references={REF: outputs},
        stack_reference_secrets={REF: platform.secret_outputs},
    )


def namespace_of(reg: Registration) -> str | None:
    meta = reg.inputs.get("metadata") or {}
    return meta.get("namespace")


def tenant_registrations(plan: Plan) -> list[Registration]:
    """Everything but the read of the platform stack."""
    return [r for r in plan.registrations if r.type != STACK_REFERENCE]


# ---------------------------------------------------------------------------------------------
# what a tenant stack registers
# ---------------------------------------------------------------------------------------------
def test_only_resources_inside_the_tenant_namespace(team_a: Plan) -> None:
    k8s = team_a.kubernetes()
    assert k8s
    outside = [
        f"{r.type} {r.name}"
        for r in k8s
        if not (
            namespace_of(r) == TENANT
            # the SDK clients' identities and token, where the clients run
            or (namespace_of(r) == CLIENTS and r.type.rsplit(":", 1)[1] in CLIENT_KINDS)
        )
    ]
    assert outside == []
    assert not [r for r in team_a.registrations if r.type.startswith(("gcp:", "random:"))]


def test_the_tenant_registers_rbac_and_sandboxes_but_not_its_own_guardrails(
    team_a: Plan,
) -> None:
    """Issue 18, 3: namespace, Pod Security labels, quota and limits are the platform's."""
    kinds = {r.type.rsplit(":", 1)[1] for r in team_a.kubernetes()}
    assert kinds == {
        "ServiceAccount",
        "Secret",
        "Role",
        "RoleBinding",
        "SandboxTemplate",
        "SandboxWarmPool",
    }


def test_the_tenants_deploy_identity_needs_only_the_platforms_deployer_roles(
    team_a: Plan, dev: Plan
) -> None:
    """Everything the tenant stack registers (with a standalone sandbox and its NetworkPolicy
    too) is namespaced and within the Roles the platform creates for its deploy identity:
    sandbox-deployer in the sandbox namespace, sandbox-client-deployer in the clients'
    namespace; no cluster-scoped right."""

    def granted_in(namespace: str, role_name: str) -> set[tuple[str, str, str]]:
        (role,) = [
            r
            for r in dev.by_type(ROLE)
            if r.inputs["metadata"]["name"] == role_name
            and r.inputs["metadata"]["namespace"] == namespace
        ]
        return {
            (g, res, v)
            for rule in role.inputs["rules"]
            for g in rule["apiGroups"]
            for res in rule["resources"]
            for v in rule["verbs"]
        }

    granted = {
        TENANT: granted_in(TENANT, "sandbox-deployer"),
        CLIENTS: granted_in(CLIENTS, "sandbox-client-deployer"),
    }
    assert not [g for rules in granted.values() for g in rules if "*" in g]
    sandbox = {
        **tenant_cfg()[f"{NS}:sandboxes"]["templates"][0],
        "name": "one-off",
        "operatingMode": "Running",
    }
    for key in ("readinessProbe",):
        sandbox.pop(key, None)
    plan = tenant_run(dev, sandboxes={"sandboxes": [sandbox]})
    assert plan.error is None, plan.error
    plural = {
        "NetworkPolicy": "networkpolicies",
        "RoleBinding": "rolebindings",
        "Role": "roles",
        "ServiceAccount": "serviceaccounts",
        "Secret": "secrets",
        "SandboxTemplate": "sandboxtemplates",
        "SandboxWarmPool": "sandboxwarmpools",
        "Sandbox": "sandboxes",
    }
    registered = {(r.type, namespace_of(r)) for r in plan.kubernetes()}
    assert ("kubernetes:agents.x-k8s.io/v1beta1:Sandbox", TENANT) in registered
    assert ("kubernetes:core/v1:Secret", CLIENTS) in registered
    for type_, namespace in registered:
        api, kind = type_.split(":")[1:]
        group = api.rsplit("/", 1)[0] if "/" in api else ""
        group = "" if group == "core" else group
        for verb in ("create", "update", "patch", "delete", "get"):
            assert (group, plural[kind], verb) in granted[namespace], (type_, namespace, verb)


def test_a_client_namespace_the_platform_did_not_declare_is_refused(dev: Plan) -> None:
    plan = tenant_run(dev, tenant={"clientNamespace": "elsewhere"})
    assert plan.registrations == [] or all(r.type == STACK_REFERENCE for r in plan.registrations)
    assert plan.error is not None
    assert "tenant.clientNamespace 'elsewhere'" in plan.error
    assert "tenants[].clientNamespace" in plan.error


def test_the_platform_creates_the_clients_namespace_and_admits_it_to_the_router(
    dev: Plan,
) -> None:
    namespaces = {
        r.inputs["metadata"]["name"]: r for r in dev.by_type("kubernetes:core/v1:Namespace")
    }
    clients = namespaces[CLIENTS]
    assert clients.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == (
        "restricted"
    )
    assert clients.options["retainOnDelete"]
    assert CLIENTS in dev.outputs["routerClientNamespaces"]


def test_the_platform_stack_is_read_through_a_stack_reference_named_by_the_setting(
    team_a: Plan, dev: Plan
) -> None:
    (ref,) = team_a.by_type(STACK_REFERENCE)
    assert ref.options.get("read") is True
    # The mock answers only the name it is given: the program must ask for the setting's.
    other = "other-org/agent-sandbox-platform/prod"
    outputs = {k: v for k, v in dev.outputs.items() if v is not None}
    plan = evaluate(
        config(TENANT, tenant={"platformStack": other}),
        stack=TENANT,
        stack_references={other: outputs},
        stack_reference_secrets={other: dev.secret_outputs},
    )
    assert plan.error is None, plan.error
    assert plan.one(PROVIDER).inputs["clusterIdentifier"].startswith(f"{other}/")


def test_the_provider_is_built_from_the_platforms_secret_kubeconfig(
    team_a: Plan, dev: Plan
) -> None:
    provider = team_a.one(PROVIDER)
    assert provider.inputs["kubeconfig"] == dev.outputs["kubeconfig"]
    assert "kubeconfig" in provider.secret_paths
    # Stable across kubeconfig churn: the platform stack and its cluster name, in plain text.
    assert provider.inputs["clusterIdentifier"] == f"{REF}/{dev.outputs['clusterName']}"
    assert "clusterIdentifier" not in provider.secret_paths


def test_sandboxes_use_the_platforms_default_runtime_class() -> None:
    # A platform whose default is its second class: the tenant's template names none.
    platform = run("dev", isolation={"defaultRuntimeClass": "kata-clh"})
    assert platform.error is None, platform.error
    plan = tenant_run(platform)
    assert plan.error is None, plan.error
    spec = plan.one(TEMPLATE).inputs["spec"]["podTemplate"]["spec"]
    assert spec["runtimeClassName"] == "kata-clh"


def test_an_explicit_runtime_class_must_be_installed_by_the_platform(dev: Plan) -> None:
    cfg = tenant_cfg()[f"{NS}:sandboxes"]
    template = {**cfg["templates"][0], "runtimeClass": "kata-clh"}
    plan = tenant_run(dev, sandboxes={"templates": [template]})
    assert plan.error is None, plan.error
    spec = plan.one(TEMPLATE).inputs["spec"]["podTemplate"]["spec"]
    assert spec["runtimeClassName"] == "kata-clh"

    bad = {**template, "runtimeClass": "kata-dragonball"}
    plan = tenant_run(dev, sandboxes={"templates": [bad]})
    assert plan.error is not None
    assert "sandboxes.templates[0].runtimeClass" in plan.error
    assert REF in plan.error
    assert tenant_registrations(plan) == []


@pytest.mark.parametrize(
    # blockedEgress: an older platform (contract 2) did not export it, and a tenant must not
    # guess that there is nothing to exclude.
    "output",
    ["runtimeClasses", "defaultRuntimeClass", "contractVersion", "blockedEgress"],
)
def test_a_missing_platform_output_is_a_clear_error_and_registers_nothing(
    dev: Plan, output: str
) -> None:
    plan = tenant_run(dev, drop=(output,))
    assert plan.error is not None
    assert f"has no output {output}" in plan.error
    assert REF in plan.error
    assert "Traceback" not in plan.error
    assert tenant_registrations(plan) == []


def test_without_a_platform_kubeconfig_the_tenant_must_name_its_own_context(dev: Plan) -> None:
    plan = tenant_run(dev, drop=("kubeconfig",))
    assert plan.error is not None
    assert "cluster.kubeconfig.context" in plan.error
    assert tenant_registrations(plan) == []

    own = {"mode": "kubeconfig", "kubeconfig": {"context": "team-a-ctx"}}
    plan = tenant_run(dev, drop=("kubeconfig",), cluster=own)
    assert plan.error is None, plan.error
    provider = plan.one(PROVIDER)
    assert provider.inputs["context"] == "team-a-ctx"
    assert provider.inputs["clusterIdentifier"] == "team-a-ctx"


def test_a_namespace_the_platform_did_not_declare_is_refused(dev: Plan) -> None:
    plan = tenant_run(dev, tenant={"namespace": "team-z"})
    assert plan.error is not None
    assert "tenant.namespace 'team-z' is not a tenant of the platform stack" in plan.error
    assert "under tenants" in plan.error and "team-a" in plan.error
    assert tenant_registrations(plan) == []


def test_old_tenant_guardrail_settings_say_where_they_moved() -> None:
    for key, value in (("quota", {"pods": 3}), ("limits", {}), ("createNamespace", False)):
        with pytest.raises(SettingsError, match=rf"tenant\.{key}: the platform stack owns"):
            parse_settings(
                _tenant_settings(tenant={"platformStack": REF, "namespace": TENANT, key: value})
            )


def test_the_tenant_may_not_take_the_platforms_sandboxes_namespace(dev: Plan) -> None:
    taken = dev.outputs["sandboxNamespace"]
    plan = tenant_run(dev, tenant={"namespace": taken})
    assert plan.error is not None and "tenant.namespace" in plan.error
    assert tenant_registrations(plan) == []


# ---------------------------------------------------------------------------------------------
# quota and limits
# ---------------------------------------------------------------------------------------------
def boundary_of(plan: Plan, type_: str, namespace: str = TENANT) -> Registration:
    (reg,) = [r for r in plan.by_type(type_) if namespace_of(r) == namespace]
    return reg


def test_the_platform_creates_the_tenants_namespace_quota_and_limits(dev: Plan) -> None:
    t = declared()
    (ns,) = [
        r
        for r in dev.by_type("kubernetes:core/v1:Namespace")
        if r.inputs["metadata"]["name"] == TENANT
    ]
    labels = ns.inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == t["podSecurity"] == "restricted"
    assert ns.options.get("retainOnDelete") is True
    hard = boundary_of(dev, QUOTA).inputs["spec"]["hard"]
    q = t["quota"]
    assert hard["requests.cpu"] == hard["limits.cpu"] == q["cpu"]
    assert hard["requests.memory"] == hard["limits.memory"] == q["memory"]
    assert hard["pods"] == str(q["pods"])
    assert hard["requests.storage"] == q["storage"]
    # Sandboxes are reached through the router, never through their own load balancer.
    assert hard["services.loadbalancers"] == hard["services.nodeports"] == "0"
    (item,) = boundary_of(dev, LIMITS).inputs["spec"]["limits"]
    lim = t["limits"]
    assert item["type"] == "Container"
    assert item["default"] == {"cpu": lim["defaultCpu"], "memory": lim["defaultMemory"]}
    assert item["defaultRequest"] == {
        "cpu": lim["defaultRequestCpu"],
        "memory": lim["defaultRequestMemory"],
    }
    assert item["max"] == {"cpu": lim["maxCpu"], "memory": lim["maxMemory"]}
    # Everything in it waits for the namespace; the namespace for the admission backstop.
    for type_ in (QUOTA, LIMITS, ROLE, "kubernetes:networking.k8s.io/v1:NetworkPolicy"):
        assert ns.urn in boundary_of(dev, type_).dependencies
    from offline.graph import dependency_graph, dependents

    bindings = [
        r.urn
        for r in dev.by_type(
            "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
        )
    ]
    assert bindings and ns.urn in dependents(dependency_graph(dev), bindings)


def test_deploy_subjects_are_bound_to_the_deployer_role() -> None:
    plan = platform_with(
        deployGroups=["team-a-deployers@example.com"], deployUsers=["ci@p.iam.gserviceaccount.com"]
    )
    (binding,) = [
        r for r in plan.by_type(BINDING) if r.inputs["metadata"]["name"] == "sandbox-deployer"
    ]
    assert binding.inputs["roleRef"]["name"] == "sandbox-deployer"
    assert {(s["kind"], s["name"]) for s in binding.inputs["subjects"]} == {
        ("Group", "team-a-deployers@example.com"),
        ("User", "ci@p.iam.gserviceaccount.com"),
    }


def test_more_sandboxes_than_the_pod_quota_is_refused_before_anything_registers(
    dev: Plan,
) -> None:
    pools = tenant_cfg()[f"{NS}:sandboxes"]["warmPools"]
    quota = declared()["quota"]["pods"]
    plan = tenant_run(dev, sandboxes={"warmPools": [{**pools[0], "replicas": quota + 1}]})
    assert plan.error is not None and "quota.pods" in plan.error
    assert f"tenants[{TENANT}]" in plan.error and "platform team" in plan.error
    assert tenant_registrations(plan) == []


def test_kata_overhead_counts_against_the_cpu_quota() -> None:
    # 2 replicas x (1 cpu limit + 250m kata-qemu podFixed, DESIGN §3) = 2.5 cpu.
    limits = tenant_cfg()[f"{NS}:sandboxes"]["templates"][0]["resources"]["limits"]
    assert limits["cpu"] == "1"
    fits = platform_with(quota={"cpu": "2500m"}, limits={"maxCpu": "1", "defaultCpu": "1"})
    ok = tenant_run(fits)
    assert ok.error is None, ok.error
    short = platform_with(quota={"cpu": "2400m"}, limits={"maxCpu": "1", "defaultCpu": "1"})
    plan = tenant_run(short)
    assert plan.error is not None and "quota.cpu" in plan.error


def test_a_container_above_the_limit_range_max_is_refused() -> None:
    plan = tenant_run(platform_with(limits={"maxCpu": "500m", "defaultCpu": "500m"}))
    assert plan.error is not None
    assert "limits.maxCpu" in plan.error
    assert "sandboxes.templates[0].resources.limits.cpu" in plan.error


def test_a_tenant_limited_to_some_runtime_classes_gets_those() -> None:
    platform = platform_with(runtimeClasses=["kata-clh"])
    plan = tenant_run(platform)
    assert plan.error is None, plan.error
    spec = plan.one(TEMPLATE).inputs["spec"]["podTemplate"]["spec"]
    assert spec["runtimeClassName"] == "kata-clh"
    assert plan.outputs["runtimeClasses"] == ["kata-clh"]
    cfg = tenant_cfg()[f"{NS}:sandboxes"]
    qemu = {**cfg["templates"][0], "runtimeClass": "kata-qemu"}
    bad = tenant_run(platform, sandboxes={"templates": [qemu]})
    assert bad.error is not None and "may not use" in bad.error


def test_workloads_must_fit_the_platforms_pod_security_level(dev: Plan) -> None:
    cfg = tenant_cfg()[f"{NS}:sandboxes"]
    root = {**cfg["templates"][0], "security": {"runAsNonRoot": False}}
    plan = tenant_run(dev, sandboxes={"templates": [root]})
    assert plan.error is not None
    assert "enforces Pod Security 'restricted'" in plan.error
    assert tenant_registrations(plan) == []
    assert (
        tenant_run(platform_with(podSecurity="baseline"), sandboxes={"templates": [root]}).error
        is None
    )


# ---------------------------------------------------------------------------------------------
# RBAC of the SDK clients
# ---------------------------------------------------------------------------------------------
def test_clients_may_claim_and_follow_sandboxes_and_nothing_more(team_a: Plan) -> None:
    rules = team_a.one(ROLE).inputs["rules"]
    granted = {
        (group, res, verb)
        for r in rules
        for group in r["apiGroups"]
        for res in r["resources"]
        for verb in r["verbs"]
    }
    claims = {
        ("extensions.agents.x-k8s.io", "sandboxclaims", v)
        for v in ("create", "get", "list", "watch", "delete")
    }
    assert claims <= granted
    assert {("agents.x-k8s.io", "sandboxes", v) for v in ("get", "list", "watch")} <= granted
    writes = {"create", "update", "patch", "delete", "deletecollection", "*"}
    assert not [g for g in granted if g[1] != "sandboxclaims" and g[2] in writes]
    assert not [g for g in granted if "*" in g]


def test_the_binding_names_the_settings_subjects(team_a: Plan) -> None:
    t = tenant_cfg()[f"{NS}:tenant"]
    binding = team_a.one(BINDING).inputs
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": team_a.one(ROLE).inputs["metadata"]["name"],
    }
    subjects = {(s["kind"], s["name"], s.get("namespace")) for s in binding["subjects"]}
    expected = {("ServiceAccount", sa, CLIENTS) for sa in t["clientServiceAccounts"]}
    expected |= {("Group", g, None) for g in t["clientGroups"]}
    assert subjects == expected
    accounts = {
        r.inputs["metadata"]["name"] for r in team_a.by_type("kubernetes:core/v1:ServiceAccount")
    }
    assert accounts == set(t["clientServiceAccounts"])


def test_in_cluster_clients_get_the_token_where_they_run(team_a: Plan, dev: Plan) -> None:
    """Client pods run outside the sandbox namespace (admission forces every pod there into the
    sandbox runtime); the token Secret they mount is written there from the platform's secret
    output, never copied by hand, and stays a secret."""
    (secret,) = team_a.by_type("kubernetes:core/v1:Secret")
    assert namespace_of(secret) == CLIENTS
    assert secret.inputs["metadata"]["name"] == dev.outputs["routerAuthSecretName"]
    assert any(p.startswith("stringData") for p in secret.secret_paths), secret.secret_paths
    # The value is the platform's token (the mock engine resolves the secret).
    router = dev.one("kubernetes:core/v1:Secret", "-router-auth")
    assert secret.inputs["stringData"] == router.inputs["stringData"]
    accounts = team_a.by_type("kubernetes:core/v1:ServiceAccount")
    assert accounts and all(namespace_of(a) == CLIENTS for a in accounts)
    assert team_a.outputs["clientNamespace"] == CLIENTS
    # The platform admits that namespace at the router (dev lists it): no warning.
    assert not [w for w in team_a.warnings if "router.clientNamespaces" in w]


def test_client_namespace_settings_are_checked(dev: Plan) -> None:
    plan = tenant_run(dev, tenant={"clientNamespace": None})
    assert plan.error is not None and "tenant.clientNamespace" in plan.error
    assert plan.registrations == []
    plan = tenant_run(dev, tenant={"clientNamespace": TENANT})
    assert plan.error is not None and "tenant.clientNamespace" in plan.error
    # A platform that declared no client namespace for the tenant: nowhere for its clients.
    undeclared = run("dev", tenants=[{"namespace": TENANT}])
    assert undeclared.error is None, undeclared.error
    refused = tenant_run(undeclared)
    assert refused.error is not None
    assert f"tenant.clientNamespace '{CLIENTS}'" in refused.error
    assert "it declared none" in refused.error and "tenants[].clientNamespace" in refused.error


def test_without_subjects_there_is_a_role_but_no_binding(dev: Plan) -> None:
    plan = tenant_run(dev, tenant={"clientServiceAccounts": [], "clientGroups": []})
    assert plan.error is None, plan.error
    assert plan.by_type(ROLE) and not plan.by_type(BINDING)


# ---------------------------------------------------------------------------------------------
# network policies, admission coverage, outputs
# ---------------------------------------------------------------------------------------------
def test_sandboxes_accept_traffic_only_from_the_platforms_router(team_a: Plan) -> None:
    policy = team_a.one(TEMPLATE).inputs["spec"]["networkPolicy"]
    (rule,) = policy["ingress"]
    (peer,) = rule["from"]
    router_ns = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
    assert router_ns == "agent-sandbox-system"
    assert peer["podSelector"]["matchLabels"] == {"app": "sandbox-router"}


def test_the_platform_gives_the_tenant_namespace_its_baseline_network_policy(dev: Plan) -> None:
    # Sandboxes clients create at run time: no ingress, the sandbox egress; sandbox pods (the
    # controller's label) as in the platform's own sandbox namespace.
    policy = boundary_of(dev, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
    spec = policy.inputs["spec"]
    assert spec["podSelector"] == {
        "matchExpressions": [{"key": "agents.x-k8s.io/sandbox-name-hash", "operator": "Exists"}]
    }
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in spec or spec["ingress"] in (None, [])


def test_the_tenant_namespace_is_guarded_by_the_platforms_backstop(team_a: Plan, dev: Plan) -> None:
    assert TENANT in dev.outputs["admissionNamespaces"]
    assert not [w for w in team_a.warnings if "admission" in w]


def test_outputs_tell_clients_where_their_sandboxes_are(team_a: Plan, dev: Plan) -> None:
    out = team_a.outputs
    assert out["sandboxNamespace"] == TENANT
    assert out["sandboxWarmPools"] == ["python"]
    assert out["routerUrl"] == dev.outputs["routerUrl"]
    assert out["runtimeClasses"] == dev.outputs["runtimeClasses"]
    assert "routerAuthToken" in team_a.secret_outputs


# ---------------------------------------------------------------------------------------------
# settings of a tenant stack
# ---------------------------------------------------------------------------------------------
def _tenant_settings(**extra: Any) -> dict[str, Any]:
    return {"role": "tenant", "tenant": {"platformStack": REF, "namespace": TENANT}, **extra}


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        ({"isolation": {"runtime": "kata"}}, "isolation"),
        ({"router": {"replicas": 3}}, "router"),
        ({"nodePool": {"maxNodes": 5}}, "nodePool"),
        ({"sandboxes": {"namespace": "elsewhere"}}, "sandboxes.namespace"),
        (
            {"cluster": {"mode": "create", "project": "my-project", "location": "us-central1"}},
            "cluster.mode",
        ),
    ],
)
def test_a_tenant_stack_refuses_platform_settings(extra: dict[str, Any], names: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(names)):
        parse_settings(_tenant_settings(**extra))


def test_a_tenant_namespace_must_be_its_own() -> None:
    for ns in ("kube-system", "default", "agent-sandbox-system"):
        with pytest.raises(SettingsError, match=r"tenant\.namespace"):
            parse_settings({"role": "tenant", "tenant": {"platformStack": REF, "namespace": ns}})


def _platform_settings(**tenant: Any) -> dict[str, Any]:
    cfg = {k.split(":", 1)[1]: v for k, v in config("dev").items() if k.startswith(NS)}
    return {**cfg, "tenants": [{"namespace": TENANT, **tenant}]}


def test_limit_range_defaults_must_be_ordered_and_fit_the_quota() -> None:
    with pytest.raises(SettingsError, match="defaultRequestCpu"):
        parse_settings(_platform_settings(limits={"defaultRequestCpu": "2"}))
    with pytest.raises(SettingsError, match=r"tenants\[\]\.limits\.maxMemory"):
        parse_settings(_platform_settings(quota={"memory": "4Gi"}))


@pytest.mark.parametrize(
    ("tenants", "expect"),
    [
        ([{"namespace": "kube-system"}], "system namespace"),
        ([{"namespace": "x"}, {"namespace": "x"}], "declared twice"),
        ([{"namespace": "agent-sandboxes"}], "sandboxes.namespace"),
        ([{"namespace": "x", "runtimeClasses": ["kata-fc"]}], "tenants[0].runtimeClasses"),
    ],
)
def test_bad_tenant_declarations_are_refused(tenants: list[Any], expect: str) -> None:
    cfg = {k.split(":", 1)[1]: v for k, v in config("dev").items() if k.startswith(NS)}
    with pytest.raises(SettingsError, match=re.escape(expect)):
        parse_settings({**cfg, "tenants": tenants})


def test_a_tenant_stack_cannot_declare_tenants() -> None:
    with pytest.raises(SettingsError, match="tenants: platform settings cannot be set"):
        parse_settings(_tenant_settings(tenants=[{"namespace": "team-b"}]))


def test_only_tenant_stacks_have_a_tenant_section() -> None:
    cfg = {k.split(":", 1)[1]: v for k, v in config("local").items() if k.startswith(NS)}
    with pytest.raises(SettingsError, match="tenant"):
        parse_settings({**cfg, "tenant": {"platformStack": REF, "namespace": TENANT}})


def test_a_tenant_that_overfills_the_platforms_pool_is_warned_about(
    dev: Plan, team_a: Plan
) -> None:
    capacity = dict(dev.outputs["capacity"])
    # A pool that the platform's own sandboxes already fill.
    capacity["pool_capacity"] = capacity["declared"]
    outputs = {k: v for k, v in dev.outputs.items() if v is not None}
    plan = evaluate(
        config(TENANT),
        stack=TENANT,
        stack_references={REF: {**outputs, "capacity": capacity}},
        stack_reference_secrets={REF: dev.secret_outputs},
    )
    assert plan.error is None, plan.error
    assert [w for w in plan.warnings if "nodePool.maxNodes" in w]
    assert not [w for w in team_a.warnings if "nodePool.maxNodes" in w]


def test_tenants_whose_quotas_outgrow_the_shared_pool_are_warned_about(dev: Plan) -> None:
    """Issue 18, 3: each quota bounds one tenant; the platform warns when together they (and
    its own sandboxes) would not fit the pool."""
    cap = dev.outputs["capacity"]
    assert not [w for w in dev.warnings if "tenants[].quota.pods add up" in w]
    room = int(cap["pool_capacity"]) - int(cap["declared"])
    assert declared()["quota"]["pods"] <= room
    plan = platform_with(quota={"pods": room + 1})
    assert [w for w in plan.warnings if f"add up to {room + 1}" in w]


def test_tenant_sandbox_egress_never_reaches_the_platforms_cluster_endpoint(
    team_a: Plan, dev: Plan
) -> None:
    # Issue 18.5 on tenant stacks: NetworkPolicies are a union, so each rule a tenant's
    # templates and sandboxes add that opens the internet must except the API server's public
    # address too, or it undoes the platform's baseline. The tenant learns it from the contract.
    from offline.engine import MOCK_ENDPOINT

    endpoint = f"{MOCK_ENDPOINT}/32"
    assert dev.outputs["blockedEgress"] == [endpoint]
    specs = [
        *(
            r.inputs["spec"]
            for r in team_a.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        ),
        *(r.inputs["spec"]["networkPolicy"] for r in team_a.by_type(TEMPLATE)),
    ]
    blocks = [
        peer["ipBlock"]
        for spec in specs
        for rule in spec.get("egress", [])
        for peer in rule.get("to", [])
        if peer.get("ipBlock", {}).get("cidr") == "0.0.0.0/0"
    ]
    assert blocks, "team-a's sandboxes open no internet egress: the test would prove nothing"
    assert all(endpoint in b["except"] for b in blocks)
