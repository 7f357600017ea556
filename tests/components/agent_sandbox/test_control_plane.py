"""The agent-sandbox control plane under the mock engine: every object of the release manifest as
its own typed resource, CRDs that survive destroy and upgrades, a hardened controller, and an
offline preview that still completes when no manifest is at hand. No test touches the network."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import adoptable, run

from offline.engine import Plan, Registration
from offline.manifests import to_manifest
from offline.validate import validate_manifest

FILE = "sandbox-with-extensions.yaml"
NAMESPACE = "agent-sandbox-system"  # DESIGN §3 agent-sandbox
CRD = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NS = "kubernetes:core/v1:Namespace"
CONFIG_FILE = "kubernetes:yaml/v2:ConfigFile"
COMPONENT = "agent-sandbox-platform:control_plane:ControlPlane"
CRD_NAMES = {  # the "done when"
    "sandboxes.agents.x-k8s.io",
    "sandboxtemplates.extensions.agents.x-k8s.io",
    "sandboxclaims.extensions.agents.x-k8s.io",
    "sandboxwarmpools.extensions.agents.x-k8s.io",
}
IMAGE = "registry.k8s.io/agent-sandbox/agent-sandbox-controller"
RELEASE = "https://github.com/kubernetes-sigs/agent-sandbox/releases/download/{}/" + FILE
SYSTEM_POOL = {"agent-sandbox.dev/pool": "system"}


def _env(mp: pytest.MonkeyPatch, upstream: Path) -> None:
    # The shared rendering stands in for the release asset; downloads are forbidden.
    mp.setenv("AGENT_SANDBOX_MANIFEST_DIR", str(upstream / "agent-sandbox"))
    mp.setenv("AGENT_SANDBOX_OFFLINE", "1")


@pytest.fixture(autouse=True)
def local_manifest(monkeypatch: pytest.MonkeyPatch, upstream: Path) -> None:
    _env(monkeypatch, upstream)


@pytest.fixture(scope="module")
def plan(upstream: Path) -> Iterator[Plan]:
    with pytest.MonkeyPatch.context() as mp:
        _env(mp, upstream)
        p = run()
    assert p.error is None, p.error
    yield p


@pytest.fixture(scope="module")
def upstream_objects(upstream: Path) -> dict[tuple[str, str], dict[str, Any]]:
    text = (upstream / "agent-sandbox" / FILE).read_text()
    docs = [d for d in yaml.load_all(text, Loader=yaml.CSafeLoader) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def component(plan: Plan) -> Registration:
    return plan.one(COMPONENT)


def children(plan: Plan) -> list[Registration]:
    urn = component(plan).urn
    return [r for r in plan.registrations if r.parent == urn]


def crds(plan: Plan) -> dict[str, Registration]:
    return {r.inputs["metadata"]["name"]: r for r in plan.by_type(CRD)}


def controller(plan: Plan) -> Registration:
    return plan.one(DEPLOYMENT, "control-plane-controller")


def container(plan: Plan) -> dict[str, Any]:
    (ctr,) = controller(plan).inputs["spec"]["template"]["spec"]["containers"]
    return dict(ctr)


# --- what gets installed ----------------------------------------------------------------------
def test_every_manifest_object_is_its_own_typed_resource(
    plan: Plan, upstream_objects: dict[tuple[str, str], dict[str, Any]]
) -> None:
    registered = {
        (to_manifest(r)["kind"], r.inputs["metadata"]["name"]) for r in children(plan) if r.custom
    }
    # All 12 objects of the release, one by one (no yaml/v2 or Helm black box).
    assert registered == set(upstream_objects)
    assert not plan.by_type(CONFIG_FILE)


def test_four_crds_kept_on_delete_and_never_replaced(plan: Plan, upstream: Path) -> None:
    found = crds(plan)
    assert set(found) == CRD_NAMES
    for name, reg in found.items():
        assert reg.options["retainOnDelete"] is True, name
        assert reg.options["replaceOnChanges"] == [], name
        assert reg.options["deleteBeforeReplace"] is False, name
        assert reg.parent == component(plan).urn
    # The specs are the upstream CRDs, unaltered (compared with the verbatim CRD files).
    for path in (upstream / "agent-sandbox" / "crds").glob("*.yaml"):
        crd = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
        assert found[crd["metadata"]["name"]].inputs["spec"] == crd["spec"]


def test_controller_runs_the_configured_version_with_extensions(plan: Plan) -> None:
    reg = controller(plan)
    assert reg.inputs["metadata"]["namespace"] == NAMESPACE
    assert reg.inputs["metadata"]["name"] == "agent-sandbox-controller"
    ctr = container(plan)
    assert ctr["image"] == f"{IMAGE}:v1.0.3"
    assert "--extensions" in ctr["args"] and "--leader-elect=true" in ctr["args"]


def test_controller_waits_for_the_crds_and_its_namespace(plan: Plan) -> None:
    deps = set(controller(plan).dependencies)
    assert {r.urn for r in crds(plan).values()} <= deps
    assert plan.one(NS, "control-plane-namespace").urn in deps
    bindings = [r for r in children(plan) if r.inputs.get("kind") == "ClusterRoleBinding"]
    assert bindings and {b.urn for b in bindings} <= deps  # starts with its permissions in place


def test_control_plane_deploys_beside_the_sandbox_pool(plan: Plan) -> None:
    # DESIGN §5: only kata-deploy and the sandboxes wait for the sandbox node pool.
    pool = plan.one("gcp:container/nodePool:NodePool", "sandbox-pool-pool").urn
    for reg in children(plan):
        assert pool not in reg.dependencies, reg.name


def test_controller_is_hardened(plan: Plan) -> None:
    ctr = container(plan)
    ports = {p["name"]: p["containerPort"] for p in ctr["ports"]}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = ctr[probe]["httpGet"]
        assert get["path"] == path
        assert ports.get(get["port"], get["port"]) == 8081  # the health port
    sc = ctr["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    pod = controller(plan).inputs["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    # Pulumi.dev.yaml's controlPlane.resources.
    assert ctr["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    }


def test_controller_keeps_what_upstream_ships(
    plan: Plan, upstream_objects: dict[tuple[str, str], dict[str, Any]]
) -> None:
    up = upstream_objects[("Deployment", "agent-sandbox-controller")]["spec"]
    (up_ctr,) = up["template"]["spec"]["containers"]
    spec = controller(plan).inputs["spec"]
    assert spec["selector"] == up["selector"]  # immutable on a live Deployment
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == up["template"]["spec"]["serviceAccountName"]
    ctr = container(plan)
    # Upstream's args, plus the cache scoping (issue 13, point 6).
    assert ctr["args"] == [*up_ctr["args"], "--cache-label-selectors"]
    assert ctr["ports"] == up_ctr["ports"]
    for mount in up_ctr["volumeMounts"]:
        assert mount in ctr["volumeMounts"]
    for volume in up["template"]["spec"]["volumes"]:
        assert volume in pod["volumes"]


def test_rbac_and_service_match_the_release(
    plan: Plan, upstream_objects: dict[tuple[str, str], dict[str, Any]]
) -> None:
    for (kind, name), obj in upstream_objects.items():
        if kind not in ("ClusterRole", "ClusterRoleBinding", "Service", "ServiceAccount"):
            continue
        (reg,) = [
            r
            for r in children(plan)
            if r.inputs.get("kind") == kind and r.inputs["metadata"]["name"] == name
        ]
        for field in ("rules", "roleRef", "subjects", "spec"):
            if field in obj:
                assert reg.inputs[field] == obj[field], (kind, name, field)
        assert reg.inputs["metadata"].get("namespace") == obj["metadata"].get("namespace")


MIRROR = "mirror.example.com:5000/k8s"
RESOURCES = {
    "requests": {"cpu": "250m", "memory": "256Mi"},
    "limits": {"cpu": "2", "memory": "1Gi"},
}


@pytest.fixture(scope="module")
def custom(upstream: Path) -> Iterator[Plan]:
    with pytest.MonkeyPatch.context() as mp:
        _env(mp, upstream)
        p = run(controlPlane={"replicas": 3, "resources": RESOURCES, "imageRegistry": MIRROR})
    assert p.error is None, p.error
    yield p


def test_settings_shape_the_controller(custom: Plan) -> None:
    assert controller(custom).inputs["spec"]["replicas"] == 3
    assert container(custom)["resources"] == RESOURCES


def test_image_mirror_rewrites_registry_k8s_io(custom: Plan) -> None:
    image = f"{MIRROR}/agent-sandbox/agent-sandbox-controller:v1.0.3"
    assert container(custom)["image"] == image
    assert custom.outputs["controllerImage"] == image


def test_controller_runs_on_the_system_pool_of_a_created_cluster(plan: Plan) -> None:
    assert controller(plan).inputs["spec"]["template"]["spec"]["nodeSelector"] == SYSTEM_POOL
    # The system pool this stack creates carries that label.
    pool = plan.one("gcp:container/nodePool:NodePool", "system-pool")
    assert SYSTEM_POOL.items() <= pool.inputs["nodeConfig"]["labels"].items()


@pytest.mark.parametrize(
    "cluster",
    [
        {"mode": "existing"},
        {
            "mode": "kubeconfig",
            "project": None,
            "location": None,
            "kubeconfig": {"context": "kind"},
        },
    ],
)
def test_no_pool_pinning_on_clusters_we_did_not_create(cluster: dict[str, Any]) -> None:
    extra = {"gateway": {"enabled": False}} if cluster["mode"] == "kubeconfig" else {}
    p = run(cluster=cluster, gke_clusters=adoptable(), **extra)
    assert p.error is None, p.error
    assert "nodeSelector" not in controller(p).inputs["spec"]["template"]["spec"]


def test_every_control_plane_manifest_validates_strictly(custom: Plan) -> None:
    # The dev stack's manifests are checked by tests/test_stacks.py; this is a non-default one.
    problems = {
        r.name: errs
        for r in children(custom)
        if r.is_kubernetes and (errs := validate_manifest(to_manifest(r)))
    }
    assert problems == {}


# --- upgrades ---------------------------------------------------------------------------------
def test_version_bump_updates_crds_in_place(plan: Plan) -> None:
    bumped = run(controlPlane={"version": "v1.0.4"})  # same manifest file, newer version
    assert bumped.error is None, bumped.error
    # Same URNs: the engine updates the CRDs, it never deletes or replaces them.
    assert {n: r.urn for n, r in crds(bumped).items()} == {n: r.urn for n, r in crds(plan).items()}
    assert {r.urn for r in children(bumped)} == {r.urn for r in children(plan)}
    assert container(bumped)["image"] == f"{IMAGE}:v1.0.4"
    assert container(plan)["image"] == f"{IMAGE}:v1.0.3"
    # The file was rendered for v1.0.3: the preview says so.
    assert any("rendered for v1.0.3" in w and "controlPlane.version" in w for w in bumped.warnings)


# --- digest -----------------------------------------------------------------------------------
def test_wrong_sha256_fails_before_anything_registers(upstream: Path) -> None:
    actual = hashlib.sha256((upstream / "agent-sandbox" / FILE).read_bytes()).hexdigest()
    p = run(controlPlane={"sha256": "f" * 64})
    assert p.error is not None and p.registrations == []
    assert "controlPlane.sha256" in p.error
    assert f"expected {'f' * 64}" in p.error and f"actual {actual}" in p.error


def test_pinned_local_manifest_installs_and_exports_its_digest(
    monkeypatch: pytest.MonkeyPatch, upstream: Path
) -> None:
    monkeypatch.delenv("AGENT_SANDBOX_MANIFEST_DIR")  # controlPlane.manifest alone suffices
    path = upstream / "agent-sandbox" / FILE
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    p = run(controlPlane={"manifest": str(path), "sha256": actual})
    assert p.error is None, p.error
    assert set(crds(p)) == CRD_NAMES
    assert p.outputs["agentSandboxManifestSha256"] == actual


def test_outputs(plan: Plan) -> None:
    assert plan.outputs["agentSandboxVersion"] == "v1.0.3"
    assert plan.outputs["agentSandboxNamespace"] == NAMESPACE
    assert plan.outputs["controllerImage"] == f"{IMAGE}:v1.0.3"


def test_missing_manifest_path_fails_before_anything_registers(tmp_path: Path) -> None:
    p = run(controlPlane={"manifest": str(tmp_path / "missing.yaml")})
    assert p.error is not None and p.registrations == []
    assert "controlPlane.manifest" in p.error


# --- offline preview --------------------------------------------------------------------------
def test_offline_without_a_manifest_shows_one_step_and_the_rest_in_full(
    plan: Plan, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AGENT_SANDBOX_MANIFEST_DIR")
    p = run(controlPlane={"cacheDir": str(tmp_path)})  # empty cache, downloads forbidden
    assert p.error is None, p.error
    (step,) = children(p)
    assert step.type == CONFIG_FILE and step.inputs == {"file": RELEASE.format("v1.0.3")}
    # The release file's first object is the agent-sandbox-system Namespace: a typed Namespace
    # beside it would be a second resource for the same object (issue 13, point 2).
    assert not [r for r in p.by_type(NS) if r.inputs["metadata"]["name"] == NAMESPACE]
    assert p.failures == []
    # The router still waits for whatever creates its namespace.
    router = [r for r in p.registrations if r.type == DEPLOYMENT and "router" in r.name]
    assert router and all(step.urn in r.dependencies for r in router)
    assert step.options["protect"] and step.options["retainOnDelete"]
    assert not p.by_type(CRD) and not [
        r for r in p.by_type(DEPLOYMENT) if "control-plane" in r.name
    ]
    (warning,) = [w for w in p.warnings if "unexpanded" in w]
    assert "controlPlane.manifest" in warning
    assert str(tmp_path / "v1.0.3" / FILE) in warning

    # Every other layer is evaluated exactly as with the manifest.
    def rest(x: Plan) -> set[tuple[str, str]]:
        inside = {r.urn for r in x.registrations if r.parent == component(x).urn}
        return {(r.type, r.name) for r in x.registrations if r.urn not in inside}

    assert rest(p) == rest(plan)


# --- the managed add-on and a disabled control plane --------------------------------------------
def test_managed_addon_and_self_managed_control_plane_collide() -> None:
    p = run(cluster={"managedAgentSandboxAddon": True})
    assert p.error is not None and p.registrations == []
    assert "cluster.managedAgentSandboxAddon" in p.error and "controlPlane.enabled" in p.error
    assert "disable one of them" in p.error


def test_disabled_control_plane_keeps_the_namespace_for_the_router() -> None:
    p = run(cluster={"managedAgentSandboxAddon": True}, controlPlane={"enabled": False})
    assert p.error is None, p.error
    (only,) = children(p)
    assert only.type == NS and only.inputs["metadata"]["name"] == NAMESPACE
    # Possibly shared with GKE's add-on: never deleted by this stack.
    assert only.options["retainOnDelete"] is True
    assert not p.by_type(CRD) and p.outputs["agentSandboxVersion"] is None
    assert p.outputs["controllerImage"] is None


# --- Pod Security on agent-sandbox-system (issue 13, point 8) ------------------------------------
_RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
    "name",
}


def _restricted_violations(pod: dict[str, Any]) -> list[str]:
    """The Pod Security Standards "restricted" profile (kubernetes.io/docs/concepts/security/
    pod-security-standards), checked on a rendered pod spec."""
    out = []
    psc = pod.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            out.append(flag)
    for v in pod.get("volumes") or []:
        if set(v) - _RESTRICTED_VOLUMES:
            out.append(f"volume {v['name']}")
    for ctr in pod.get("containers", []) + pod.get("initContainers", []):
        sc = ctr.get("securityContext") or {}
        caps = sc.get("capabilities") or {}
        if sc.get("privileged"):
            out.append(f"{ctr['name']}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{ctr['name']}: allowPrivilegeEscalation")
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{ctr['name']}: drop ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            out.append(f"{ctr['name']}: capabilities")
        if not sc.get("runAsNonRoot", psc.get("runAsNonRoot")):
            out.append(f"{ctr['name']}: runAsNonRoot")
        if sc.get("runAsUser", psc.get("runAsUser")) == 0:
            out.append(f"{ctr['name']}: runAsUser 0")
        seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{ctr['name']}: seccompProfile")
        if any(p.get("hostPort") for p in ctr.get("ports") or []):
            out.append(f"{ctr['name']}: hostPort")
    return out


def test_agent_sandbox_system_enforces_restricted_and_everything_in_it_complies(
    plan: Plan,
) -> None:
    (ns,) = [r for r in plan.by_type(NS) if r.inputs["metadata"]["name"] == NAMESPACE]
    labels = ns.inputs["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
    pods = [
        (r.name, to_manifest(r)["spec"]["template"]["spec"])
        for r in plan.kubernetes()
        if r.type.split(":")[-1] in ("Deployment", "DaemonSet", "StatefulSet", "Job")
        and r.inputs["metadata"].get("namespace") == NAMESPACE
    ]
    assert {n for n, _ in pods} >= {"agent-sandbox-control-plane-controller"}
    assert any("router" in n for n, _ in pods)
    for name, pod in pods:
        assert _restricted_violations(pod) == [], name


# --- controller memory (issue 13, point 6) -------------------------------------------------------
def test_controller_caches_only_what_it_owns(upstream: Path) -> None:
    # v1.0's controller caches every Pod and Service of the cluster unless started with
    # --cache-label-selectors (cmd/agent-sandbox-controller/main.go); the 512Mi limit then
    # depends on the size of the whole cluster.
    text = (upstream / "agent-sandbox" / FILE).read_text()
    (deploy,) = [d for d in yaml.safe_load_all(text) if d and d["kind"] == "Deployment"]
    assert "--cache-label-selectors" not in str(deploy)  # upstream leaves it off
    on = run()
    assert "--cache-label-selectors" in container(on)["args"]
    off = run(controlPlane={"cacheLabelSelectors": False})
    assert off.error is None, off.error
    assert "--cache-label-selectors" not in container(off)["args"]
