"""Tenant stacks: only their namespace and namespaced resources in it, on the platform's runtime
classes and cluster, read from the platform stack's real outputs through a StackReference."""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import plan_for
from helpers import config, run

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
def test_only_the_tenant_namespace_and_resources_inside_it(team_a: Plan) -> None:
    k8s = team_a.kubernetes()
    assert k8s
    outside = [
        f"{r.type} {r.name}"
        for r in k8s
        if not (
            (r.type == "kubernetes:core/v1:Namespace" and r.inputs["metadata"]["name"] == TENANT)
            or namespace_of(r) == TENANT
            # the SDK clients' identities and token, where the clients run
            or (namespace_of(r) == CLIENTS and r.type.rsplit(":", 1)[1] in CLIENT_KINDS)
        )
    ]
    assert outside == []
    assert not [r for r in team_a.registrations if r.type.startswith(("gcp:", "random:"))]


def test_the_tenant_registers_quota_limits_rbac_network_policies_and_sandboxes(
    team_a: Plan,
) -> None:
    kinds = {r.type.rsplit(":", 1)[1] for r in team_a.kubernetes()}
    assert kinds == {
        "Namespace",
        "ResourceQuota",
        "LimitRange",
        "ServiceAccount",
        "Secret",
        "Role",
        "RoleBinding",
        "NetworkPolicy",
        "SandboxTemplate",
        "SandboxWarmPool",
    }


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


@pytest.mark.parametrize("output", ["runtimeClasses", "defaultRuntimeClass", "contractVersion"])
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


def test_the_tenant_may_not_take_the_platforms_sandboxes_namespace(dev: Plan) -> None:
    taken = dev.outputs["sandboxNamespace"]
    plan = tenant_run(dev, tenant={"namespace": taken})
    assert plan.error is not None and "tenant.namespace" in plan.error
    assert tenant_registrations(plan) == []


# ---------------------------------------------------------------------------------------------
# quota and limits
# ---------------------------------------------------------------------------------------------
def test_quota_and_limits_follow_the_settings(team_a: Plan) -> None:
    t = tenant_cfg()[f"{NS}:tenant"]
    hard = team_a.one(QUOTA).inputs["spec"]["hard"]
    q = t["quota"]
    assert hard["requests.cpu"] == hard["limits.cpu"] == q["cpu"]
    assert hard["requests.memory"] == hard["limits.memory"] == q["memory"]
    assert hard["pods"] == str(q["pods"])
    assert hard["requests.storage"] == q["storage"]
    # Sandboxes are reached through the router, never through their own load balancer.
    assert hard["services.loadbalancers"] == hard["services.nodeports"] == "0"
    (item,) = team_a.one(LIMITS).inputs["spec"]["limits"]
    lim = t["limits"]
    assert item["type"] == "Container"
    assert item["default"] == {"cpu": lim["defaultCpu"], "memory": lim["defaultMemory"]}
    assert item["defaultRequest"] == {
        "cpu": lim["defaultRequestCpu"],
        "memory": lim["defaultRequestMemory"],
    }
    assert item["max"] == {"cpu": lim["maxCpu"], "memory": lim["maxMemory"]}


def test_quota_and_limits_wait_for_the_namespace(team_a: Plan) -> None:
    (namespace,) = team_a.by_type("kubernetes:core/v1:Namespace")
    for type_ in (QUOTA, LIMITS, ROLE):
        assert namespace.urn in team_a.one(type_).dependencies


def test_more_sandboxes_than_the_pod_quota_is_refused_before_anything_registers(
    dev: Plan,
) -> None:
    pools = tenant_cfg()[f"{NS}:sandboxes"]["warmPools"]
    quota = tenant_cfg()[f"{NS}:tenant"]["quota"]["pods"]
    plan = tenant_run(dev, sandboxes={"warmPools": [{**pools[0], "replicas": quota + 1}]})
    assert plan.error is not None and "tenant.quota.pods" in plan.error
    assert tenant_registrations(plan) == []


def test_kata_overhead_counts_against_the_cpu_quota(dev: Plan) -> None:
    # 2 replicas x (1 cpu limit + 250m kata-qemu podFixed, DESIGN §3) = 2.5 cpu.
    limits = tenant_cfg()[f"{NS}:sandboxes"]["templates"][0]["resources"]["limits"]
    assert limits["cpu"] == "1"
    ok = tenant_run(dev, tenant={"quota": {"cpu": "2500m"}, "limits": {"maxCpu": "1"}})
    assert ok.error is None, ok.error
    short = tenant_run(dev, tenant={"quota": {"cpu": "2400m"}, "limits": {"maxCpu": "1"}})
    assert short.error is not None and "tenant.quota.cpu" in short.error


def test_a_container_above_the_limit_range_max_is_refused(dev: Plan) -> None:
    plan = tenant_run(dev, tenant={"limits": {"maxCpu": "500m", "defaultCpu": "500m"}})
    assert plan.error is not None
    assert "tenant.limits.maxCpu" in plan.error
    assert "sandboxes.templates[0].resources.limits.cpu" in plan.error


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
    elsewhere = run("dev", router={"clientNamespaces": []})
    assert elsewhere.error is None, elsewhere.error
    warned = tenant_run(elsewhere)
    assert [w for w in warned.warnings if f"add {CLIENTS}" in w]


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
    baseline = team_a.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    assert baseline and all(namespace_of(p) == TENANT for p in baseline)


def test_a_namespace_outside_the_admission_backstop_is_warned_about() -> None:
    uncovered = run("dev", admission={"sandboxNamespaces": []})
    assert uncovered.error is None, uncovered.error
    warned = tenant_run(uncovered)
    assert [w for w in warned.warnings if f"add {TENANT} to admission.sandboxNamespaces" in w]
    covered = run("dev", admission={"sandboxNamespaces": [TENANT]})
    assert covered.error is None, covered.error
    quiet = tenant_run(covered)
    assert quiet.error is None, quiet.error
    assert not [w for w in quiet.warnings if "admission" in w]


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
            {"cluster": {"mode": "create", "project": "p", "location": "us-central1"}},
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


def test_limit_range_defaults_must_be_ordered_and_fit_the_quota() -> None:
    with pytest.raises(SettingsError, match="defaultRequestCpu"):
        parse_settings(
            _tenant_settings(
                tenant={
                    "platformStack": REF,
                    "namespace": TENANT,
                    "limits": {"defaultRequestCpu": "2"},
                }
            )
        )
    with pytest.raises(SettingsError, match=r"tenant\.limits\.maxMemory"):
        parse_settings(
            _tenant_settings(
                tenant={"platformStack": REF, "namespace": TENANT, "quota": {"memory": "4Gi"}}
            )
        )


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
