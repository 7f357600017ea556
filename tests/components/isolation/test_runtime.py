"""Kata on the sandbox pool: kata-deploy as the 4.1 chart renders it, RuntimeClasses that only
land on Kata-ready sandbox nodes, and the one gVisor switch.

Expectations come from the upstream chart (``upstream/kata-deploy/helm-chart/kata-deploy``) and
DESIGN §3, read here independently of the component's own tables.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import run

from offline.engine import Plan, Registration
from offline.manifests import to_manifest
from offline.validate import validate_manifest

DS = "kubernetes:apps/v1:DaemonSet"
SA = "kubernetes:core/v1:ServiceAccount"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
RC = "kubernetes:node.k8s.io/v1:RuntimeClass"
POOL = "gcp:container/nodePool:NodePool"
COMPONENT = "agent-sandbox-platform:isolation:IsolationRuntime"
KATA_READY = {"katacontainers.io/kata-runtime": "true"}
# The dev stack's example sandboxes pin kata-qemu; tests that change the classes drop them.
NO_SANDBOXES = {"templates": [], "warmPools": [], "sandboxes": []}


# --- reading the upstream chart -----------------------------------------------------------------
def chart(upstream: Path) -> Path:
    return upstream / "kata-deploy" / "helm-chart" / "kata-deploy"


def values(upstream: Path) -> dict[str, Any]:
    return yaml.safe_load((chart(upstream) / "values.yaml").read_text())


def define(upstream: Path, name: str) -> str:
    """The body of ``{{- define "<name>" -}}`` in _helpers.tpl."""
    text = (chart(upstream) / "templates" / "_helpers.tpl").read_text()
    start = text.index(f'{{{{- define "{name}" -}}}}')
    return text[start : text.index("{{- end -}}", start)].split("\n", 1)[1]


def render_static(block: str, substitutions: dict[str, str]) -> Any:
    """A YAML block of the chart with its few template expressions filled in and the optional
    (``{{- if`` … ``{{- end }}``) parts for features we leave off dropped."""
    block = re.sub(r"\{\{-?\s*/\*.*?\*/\s*-?\}\}", "", block, flags=re.DOTALL)  # comments
    for expr, value in substitutions.items():
        block = block.replace(expr, value)
    kept, depth = [], 0
    for line in block.splitlines():
        stripped = line.strip()
        if stripped.startswith("{{- if") or stripped.startswith("{{- with"):
            depth += 1
        elif stripped.startswith("{{- end"):
            depth -= 1
        elif depth == 0 and not stripped.startswith("{{"):
            kept.append(line)
    return yaml.safe_load("\n".join(kept))


def chart_volumes(upstream: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    subs = {
        '{{ include "kata-deploy.tmpVolume" . }}': "- name: tmp\n  emptyDir: {}",
        '{{ include "kata-deploy.tmpVolumeMount" . }}': "- name: tmp\n  mountPath: /tmp",
        # values.yaml: k8sDistribution k8s -> /etc/containerd/; no installation prefix/suffix.
        "'{{- template \"containerdConfPath\" .Values }}'": "/etc/containerd/",
        '{{ include "kata-deploy.installDir" . | quote }}': '"/opt/kata"',
    }
    volumes = render_static(define(upstream, "kata-deploy.commonVolumes"), subs)
    mounts = render_static(define(upstream, "kata-deploy.commonVolumeMounts"), subs)
    return volumes, mounts


def chart_overheads(upstream: Path) -> dict[str, dict[str, str]]:
    text = (chart(upstream) / "templates" / "runtimeclasses.yaml").read_text()
    rows = re.findall(r'"([\w-]+)" \(dict "memory" "([^"]+)" "cpu" "([^"]+)"\)', text)
    return {shim: {"memory": memory, "cpu": cpu} for shim, memory, cpu in rows}


def chart_env_names(upstream: Path) -> set[str]:
    names = set(re.findall(r"- name: (\w+)", define(upstream, "kata-deploy.commonEnv")))
    # Per-architecture variables are spelled with printf-free suffixes in the template.
    return names | {"HEALTH_PORT"}


def cluster_role_rules(upstream: Path) -> list[dict[str, Any]]:
    text = (chart(upstream) / "templates" / "kata-rbac.yaml").read_text()
    daemonset_mode = text.split("{{- if eq (.Values.deploymentMode", 3)[1]
    role = daemonset_mode[daemonset_mode.index("kind: ClusterRole") :]
    rules = role[role.index("rules:") : role.index("---")]
    return yaml.safe_load(rules)["rules"]


# --- reading the plan ---------------------------------------------------------------------------
def daemonset(plan: Plan) -> Registration:
    return plan.one(DS, "isolation-daemonset")


def pod(plan: Plan) -> dict[str, Any]:
    return daemonset(plan).inputs["spec"]["template"]["spec"]


def container(plan: Plan) -> dict[str, Any]:
    (only,) = pod(plan)["containers"]
    return only


def env(plan: Plan) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(plan)["env"]}


def runtime_classes(plan: Plan) -> dict[str, dict[str, Any]]:
    return {r.inputs["metadata"]["name"]: r.inputs for r in plan.by_type(RC)}


def closure(plan: Plan, reg: Registration) -> set[str]:
    """Names of everything ``reg`` waits for, directly or through its dependencies."""
    by_urn, seen, todo = plan.by_urn(), set(), list(reg.dependencies)
    while todo:
        urn = todo.pop()
        if urn not in seen:
            seen.add(urn)
            todo += by_urn[urn].dependencies
    return {by_urn[u].name for u in seen}


def pool_placement(plan: Plan) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The sandbox pool's label and taint as the node pool registers them."""
    node = plan.one(POOL, "sandbox-pool-pool").inputs["nodeConfig"]
    effects = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute"}
    tolerations = [
        {"key": t["key"], "operator": "Equal", "value": t["value"], "effect": effects[t["effect"]]}
        for t in node["taints"]
    ]
    selector = {"agent-sandbox.dev/pool": node["labels"]["agent-sandbox.dev/pool"]}
    return selector, tolerations


def runtime_class_names_used(value: Any) -> set[str]:
    """Every runtimeClassName anywhere in registered inputs (sandbox pods, templates…)."""
    if isinstance(value, dict):
        rc = value.get("runtimeClassName")
        # Only string values: CRD schemas also have a runtimeClassName *property* (a dict).
        found = {rc} if isinstance(rc, str) else set()
        return found.union(*(runtime_class_names_used(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(runtime_class_names_used(v) for v in value))
    return set()


def invalid(plan: Plan) -> dict[str, list[str]]:
    problems = {}
    for reg in plan.kubernetes():
        if "isolation" in reg.name and (errs := validate_manifest(to_manifest(reg))):
            problems[reg.name] = errs
    return problems


# --- kata-deploy --------------------------------------------------------------------------------
def test_kata_deploy_runs_the_4_1_image_in_kube_system(dev_plan: Plan) -> None:
    ds = daemonset(dev_plan).inputs
    assert container(dev_plan)["image"] == "quay.io/kata-containers/kata-deploy:4.1.0"
    # The binary finds its DaemonSet by DAEMONSET_NAME: the chart's name, not an auto-name.
    assert ds["metadata"]["name"] == "kata-deploy" == env(dev_plan)["DAEMONSET_NAME"]
    assert ds["metadata"]["namespace"] == "kube-system"
    assert dev_plan.outputs["kataDeployImage"] == container(dev_plan)["image"]
    assert dev_plan.outputs["kataVersion"] == "4.1.0"


def test_daemonset_waits_for_its_rbac_and_the_node_pool(dev_plan: Plan) -> None:
    deps = {dev_plan.by_urn()[u].type for u in daemonset(dev_plan).dependencies}
    # Created after, so destroyed before, its RBAC: the pods uninstall Kata with API access.
    assert {SA, ROLE, BINDING, POOL} <= deps
    binding = dev_plan.one(BINDING, "isolation-binding")
    assert {dev_plan.by_urn()[u].type for u in binding.dependencies} >= {SA, ROLE}


def test_only_the_daemonset_waits_for_the_node_pool(dev_plan: Plan) -> None:
    pool = dev_plan.one(POOL, "sandbox-pool-pool").name
    for reg in [*dev_plan.by_type(RC), *dev_plan.by_type(SA), *dev_plan.by_type(ROLE)]:
        if "isolation" in reg.name:
            assert pool not in closure(dev_plan, reg), reg.name
    assert pool in closure(dev_plan, daemonset(dev_plan))


def test_daemonset_runs_only_on_sandbox_nodes_and_tolerates_their_taint(dev_plan: Plan) -> None:
    selector, tolerations = pool_placement(dev_plan)
    assert pod(dev_plan)["nodeSelector"] == selector
    assert pod(dev_plan)["tolerations"] == tolerations


def test_daemonset_reproduces_the_charts_pod(dev_plan: Plan, upstream: Path) -> None:
    v, p, ctr = values(upstream), pod(dev_plan), container(dev_plan)
    template = (chart(upstream) / "templates" / "kata-deploy.yaml").read_text()
    grace = re.search(r"terminationGracePeriodSeconds: (\d+)", template)
    assert grace is not None
    assert p["terminationGracePeriodSeconds"] == int(grace[1]) == 600
    assert p["priorityClassName"] == v["priorityClassName"]
    assert p["serviceAccountName"] == "kata-deploy-sa"
    assert ctr["name"] == "kube-kata"
    assert ctr["imagePullPolicy"] == v["imagePullPolicy"]
    assert ctr["command"] == ["/usr/bin/kata-deploy", "install"]
    assert ctr["resources"] == v["resources"]
    # kata-deploy.yaml: the daemonset container is not privileged, its root is read-only.
    assert (
        "securityContext:\n          privileged: false\n          readOnlyRootFilesystem: true"
        in (template)
    )
    assert ctr["securityContext"] == {"privileged": False, "readOnlyRootFilesystem": True}
    spec = daemonset(dev_plan).inputs["spec"]
    assert spec["updateStrategy"] == v["updateStrategy"]
    assert spec["selector"] == {"matchLabels": {"name": "kata-deploy"}}
    assert spec["template"]["metadata"]["labels"]["name"] == "kata-deploy"


def test_daemonset_probes_follow_the_charts_health_values(dev_plan: Plan, upstream: Path) -> None:
    health, ctr = values(upstream)["health"], container(dev_plan)
    for probe, path in (
        ("startupProbe", "/readyz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ):
        expected = {k: v for k, v in health[probe].items() if k != "enabled"}
        expected["httpGet"] = {"path": path, "port": health["port"]}
        assert ctr[probe] == expected, probe
    assert env(dev_plan)["HEALTH_PORT"] == str(health["port"])


def test_daemonset_mounts_exactly_the_charts_host_paths(dev_plan: Plan, upstream: Path) -> None:
    volumes, mounts = chart_volumes(upstream)
    assert pod(dev_plan)["volumes"] == volumes
    assert container(dev_plan)["volumeMounts"] == mounts


def test_env_renders_the_shims_setting_like_the_chart(dev_plan: Plan, upstream: Path) -> None:
    e = env(dev_plan)
    assert set(e) <= chart_env_names(upstream) | {
        f"{kind}_{arch}"
        for kind in ("SHIMS", "DEFAULT_SHIM")
        for arch in ("X86_64", "AARCH64", "S390X", "PPC64LE")
    }
    assert e["NODE_NAME"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    # The chart joins enabled shims in key order: shims [qemu, clh] -> "clh qemu".
    assert e["SHIMS_X86_64"] == "clh qemu"
    # clh is built for amd64 only (values.yaml supportedArches); qemu for every arch.
    arches = {s: values(upstream)["shims"][s]["supportedArches"] for s in ("qemu", "clh")}
    assert arches == {"qemu": ["amd64", "arm64", "s390x", "ppc64le"], "clh": ["amd64"]}
    assert e["SHIMS_AARCH64"] == "qemu"
    # Default shim: the first configured one, behind the default RuntimeClass kata-qemu.
    assert e["DEFAULT_SHIM_X86_64"] == "qemu"
    assert e["DEBUG"] == "false"
    assert e["K8S_DISTRIBUTION"] == values(upstream)["k8sDistribution"]
    # No configured shim uses a snapshotter, so none is set up (issue 13, point 7).
    assert "EXPERIMENTAL_SETUP_SNAPSHOTTER" not in e


def test_a_host_snapshotter_is_set_up_only_for_shims_that_use_one(upstream: Path) -> None:
    # values.yaml maps a shim to a snapshotter under shims.<shim>.containerd.snapshotter.
    shims = ["qemu", "qemu-runtime-rs", "clh", "clh-runtime-rs", "dragonball"]  # all offered
    chart = values(upstream)["shims"]
    uses = sorted(
        {s for x in shims if (s := (chart[x].get("containerd") or {}).get("snapshotter"))}
    )
    p = run(isolation={"kata": {"shims": shims}})
    assert p.error is None, p.error
    assert env(p).get("EXPERIMENTAL_SETUP_SNAPSHOTTER") == (",".join(uses) or None)


def test_rbac_is_what_the_kata_deploy_binary_calls_and_no_more(
    dev_plan: Plan, upstream: Path
) -> None:
    """kata-deploy 4.1.0's binary (tools/packaging/kata-deploy/binary/src/k8s/client.rs) gets
    and patches its own Node, gets its own DaemonSet and lists DaemonSets; it reads kubelet
    /configz through nodes/proxy only for a warning it skips on error (main.rs,
    validate_kubelet_runtime_request_timeout), and watches nothing. nodes/proxy is every
    kubelet's API: one escaped VM holding this token would own every node."""
    role = dev_plan.one(ROLE, "isolation-role").inputs
    assert role["metadata"]["name"] == "kata-deploy-role"
    granted = {
        (group, res, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for res in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted == {
        ("", "nodes", "get"),
        ("", "nodes", "patch"),
        ("apps", "daemonsets", "get"),
        ("apps", "daemonsets", "list"),
    }
    # ... and a subset of what the chart grants (nothing new).
    chart_grants = {
        (group, res, verb)
        for rule in cluster_role_rules(upstream)
        for group in rule["apiGroups"]
        for res in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted < chart_grants
    assert ("", "nodes/proxy", "get") in chart_grants - granted
    binding = dev_plan.one(BINDING, "isolation-binding").inputs
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "kata-deploy-role",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "kata-deploy-sa", "namespace": "kube-system"}
    ]


def test_mirror_and_version_settings_change_the_image() -> None:
    plan = run(isolation={"kata": {"imageRepository": "registry.example.com/mirror/kata-deploy"}})
    assert container(plan)["image"] == "registry.example.com/mirror/kata-deploy:4.1.0"
    plan = run(isolation={"kata": {"version": "4.1.1"}})
    assert container(plan)["image"] == "quay.io/kata-containers/kata-deploy:4.1.1"
    assert {
        rc["metadata"]["annotations"]["katacontainers.io/kata-version"]
        for rc in runtime_classes(plan).values()
    } == {"4.1.1"}
    assert plan.outputs["kataVersion"] == "4.1.1"


@pytest.mark.parametrize(
    ("kata", "expected"),
    [
        ({"version": "3.2.0"}, "isolation.kata.version '3.2.0' is not a kata-deploy 4.x"),
        ({"imageRepository": "quay.io/kata-containers/kata-deploy:4.1.0"}, "bare repository"),
        ({"shims": ["qemu", "fc"]}, "unknown shim(s) fc; valid shims are qemu, qemu-runtime-rs"),
        ({"shims": []}, "isolation.kata.shims is empty"),
    ],
)
def test_bad_kata_settings_are_rejected(kata: dict[str, Any], expected: str) -> None:
    plan = run(isolation={"kata": kata})
    assert plan.error is not None and expected in plan.error, plan.error
    assert plan.registrations == []


def test_unknown_shim_error_lists_every_valid_shim() -> None:
    plan = run(isolation={"kata": {"shims": ["qemu-tdx"]}})
    assert plan.error is not None
    for shim in ("qemu", "qemu-runtime-rs", "clh", "clh-runtime-rs", "dragonball"):
        assert re.search(rf"\b{re.escape(shim)}\b", plan.error.split("valid shims are")[1])


def test_shims_setting_drives_env_and_runtime_classes() -> None:
    plan = run(isolation={"kata": {"shims": ["clh", "qemu-runtime-rs"]}}, sandboxes=NO_SANDBOXES)
    e = env(plan)
    assert e["SHIMS_X86_64"] == "clh qemu-runtime-rs"
    assert e["DEFAULT_SHIM_X86_64"] == "clh"
    # clh is not built for arm64: there the default is the first shim that is.
    assert e["SHIMS_AARCH64"] == e["DEFAULT_SHIM_AARCH64"] == "qemu-runtime-rs"
    assert set(runtime_classes(plan)) == {"kata-clh", "kata-qemu-runtime-rs"}
    assert plan.outputs["defaultRuntimeClass"] == "kata-clh"


def test_default_runtime_class_picks_the_default_shim() -> None:
    plan = run(isolation={"defaultRuntimeClass": "kata-clh"})
    assert env(plan)["DEFAULT_SHIM_X86_64"] == "clh"


def test_debug_adds_log_level_and_debug_runtime_classes(upstream: Path) -> None:
    plan = run(isolation={"kata": {"debug": True}})
    assert env(plan)["DEBUG"] == "true"
    assert container(plan)["command"] == ["/usr/bin/kata-deploy", "--log-level", "debug", "install"]
    rcs = runtime_classes(plan)
    assert set(rcs) == {"kata-qemu", "kata-clh", "kata-qemu-debug", "kata-clh-debug"}
    assert rcs["kata-clh-debug"]["handler"] == "kata-clh-debug"
    assert rcs["kata-clh-debug"]["overhead"] == rcs["kata-clh"]["overhead"]
    # Debug classes are for people debugging a guest, not for sandboxes.
    assert plan.outputs["runtimeClasses"] == ["kata-qemu", "kata-clh"]
    assert invalid(plan) == {}


def test_a_custom_namespace_is_created_privileged_with_a_critical_pods_quota() -> None:
    plan = run(isolation={"kata": {"namespace": "kata-system"}})
    ns = plan.one("kubernetes:core/v1:Namespace", "isolation-namespace").inputs
    assert ns["metadata"]["name"] == "kata-system"
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    quota = plan.one("kubernetes:core/v1:ResourceQuota", "isolation-critical-pods").inputs
    assert quota["metadata"]["namespace"] == "kata-system"
    (scope,) = quota["spec"]["scopeSelector"]["matchExpressions"]
    assert scope["scopeName"] == "PriorityClass"
    assert scope["values"] == [pod(plan)["priorityClassName"]]
    assert daemonset(plan).inputs["metadata"]["namespace"] == "kata-system"
    binding = plan.one(BINDING, "isolation-binding").inputs
    assert binding["subjects"][0]["namespace"] == "kata-system"
    assert invalid(plan) == {}


# --- RuntimeClasses -----------------------------------------------------------------------------
def test_runtime_classes_carry_the_4_1_overhead(dev_plan: Plan, upstream: Path) -> None:
    rcs = runtime_classes(dev_plan)
    assert set(rcs) == {"kata-qemu", "kata-clh"}
    overheads = chart_overheads(upstream)
    for name, rc in rcs.items():
        assert rc["handler"] == name
        assert rc["overhead"]["podFixed"] == overheads[name.removeprefix("kata-")]
    # DESIGN §3: qemu 320Mi/250m, clh 130Mi/250m.
    assert rcs["kata-qemu"]["overhead"]["podFixed"] == {"memory": "320Mi", "cpu": "250m"}
    assert rcs["kata-clh"]["overhead"]["podFixed"] == {"memory": "130Mi", "cpu": "250m"}


def test_every_supported_shim_matches_the_chart(upstream: Path) -> None:
    from components import constants as c

    overheads, shims = chart_overheads(upstream), values(upstream)["shims"]
    for shim, (memory, cpu) in c.KATA_SHIM_OVERHEAD.items():
        assert overheads[shim] == {"memory": memory, "cpu": cpu}, shim
        assert list(c.KATA_SHIM_ARCHES[shim]) == shims[shim]["supportedArches"], shim


def test_runtime_classes_land_only_on_kata_ready_sandbox_nodes(dev_plan: Plan) -> None:
    selector, tolerations = pool_placement(dev_plan)
    for name, rc in runtime_classes(dev_plan).items():
        scheduling = rc["scheduling"]
        assert KATA_READY.items() <= scheduling["nodeSelector"].items(), name
        assert selector.items() <= scheduling["nodeSelector"].items(), name
        assert scheduling["tolerations"] == tolerations, name


def test_isolation_manifests_validate_strictly(dev_plan: Plan) -> None:
    names = {r.name for r in dev_plan.kubernetes() if "isolation" in r.name}
    assert len(names) == 6  # SA, ClusterRole, ClusterRoleBinding, DaemonSet, 2 RuntimeClasses
    assert invalid(dev_plan) == {}


def test_component_owns_exactly_the_kata_objects(dev_plan: Plan) -> None:
    comp = dev_plan.one(COMPONENT, "isolation")
    children = {r.name for r in dev_plan.registrations if r.parent == comp.urn}
    assert children == {
        "agent-sandbox-isolation-sa",
        "agent-sandbox-isolation-role",
        "agent-sandbox-isolation-binding",
        "agent-sandbox-isolation-daemonset",
        "agent-sandbox-isolation-kata-qemu",
        "agent-sandbox-isolation-kata-clh",
    }
    for reg in dev_plan.registrations:
        if reg.parent == comp.urn:
            assert reg.provider, f"{reg.name} must use the platform's Kubernetes provider"


# --- kubeconfig clusters ------------------------------------------------------------------------
def test_on_a_kubeconfig_cluster_kata_deploy_runs_on_every_node(local_plan: Plan) -> None:
    p = pod(local_plan)
    assert "nodeSelector" not in p and "tolerations" not in p
    assert not local_plan.by_type(POOL)
    assert env(local_plan)["SHIMS_X86_64"] == "qemu"
    (rc,) = runtime_classes(local_plan).values()
    assert rc["scheduling"]["nodeSelector"] == {
        **KATA_READY,
        "kata-deploy.katacontainers.io/default": "true",
    }
    assert invalid(local_plan) == {}


# --- the gVisor switch --------------------------------------------------------------------------
def test_gvisor_switch_drops_kata_and_defaults_sandboxes_to_gvisor() -> None:
    plan = run(isolation={"runtime": "gvisor"}, sandboxes=NO_SANDBOXES)
    assert plan.error is None, plan.error
    node = plan.one(POOL, "sandbox-pool-pool").inputs["nodeConfig"]
    assert node["sandboxConfig"] == {"type": "GVISOR"}
    assert node["imageType"] == "COS_CONTAINERD"
    assert not plan.by_type(DS)
    assert not plan.by_type(RC)  # GKE provides `gvisor`
    assert not [r for r in plan.by_type(ROLE) if "isolation" in r.name]
    comp = plan.one(COMPONENT, "isolation")
    assert not [r for r in plan.registrations if r.parent == comp.urn]
    assert plan.outputs["defaultRuntimeClass"] == "gvisor"
    assert plan.outputs["runtimeClasses"] == ["gvisor"]
    assert plan.outputs["kataVersion"] is None and plan.outputs["kataDeployImage"] is None


def test_sandboxes_follow_the_switch() -> None:
    """Templates that name no class run on whatever the switch installs."""
    sandboxes = {
        **NO_SANDBOXES,
        "templates": [
            {
                "name": "py",
                "image": "python:3.12-slim",
                "resources": {
                    "requests": {"cpu": "250m", "memory": "256Mi"},
                    "limits": {"cpu": "1", "memory": "1Gi"},
                },
            }
        ],
        "warmPools": [{"name": "py", "template": "py", "replicas": 1}],
    }
    kata = run(sandboxes=sandboxes)
    gvisor = run(isolation={"runtime": "gvisor"}, sandboxes=sandboxes)
    assert kata.error is None and gvisor.error is None, (kata.error, gvisor.error)
    used = [runtime_class_names_used([r.inputs for r in p.registrations]) for p in (kata, gvisor)]
    assert used == [{"kata-qemu"}, {"gvisor"}]


@pytest.mark.parametrize(
    ("isolation", "sandboxes", "expected"),
    [
        (
            {"runtime": "gvisor", "defaultRuntimeClass": "kata-qemu"},
            {},
            "isolation.defaultRuntimeClass 'kata-qemu' is not installed",
        ),
        (
            {"runtime": "gvisor"},
            {
                **NO_SANDBOXES,
                "templates": [
                    {
                        "name": "py",
                        "image": "python:3.12",
                        "runtimeClass": "kata-qemu",
                        "resources": {
                            "requests": {"cpu": "250m", "memory": "256Mi"},
                            "limits": {"cpu": "1", "memory": "1Gi"},
                        },
                    }
                ],
            },
            "'kata-qemu'",  # names the class the stack no longer installs
        ),
    ],
)
def test_gvisor_switch_refuses_kata_leftovers(
    isolation: dict[str, Any], sandboxes: dict[str, Any], expected: str
) -> None:
    plan = run(isolation=isolation, sandboxes=sandboxes)
    assert plan.error is not None and expected in plan.error, plan.error
    assert plan.registrations == []


def test_gvisor_needs_gke() -> None:
    plan = run(
        "local",
        isolation={"runtime": "gvisor"},
    )
    assert plan.error is not None and "isolation.runtime 'gvisor'" in plan.error


# --- rollout budgets (issue 13, point 3) ---------------------------------------------------------
NODE_POOL_TYPE = "gcp:container/nodePool:NodePool"


def _minutes(value: str) -> float:
    m = re.fullmatch(r"(\d+)m", value)
    assert m, value
    return int(m.group(1)) * 60


def test_daemonset_timeouts_cover_a_rollout_over_the_whole_pool(dev_plan: Plan) -> None:
    # pulumi-kubernetes waits 10 min for a DaemonSet unless told otherwise (await/daemonset.go),
    # exactly one node's uninstall (grace) or install (startup probe) budget.
    ds = daemonset(dev_plan)
    spec = pod(dev_plan)
    probe = container(dev_plan)["startupProbe"]
    install = (
        probe.get("initialDelaySeconds", 0) + probe["periodSeconds"] * probe["failureThreshold"]
    )
    uninstall = spec["terminationGracePeriodSeconds"]
    nodes = dev_plan.one(NODE_POOL_TYPE, "sandbox-pool-pool").inputs["autoscaling"][
        "totalMaxNodeCount"
    ]
    assert nodes >= 2  # a rollout one node at a time really is sequential here
    timeouts = ds.options["customTimeouts"]
    assert _minutes(timeouts["create"]) > install > 600
    # maxUnavailable 1: every node uninstalls, then installs again, one after the other.
    assert _minutes(timeouts["update"]) >= nodes * (uninstall + install)
    assert _minutes(timeouts["delete"]) > uninstall


def test_daemonset_update_timeout_grows_with_the_pool(dev_plan: Plan) -> None:
    dev_nodes = dev_plan.one(NODE_POOL_TYPE, "sandbox-pool-pool").inputs["autoscaling"][
        "totalMaxNodeCount"
    ]
    large = run(nodePool={"maxNodes": dev_nodes + 7})
    t = [daemonset(p).options["customTimeouts"]["update"] for p in (dev_plan, large)]
    assert _minutes(t[1]) - _minutes(t[0]) >= 7 * (600 + 601)
