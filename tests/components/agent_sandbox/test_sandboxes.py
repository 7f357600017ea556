"""The sandboxes a stack declares: what the dev stack deploys (the seed's VS Code sandbox and the
SDK's python warm pool), secure pod defaults, router-only ingress and DNS-friendly egress, the
dependency graph, and every bad ``sandboxes:`` setting rejected before anything registers."""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import NS, config, run

from offline.engine import Plan, Registration
from offline.manifests import to_manifest
from offline.validate import validate_manifest

SANDBOX = "kubernetes:agents.x-k8s.io/v1beta1:Sandbox"
TEMPLATE = "kubernetes:extensions.agents.x-k8s.io/v1beta1:SandboxTemplate"
WARM_POOL = "kubernetes:extensions.agents.x-k8s.io/v1beta1:SandboxWarmPool"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
NAMESPACE = "kubernetes:core/v1:Namespace"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
RUNTIME_CLASS = "kubernetes:node.k8s.io/v1:RuntimeClass"
NODE_POOL = "gcp:container/nodePool:NodePool"
# DESIGN §3: the router lives in agent-sandbox-system; cluster DNS is kube-dns in kube-system.
ROUTER_NAMESPACE = "agent-sandbox-system"
KUBE_DNS = ("kube-system", {"k8s-app": "kube-dns"})
PSA = "pod-security.kubernetes.io/"


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def sandbox_objects(plan: Plan) -> list[Registration]:
    return [*plan.by_type(SANDBOX), *plan.by_type(TEMPLATE), *plan.by_type(WARM_POOL)]


def pod_templates(plan: Plan) -> Iterator[tuple[Registration, dict[str, Any]]]:
    for reg in [*plan.by_type(SANDBOX), *plan.by_type(TEMPLATE)]:
        yield reg, reg.inputs["spec"]["podTemplate"]


def by_k8s_name(plan: Plan, type_: str, name: str) -> Registration:
    (reg,) = [r for r in plan.by_type(type_) if r.inputs["metadata"]["name"] == name]
    return reg


def sandboxes_section() -> dict[str, Any]:
    return copy.deepcopy(config()[f"{NS}:sandboxes"])


def with_item(kind: str, index: int = 0, **changes: Any) -> dict[str, Any]:
    """The dev ``sandboxes`` section with one template/sandbox/pool changed (None removes)."""
    section = sandboxes_section()
    item = section[kind][index]
    for key, value in changes.items():
        if value is None:
            item.pop(key, None)
        else:
            item[key] = value
    return section


def rejected(expected: str | list[str], **sections: Any) -> str:
    plan = run(**sections)
    assert plan.error is not None, "expected a settings error"
    assert plan.registrations == [], "a bad setting must register nothing"
    for text in [expected] if isinstance(expected, str) else expected:
        assert text in plan.error, plan.error
    return plan.error


def egress_reaches(rules: list[dict[str, Any]], ip: str) -> bool:
    """Whether NetworkPolicy egress rules let traffic to an IP address out (ipBlock peers)."""
    addr = ipaddress.ip_address(ip)
    for rule in rules:
        assert rule.get("to"), "an egress rule without `to` would allow every destination"
        for peer in rule["to"]:
            block = peer.get("ipBlock")
            if (
                block
                and addr in ipaddress.ip_network(block["cidr"])
                and not any(addr in ipaddress.ip_network(x) for x in block.get("except", []))
            ):
                return True
    return False


def upstream_yaml(upstream: Path, *parts: str) -> Any:
    return yaml.safe_load((upstream / "agent-sandbox" / "examples" / Path(*parts)).read_text())


def sandbox_pool(plan: Plan) -> Registration:
    """The tainted GKE pool (the system pool has no taints)."""
    (pool,) = [r for r in plan.by_type(NODE_POOL) if r.inputs["nodeConfig"].get("taints")]
    return pool


def router_pods(plan: Plan) -> tuple[str, dict[str, str]]:
    """Namespace and pod labels of the router Deployment the stack deploys."""
    (router,) = [r for r in plan.by_type(DEPLOYMENT) if "router" in r.name]
    return router.inputs["metadata"]["namespace"], router.inputs["spec"]["template"]["metadata"][
        "labels"
    ]


# ---------------------------------------------------------------------------------------------
# the dev stack: the seed's example and the SDK's path
# ---------------------------------------------------------------------------------------------
def test_dev_declares_the_seeds_vscode_sandbox(dev_plan: Plan, upstream: Path) -> None:
    base = upstream_yaml(upstream, "vscode-sandbox", "base", "vscode-sandbox.yaml")
    kata = upstream_yaml(upstream, "vscode-sandbox", "overlays", "kata", "patch-kata.yaml")
    seed = (upstream / "agent-sandbox" / "kata-containers-isolation.txt").read_text()
    port = int(re.search(r"X-Sandbox-Port: (\d+)", seed).group(1))  # type: ignore[union-attr]

    ours = by_k8s_name(dev_plan, SANDBOX, base["metadata"]["name"]).inputs["spec"]
    up_container = base["spec"]["podTemplate"]["spec"]["containers"][0]
    (container,) = ours["podTemplate"]["spec"]["containers"]
    assert (
        ours["podTemplate"]["spec"]["runtimeClassName"]
        == (kata["spec"]["podTemplate"]["spec"]["runtimeClassName"])
    )
    assert container["image"] == up_container["image"]
    ours_env = {e["name"]: e["value"] for e in container["env"]}
    for env in up_container["env"]:
        if env["name"] != "AGENT_PROMPT":  # ours is worded differently
            assert ours_env[env["name"]] == env["value"]
    assert set(ours_env) == {e["name"] for e in up_container["env"]}
    assert [p["containerPort"] for p in container["ports"]] == [port]
    assert ours["service"] is True
    (mount,) = up_container["volumeMounts"]
    assert container["volumeMounts"][0]["mountPath"] == mount["mountPath"]
    (claim,) = ours["volumeClaimTemplates"]
    (up_claim,) = base["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == container["volumeMounts"][0]["name"]
    assert claim["spec"]["resources"] == up_claim["spec"]["resources"]  # 10Gi
    for key, value in up_container["resources"]["requests"].items():
        assert container["resources"]["requests"][key] == value


def test_dev_declares_the_python_runtime_template_and_warm_pool(
    dev_plan: Plan, upstream: Path
) -> None:
    up = upstream_yaml(upstream, "python-client", "python-sandbox-template.yaml")
    (up_container,) = up["spec"]["podTemplate"]["spec"]["containers"]
    (pool,) = dev_plan.by_type(WARM_POOL)
    template_name = pool.inputs["spec"]["sandboxTemplateRef"]["name"]
    template = by_k8s_name(dev_plan, TEMPLATE, template_name).inputs["spec"]
    (container,) = template["podTemplate"]["spec"]["containers"]
    assert container["image"] == up_container["image"]
    # DESIGN §3: the SDKs default to runtime port 8888.
    assert [p["containerPort"] for p in container["ports"]] == [8888]
    assert container["readinessProbe"]["httpGet"] == up_container["readinessProbe"]["httpGet"]
    assert pool.inputs["spec"]["replicas"] >= 1  # claims find booted sandboxes
    assert dev_plan.outputs["sandboxWarmPools"] == [pool.inputs["metadata"]["name"]]
    assert dev_plan.outputs["sandboxNamespace"] == pool.inputs["metadata"]["namespace"]


def test_every_sandbox_object_validates_against_the_upstream_crds(
    dev_plan: Plan, upstream: Path
) -> None:
    objects = sandbox_objects(dev_plan)
    assert len(objects) == 3
    for reg in objects:
        assert validate_manifest(to_manifest(reg)) == [], reg.name


def test_every_sandbox_and_template_runs_on_an_installed_runtime_class(dev_plan: Plan) -> None:
    installed = set(dev_plan.outputs["runtimeClasses"])
    registered = {r.inputs["metadata"]["name"] for r in dev_plan.by_type(RUNTIME_CLASS)}
    assert installed == registered
    classes = {}
    for reg, tpl in pod_templates(dev_plan):
        classes[reg.inputs["metadata"]["name"]] = tpl["spec"]["runtimeClassName"]
    assert set(classes.values()) <= installed
    # The template names none in Pulumi.dev.yaml: it gets the platform default.
    assert classes["python-sandbox-template"] == dev_plan.outputs["defaultRuntimeClass"]


def test_everything_waits_for_the_controller_and_the_runtime(dev_plan: Plan) -> None:
    controller = next(r for r in dev_plan.by_type(DEPLOYMENT) if "controller" in r.name)
    classes = dev_plan.by_type(RUNTIME_CLASS)
    (kata_deploy,) = dev_plan.by_type(DAEMONSET)
    assert len(classes) == 2  # kata-qemu, kata-clh
    (namespace,) = [r for r in dev_plan.by_type(NAMESPACE) if "sandboxes" in r.name]
    pool = sandbox_pool(dev_plan)
    base = {controller.urn, namespace.urn, *(r.urn for r in classes)}
    # Pods start from pools and sandboxes: they also wait for kata-deploy and the pool.
    for reg in [*dev_plan.by_type(SANDBOX), *dev_plan.by_type(WARM_POOL)]:
        assert base | {kata_deploy.urn, pool.urn} <= set(reg.dependencies), reg.name
    # A template creates no pod, so it does not hold up behind the node pool (DESIGN §5).
    for reg in dev_plan.by_type(TEMPLATE):
        assert base <= set(reg.dependencies), reg.name
        assert not {kata_deploy.urn, pool.urn} & set(reg.dependencies), reg.name


def test_sandboxes_wait_for_their_network_policy(dev_plan: Plan) -> None:
    for reg in dev_plan.by_type(SANDBOX):
        name = reg.inputs["metadata"]["name"]
        policies = [
            p
            for p in dev_plan.by_type(NETWORK_POLICY)
            if p.inputs["spec"]["podSelector"].get("matchLabels")
            and p.inputs["spec"]["podSelector"]["matchLabels"].items()
            <= reg.inputs["spec"]["podTemplate"]["metadata"]["labels"].items()
        ]
        assert len(policies) == 1, name
        assert policies[0].urn in reg.dependencies


# ---------------------------------------------------------------------------------------------
# secure pod defaults
# ---------------------------------------------------------------------------------------------
def test_pods_are_hardened(dev_plan: Plan) -> None:
    for reg, tpl in pod_templates(dev_plan):
        spec = tpl["spec"]
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(key), (reg.name, key)
        assert not any("hostPath" in v for v in spec.get("volumes", []))
        annotations = tpl["metadata"].get("annotations") or {}
        declared = annotations.get("agent-sandbox.dev/allow-privilege-escalation") == "true"
        for container in spec["containers"]:
            sc = container["securityContext"]
            # Only the reviewed exception (security.allowPrivilegeEscalation) escalates.
            assert sc["allowPrivilegeEscalation"] is declared
            assert sc["privileged"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind])


def test_non_root_unless_explicitly_overridden(dev_plan: Plan) -> None:
    template = by_k8s_name(dev_plan, TEMPLATE, "python-sandbox-template").inputs["spec"]
    spec = template["podTemplate"]["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["containers"][0]["securityContext"]["runAsNonRoot"] is True
    assert "add" not in spec["containers"][0]["securityContext"]["capabilities"]
    # The VS Code sandbox asks for root (envbuilder) in Pulumi.dev.yaml, and gets exactly that.
    vscode_cfg = sandboxes_section()["sandboxes"][0]
    assert vscode_cfg["security"]["runAsNonRoot"] is False
    vscode = by_k8s_name(dev_plan, SANDBOX, "sandbox-example").inputs["spec"]["podTemplate"]
    sc = vscode["spec"]["containers"][0]["securityContext"]
    assert sc["runAsNonRoot"] is False
    assert sc["capabilities"]["add"] == vscode_cfg["security"]["addCapabilities"]


def test_sandbox_pods_land_on_the_sandbox_pool(dev_plan: Plan) -> None:
    pool = sandbox_pool(dev_plan)
    labels = pool.inputs["nodeConfig"]["labels"]
    (taint,) = pool.inputs["nodeConfig"]["taints"]
    for reg, tpl in pod_templates(dev_plan):
        spec = tpl["spec"]
        assert spec["nodeSelector"].items() <= labels.items(), reg.name
        assert any(
            t["key"] == taint["key"] and t.get("value") == taint.get("value")
            for t in spec["tolerations"]
        ), reg.name


# ---------------------------------------------------------------------------------------------
# network
# ---------------------------------------------------------------------------------------------
def check_rules(
    plan: Plan, ingress: list[dict[str, Any]], egress: list[dict[str, Any]], ports: list[int]
) -> None:
    router_ns, router_labels = router_pods(plan)
    assert router_ns == ROUTER_NAMESPACE
    (rule,) = ingress
    (peer,) = rule["from"]
    # Only the router's pods, in the router's namespace.
    assert peer["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": ROUTER_NAMESPACE}
    }
    assert peer["podSelector"]["matchLabels"].items() <= router_labels.items()
    assert sorted(p["port"] for p in rule["ports"]) == sorted(ports)
    # Cluster DNS over UDP and TCP.
    dns_ns, dns_labels = KUBE_DNS
    dns = [
        r
        for r in egress
        if any(
            p.get("podSelector", {}).get("matchLabels") == dns_labels
            and p.get("namespaceSelector", {}).get("matchLabels")
            == {"kubernetes.io/metadata.name": dns_ns}
            for p in r["to"]
        )
    ]
    assert len(dns) == 1
    assert sorted((p["protocol"], p["port"]) for p in dns[0]["ports"]) == [
        ("TCP", 53),
        ("UDP", 53),
    ]
    # The internet yes; the cluster's ranges and the metadata server no.
    assert egress_reaches(egress, "8.8.8.8")
    assert egress_reaches(egress, "203.0.113.9")
    # GKE may also put pods and services in 100.64.0.0/10 (RFC 6598) or class E.
    blocked = ("10.8.0.1", "172.20.1.1", "192.168.3.4", "169.254.169.254", "100.96.0.5")
    blocked += ("240.1.2.3",)
    # IPv6 like IPv4 (upstream's default template policy, sandboxtemplate_controller.go): the
    # internet yes; unique-local (GKE's internal ranges, the metadata server's fd20:ce::254)
    # and link-local no.
    assert egress_reaches(egress, "2001:4860:4860::8888")
    blocked += ("fd20:ce::254", "fe80::1", "fd12:3456::1", "fc00::5")
    for ip in blocked:
        assert not egress_reaches(egress, ip), ip


def test_templates_carry_router_only_ingress_and_dns_friendly_egress(dev_plan: Plan) -> None:
    for reg in dev_plan.by_type(TEMPLATE):
        spec = reg.inputs["spec"]
        assert spec["networkPolicyManagement"] == "Managed"
        ports = [p["containerPort"] for p in spec["podTemplate"]["spec"]["containers"][0]["ports"]]
        check_rules(
            dev_plan, spec["networkPolicy"]["ingress"], spec["networkPolicy"]["egress"], ports
        )


def test_standalone_sandboxes_get_an_equivalent_network_policy(dev_plan: Plan) -> None:
    reg = by_k8s_name(dev_plan, SANDBOX, "sandbox-example")
    pod = reg.inputs["spec"]["podTemplate"]
    policy = next(
        p
        for p in dev_plan.by_type(NETWORK_POLICY)
        if p.inputs["spec"]["podSelector"].get("matchLabels")
        and p.inputs["spec"]["podSelector"]["matchLabels"].items()
        <= pod["metadata"]["labels"].items()
    )
    spec = policy.inputs["spec"]
    assert policy.inputs["metadata"]["namespace"] == reg.inputs["metadata"]["namespace"]
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
    check_rules(dev_plan, spec["ingress"], spec["egress"], [13337])


def test_the_sandboxes_namespace_has_a_baseline_policy(dev_plan: Plan) -> None:
    # Covers sandboxes clients create at run time: no ingress, the same safe egress.
    (policy,) = [
        p
        for p in dev_plan.by_type(NETWORK_POLICY)
        if p.inputs["metadata"]["name"] == "sandboxes-baseline"
        and p.inputs["metadata"]["namespace"] == dev_plan.outputs["sandboxNamespace"]
    ]
    spec = policy.inputs["spec"]
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
    assert not spec.get("ingress")
    assert not egress_reaches(spec["egress"], "169.254.169.254")
    assert not egress_reaches(spec["egress"], "fd20:ce::254")
    assert egress_reaches(spec["egress"], "8.8.8.8")
    assert egress_reaches(spec["egress"], "2001:4860:4860::8888")


def test_egress_allowlist_opens_exactly_the_listed_ranges() -> None:
    section = with_item("templates", egressAllowlist=["10.20.0.0/16"])
    section = {
        **section,
        "sandboxes": with_item("sandboxes", egressAllowlist=["172.16.5.7/32"])["sandboxes"],
    }
    plan = run(sandboxes=section)
    assert plan.error is None, plan.error
    template = plan.by_type(TEMPLATE)[0].inputs["spec"]["networkPolicy"]["egress"]
    assert egress_reaches(template, "10.20.3.4")
    assert not egress_reaches(template, "10.21.0.1")
    policy = next(
        p
        for p in plan.by_type(NETWORK_POLICY)
        if p.inputs["spec"]["podSelector"].get("matchLabels", {}).get("agent-sandbox.dev/sandbox")
    )
    assert egress_reaches(policy.inputs["spec"]["egress"], "172.16.5.7")
    assert not egress_reaches(policy.inputs["spec"]["egress"], "172.16.5.8")


def test_a_workload_without_ports_accepts_no_ingress() -> None:
    plan = run(sandboxes=with_item("templates", ports=[], readinessProbe=None, livenessProbe=None))
    assert plan.error is None, plan.error
    assert plan.by_type(TEMPLATE)[0].inputs["spec"]["networkPolicy"]["ingress"] == []


# ---------------------------------------------------------------------------------------------
# namespace and Pod Security Admission
# ---------------------------------------------------------------------------------------------
def test_namespace_survives_destroy(dev_plan: Plan) -> None:
    # Deleting it would delete every sandbox and volume in it, including runtime claims.
    (ns,) = [r for r in dev_plan.by_type(NAMESPACE) if "sandboxes" in r.name]
    assert ns.options["retainOnDelete"] is True


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A LabelSelector's meaning (matchLabels and the Exists/In/NotIn/DoesNotExist operators)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for req in selector.get("matchExpressions") or []:
        key, op, values = req["key"], req["operator"], req.get("values") or []
        ok = {
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
            "In": labels.get(key) in values,
            "NotIn": labels.get(key) not in values,
        }[op]
        if not ok:
            return False
    return True


def test_baseline_policy_selects_sandbox_pods_only(dev_plan: Plan) -> None:
    """The controller labels every pod it creates for a Sandbox (the SDK reads the same label);
    other pods in the namespace (e.g. an SDK client) are not cut off from the router."""
    from k8s_agent_sandbox.constants import SANDBOX_NAME_HASH_LABEL

    # The platform's sandbox namespace and each tenant's (tenant_boundary.py).
    policies = [
        p
        for p in dev_plan.by_type(NETWORK_POLICY)
        if p.inputs["metadata"]["name"] == "sandboxes-baseline"
    ]
    assert {p.inputs["metadata"]["namespace"] for p in policies} == {"agent-sandboxes", "team-a"}
    for policy in policies:
        selector = policy.inputs["spec"]["podSelector"]
        assert _selects(selector, {SANDBOX_NAME_HASH_LABEL: "3f2a9c1b"})
        assert not _selects(selector, {"app": "agent-runner"})


def test_dev_namespace_enforces_baseline_because_of_the_root_vscode_sandbox(
    dev_plan: Plan,
) -> None:
    (ns,) = [r for r in dev_plan.by_type(NAMESPACE) if "sandboxes" in r.name]
    labels = ns.inputs["metadata"]["labels"]
    assert labels[PSA + "enforce"] == "baseline"
    assert labels[PSA + "warn"] == "restricted"
    assert labels[PSA + "audit"] == "restricted"
    assert any("sandbox-example" in w and "baseline" in w for w in dev_plan.warnings)


def test_namespace_enforces_restricted_when_no_workload_needs_more() -> None:
    section = sandboxes_section()
    section["sandboxes"] = []
    plan = run(sandboxes=section)
    assert plan.error is None, plan.error
    (ns,) = [r for r in plan.by_type(NAMESPACE) if "sandboxes" in r.name]
    assert ns.inputs["metadata"]["labels"][PSA + "enforce"] == "restricted"
    assert not any("Pod Security" in w for w in plan.warnings)


def test_an_existing_namespace_is_used_as_is() -> None:
    plan = run(sandboxes={"namespace": "shared", "createNamespace": False})
    assert plan.error is None, plan.error
    assert not [r for r in plan.by_type(NAMESPACE) if r.inputs["metadata"]["name"] == "shared"]
    assert not [
        p
        for p in plan.by_type(NETWORK_POLICY)
        if p.inputs["spec"]["podSelector"] == {} and p.inputs["metadata"]["namespace"] == "shared"
    ]
    for reg in sandbox_objects(plan):
        assert reg.inputs["metadata"]["namespace"] == "shared"
    assert plan.outputs["sandboxNamespace"] == "shared"


# ---------------------------------------------------------------------------------------------
# other environments
# ---------------------------------------------------------------------------------------------
def test_gvisor_stacks_default_to_gvisor() -> None:
    section = with_item("sandboxes", runtimeClass=None)
    plan = run(isolation={"runtime": "gvisor", "defaultRuntimeClass": None}, sandboxes=section)
    assert plan.error is None, plan.error
    assert {tpl["spec"]["runtimeClassName"] for _, tpl in pod_templates(plan)} == {"gvisor"}


def test_a_kubeconfig_cluster_gets_the_same_sandboxes_without_pool_placement() -> None:
    plan = run("local", sandboxes=sandboxes_section())
    assert plan.error is None, plan.error
    assert plan.by_type(NODE_POOL) == []
    (daemonset,) = plan.by_type(DAEMONSET)
    classes = {r.urn for r in plan.by_type(RUNTIME_CLASS)}
    for reg, tpl in pod_templates(plan):
        assert "nodeSelector" not in tpl["spec"]
        assert classes <= set(reg.dependencies)
        assert validate_manifest(to_manifest(reg)) == []
    for reg in [*plan.by_type(SANDBOX), *plan.by_type(WARM_POOL)]:
        assert daemonset.urn in reg.dependencies


def test_a_suspended_sandbox_is_not_waited_for() -> None:
    plan = run(sandboxes=with_item("sandboxes", operatingMode="Suspended"))
    assert plan.error is None, plan.error
    reg = plan.by_type(SANDBOX)[0]
    assert reg.inputs["spec"]["operatingMode"] == "Suspended"
    assert "pulumi.com/waitFor" not in (reg.inputs["metadata"].get("annotations") or {})


def test_dev_sandbox_waits_for_ready(dev_plan: Plan) -> None:
    reg = by_k8s_name(dev_plan, SANDBOX, "sandbox-example")
    assert reg.inputs["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"


# ---------------------------------------------------------------------------------------------
# settings errors: each names the setting and says why, and nothing registers
# ---------------------------------------------------------------------------------------------
def test_unknown_runtime_class_is_rejected_with_the_installed_ones() -> None:
    err = rejected(
        ["sandboxes.sandboxes[0].runtimeClass", "'kata-fc'", "kata-qemu, kata-clh"],
        sandboxes=with_item("sandboxes", runtimeClass="kata-fc"),
    )
    assert "isolation.kata.shims" in err
    rejected(
        "sandboxes.templates[0].runtimeClass", sandboxes=with_item("templates", runtimeClass="runc")
    )


def test_kata_class_on_a_gvisor_stack_is_rejected() -> None:
    rejected(
        ["sandboxes.sandboxes[0].runtimeClass", "'kata-qemu'", "installed: gvisor"],
        isolation={"runtime": "gvisor", "defaultRuntimeClass": None},
        sandboxes=with_item("sandboxes", runtimeClass="kata-qemu"),
    )


def test_an_explicit_runtime_class_wins_over_the_default() -> None:
    plan = run(sandboxes=with_item("sandboxes", runtimeClass="kata-clh"))
    assert plan.error is None, plan.error
    spec = plan.by_type(SANDBOX)[0].inputs["spec"]["podTemplate"]["spec"]
    assert spec["runtimeClassName"] == "kata-clh"


def test_blank_runtime_class_is_rejected() -> None:
    rejected(
        "sandboxes.templates[0].runtimeClass", sandboxes=with_item("templates", runtimeClass="")
    )


@pytest.mark.parametrize("name", ["VSCode", "vs_code", "-vscode", "x" * 64])
def test_bad_names_are_rejected(name: str) -> None:
    rejected(
        ["sandboxes.sandboxes[0].name", "is not a valid name", "DNS-1123"],
        sandboxes=with_item("sandboxes", name=name),
    )
    rejected("sandboxes.warmPools[0].name", sandboxes=with_item("warmPools", name=name))


def test_dangling_warm_pool_reference_is_rejected() -> None:
    rejected(
        ["sandboxes.warmPools[0].template", "'python-sandbox'", "python-sandbox-template"],
        sandboxes=with_item("warmPools", template="python-sandbox"),
    )


def test_duplicate_names_are_rejected() -> None:
    section = sandboxes_section()
    section["templates"].append(copy.deepcopy(section["templates"][0]))
    rejected("sandboxes.templates has duplicate name(s) python-sandbox-template", sandboxes=section)


@pytest.mark.parametrize(
    ("resources", "missing"),
    [
        ({"requests": {"cpu": "1"}, "limits": {"cpu": "1", "memory": "1Gi"}}, "requests.memory"),
        ({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}, "limits.cpu"),
        ({"requests": {"cpu": "1", "memory": "1Gi"}}, "limits.cpu, resources.limits.memory"),
    ],
)
def test_missing_requests_or_limits_are_rejected(resources: dict[str, Any], missing: str) -> None:
    rejected(
        ["sandboxes.sandboxes[0]", f"resources.{missing} must be set"],
        sandboxes=with_item("sandboxes", resources=resources),
    )


def test_privileged_is_rejected() -> None:
    security = {**sandboxes_section()["sandboxes"][0]["security"], "privileged": True}
    err = rejected(
        "sandboxes.sandboxes[0].security.privileged",
        sandboxes=with_item("sandboxes", security=security),
    )
    assert "not allowed" in err


@pytest.mark.parametrize("key", ["hostNetwork", "hostPID", "hostIPC"])
def test_host_namespaces_are_rejected(key: str) -> None:
    err = rejected(f"sandboxes.templates[0].{key}", sandboxes=with_item("templates", **{key: True}))
    assert "cannot be overridden" in err


def test_host_path_storage_is_rejected() -> None:
    storage = [{"name": "host", "mountPath": "/host", "size": "1Gi", "type": "hostPath"}]
    err = rejected(
        "sandboxes.templates[0].storage[0].type", sandboxes=with_item("templates", storage=storage)
    )
    assert "hostPath is not allowed" in err and "persistentVolumeClaim" in err


@pytest.mark.parametrize("cap", ["SYS_ADMIN", "NET_ADMIN", "CAP_CHOWN"])
def test_capabilities_beyond_baseline_are_rejected(cap: str) -> None:
    security = {"addCapabilities": [cap]}
    rejected(
        ["sandboxes.templates[0].security.addCapabilities", cap],
        sandboxes=with_item("templates", security=security),
    )


def test_restricted_pod_security_refuses_root_workloads() -> None:
    rejected(
        ["sandboxes.podSecurity is 'restricted'", "'sandbox-example'", "runAsNonRoot is false"],
        sandboxes={"podSecurity": "restricted"},
    )


def test_root_uid_with_run_as_non_root_is_rejected() -> None:
    rejected(
        "security.runAsUser is 0",
        sandboxes=with_item("templates", security={"runAsNonRoot": True, "runAsUser": 0}),
    )


@pytest.mark.parametrize(
    ("cidr", "why"),
    [
        ("example.com", "is not a network CIDR"),
        ("10.0.0.1/8", "is not a network CIDR"),
        ("169.254.169.254/32", "metadata server"),
        ("0.0.0.0/0", "metadata server"),
        # IPv6 like IPv4 (issue 15, family 4): everything, the metadata server's IPv6 address,
        # unique-local ranges holding it, link-local.
        ("::/0", "metadata server"),
        ("fd20:ce::254/128", "metadata server"),
        ("fd00::/8", "metadata server"),
        ("fc00::/7", "metadata server"),
        ("fe80::/64", "metadata server"),
        ("2001:db8::1/64", "is not a network CIDR"),
    ],
)
def test_bad_egress_allowlist_entries_are_rejected(cidr: str, why: str) -> None:
    rejected(
        ["sandboxes.sandboxes[0]", f"egressAllowlist entry '{cidr}'", why],
        sandboxes=with_item("sandboxes", egressAllowlist=[cidr]),
    )


def test_ipv6_allowlist_entries_open_exactly_their_range() -> None:
    plan = run(sandboxes=with_item("sandboxes", egressAllowlist=["2001:db8:5::/48"]))
    assert plan.error is None, plan.error
    policy = next(
        p
        for p in plan.by_type(NETWORK_POLICY)
        if p.inputs["metadata"]["name"].startswith("sandbox-")
        and p.inputs["metadata"]["name"] != "sandbox-router"
    )
    egress = policy.inputs["spec"]["egress"]
    assert egress_reaches(egress, "2001:db8:5::7")
    assert not egress_reaches(egress, "fd20:ce::254")


@pytest.mark.parametrize(
    ("cidr", "private"),
    [
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("0.0.0.0/1", "10.0.0.0/8"),
        ("172.16.0.0/12", "172.16.0.0/12"),
        ("192.168.0.0/16", "192.168.0.0/16"),
    ],
)
def test_an_allowlist_entry_reopening_a_whole_private_range_warns(cidr: str, private: str) -> None:
    plan = run(sandboxes=with_item("templates", egressAllowlist=[cidr]))
    assert plan.error is None, plan.error
    (warning,) = [w for w in plan.warnings if "egressAllowlist" in w]
    assert "sandboxes.templates[0].egressAllowlist" in warning
    assert f"'{cidr}'" in warning and private in warning
    assert "VPC" in warning and "cluster" in warning


def test_a_narrow_private_allowlist_entry_does_not_warn() -> None:
    plan = run(sandboxes=with_item("templates", egressAllowlist=["10.20.0.5/32", "fd12::/64"]))
    assert plan.error is None, plan.error
    assert not [w for w in plan.warnings if "egressAllowlist" in w]


@pytest.mark.parametrize("namespace", ["kube-system", "agent-sandbox-system"])
def test_reserved_namespaces_are_rejected(namespace: str) -> None:
    rejected(f"sandboxes.namespace '{namespace}' is reserved", sandboxes={"namespace": namespace})


def test_creating_the_default_namespace_is_rejected() -> None:
    rejected("createNamespace: false", sandboxes={"namespace": "default"})


@pytest.mark.parametrize("when", ["tomorrow", "2030-01-01 00:00", "2030-01-01T00:00:00"])
def test_bad_shutdown_time_is_rejected(when: str) -> None:
    rejected(
        ["sandboxes.sandboxes[0].shutdownTime", "RFC 3339"],
        sandboxes=with_item("sandboxes", shutdownTime=when),
    )


@pytest.mark.parametrize("key", ["agents.x-k8s.io/claim-uid", "app.kubernetes.io/name", "bad key"])
def test_reserved_or_invalid_label_keys_are_rejected(key: str) -> None:
    rejected(f"key '{key}'", sandboxes=with_item("templates", labels={key: "x"}))


def test_duplicate_ports_and_mount_paths_are_rejected() -> None:
    ports = [{"containerPort": 8888}, {"name": "again", "containerPort": 8888}]
    rejected("containerPort 8888 twice", sandboxes=with_item("templates", ports=ports))
    storage = [
        {"name": "a", "mountPath": "/w", "size": "1Gi"},
        {"name": "b", "mountPath": "/w", "size": "1Gi", "type": "emptyDir"},
    ]
    rejected("mountPath /w twice", sandboxes=with_item("templates", storage=storage))


def test_port_names_follow_kubernetes_rules() -> None:
    rejected(
        "sandboxes.templates[0].ports[0].name",
        sandboxes=with_item(
            "templates", ports=[{"name": "a-very-long-port-name", "containerPort": 1}]
        ),
    )
    rejected(
        "at least one letter",
        sandboxes=with_item("templates", ports=[{"name": "8080", "containerPort": 1}]),
    )


def test_production_stacks_refuse_unpinned_sandbox_images() -> None:
    digest = "@sha256:" + "0" * 64
    rejected(
        "sandboxes.templates[0].image",
        production=True,
        router={"image": "registry.example.com/router" + digest},
    )


def test_unknown_sandbox_settings_are_rejected() -> None:
    rejected(
        "sandboxes.sandboxes[0].replicas: unknown setting",
        sandboxes=with_item("sandboxes", replicas=2),
    )


def test_network_policy_names_never_collide() -> None:
    # A sandbox called "baseline" must not take over the namespace-wide policy's name.
    plan = run(sandboxes=with_item("sandboxes", name="baseline"))
    assert plan.error is None, plan.error
    ours = [
        p.inputs["metadata"]["name"]
        for p in plan.by_type(NETWORK_POLICY)
        if p.inputs["metadata"]["namespace"] == plan.outputs["sandboxNamespace"]
    ]
    assert len(ours) == 2 and len(set(ours)) == 2, ours


def test_the_sandbox_namespace_exists_only_once_the_admission_backstop_guards_it(
    dev_plan: Plan,
) -> None:
    from offline.graph import dependency_graph, dependents

    bindings = [
        r.urn
        for r in dev_plan.by_type(
            "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
        )
    ]
    assert len(bindings) >= 2
    namespace = next(
        r
        for r in dev_plan.by_type("kubernetes:core/v1:Namespace")
        if r.inputs["metadata"]["name"] == "agent-sandboxes"
    )
    after_bindings = dependents(dependency_graph(dev_plan), bindings)
    assert namespace.urn in after_bindings
    # An all-in-one stack may run without the backstop: the namespace then waits for nothing.
    plan = run(role="all-in-one", admission={"enabled": False})
    assert plan.error is None, plan.error
    assert plan.by_type("kubernetes:core/v1:Namespace")


# ---------------------------------------------------------------------------------------------
# seed parity: the VS Code sandbox (issue 13, points 12 and 13)
# ---------------------------------------------------------------------------------------------
def test_vscode_sandbox_keeps_the_seeds_container_name_and_pod_label(
    dev_plan: Plan, upstream: Path
) -> None:
    seed = upstream_yaml(upstream, "vscode-sandbox", "base", "vscode-sandbox.yaml")
    seed_pod = seed["spec"]["podTemplate"]
    pod = by_k8s_name(dev_plan, SANDBOX, seed["metadata"]["name"]).inputs["spec"]["podTemplate"]
    assert [x["name"] for x in pod["spec"]["containers"]] == [
        x["name"] for x in seed_pod["spec"]["containers"]
    ]
    assert seed_pod["metadata"]["labels"].items() <= pod["metadata"]["labels"].items()


def test_python_template_keeps_upstreams_container_name(dev_plan: Plan, upstream: Path) -> None:
    seed = upstream_yaml(upstream, "python-client", "python-sandbox-template.yaml")
    tpl = by_k8s_name(dev_plan, TEMPLATE, "python-sandbox-template").inputs["spec"]["podTemplate"]
    assert [x["name"] for x in tpl["spec"]["containers"]] == [
        x["name"] for x in seed["spec"]["podTemplate"]["spec"]["containers"]
    ]


def test_container_name_defaults_to_sandbox_and_is_checked() -> None:
    section = with_item("templates", containerName=None)
    plan = run(sandboxes=section)
    assert plan.error is None, plan.error
    (ctr,) = plan.by_type(TEMPLATE)[0].inputs["spec"]["podTemplate"]["spec"]["containers"]
    assert ctr["name"] == "sandbox"
    rejected(
        ["sandboxes.sandboxes[0]", "containerName", "Devcontainer_Main"],
        sandboxes=with_item("sandboxes", containerName="Devcontainer_Main"),
    )


def test_vscode_terminal_can_sudo_and_the_policy_pack_agrees(dev_plan: Plan) -> None:
    # sudo is setuid: allowPrivilegeEscalation: false sets no_new_privs and it fails. The seed's
    # example relies on it, so the dev stack makes the trade-off explicitly for that sandbox.
    from policies.rules import sandbox_pod_hardening

    reg = by_k8s_name(dev_plan, SANDBOX, "sandbox-example")
    pod = reg.inputs["spec"]["podTemplate"]
    (ctr,) = pod["spec"]["containers"]
    assert ctr["securityContext"]["allowPrivilegeEscalation"] is True
    assert {"SETUID", "SETGID"} <= set(ctr["securityContext"]["capabilities"]["add"])
    assert pod["metadata"]["annotations"] == {
        "agent-sandbox.dev/allow-privilege-escalation": "true"
    }
    assert sandbox_pod_hardening(reg.type, reg.inputs, ["agent-sandboxes"]) == []
    # Without the declared exception the same pod is a violation.
    undeclared = copy.deepcopy(reg.inputs)
    del undeclared["spec"]["podTemplate"]["metadata"]["annotations"]
    (violation,) = sandbox_pod_hardening(reg.type, undeclared, ["agent-sandboxes"])
    assert "allowPrivilegeEscalation" in violation
    # The trade-off forces Pod Security baseline on the namespace.
    assert dev_plan.outputs["sandboxPodSecurity"] == "baseline"
