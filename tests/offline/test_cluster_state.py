"""The offline engine starts from a cluster that may already hold objects, and fails a create the
way pulumi-kubernetes 4.34 does (offline/cluster_state.py). On that engine: `pulumi destroy`
followed by `pulumi up`, and `up` over an existing kubectl/Helm install, register only what the
real provider accepts (issue 13, point 1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml
from conftest import plan_for

from components import constants as c
from offline.cluster_state import ClusterState
from offline.engine import Plan, evaluate, evaluate_stack

# ---------------------------------------------------------------------------------------------
# the provider's behaviour, one case each
# ---------------------------------------------------------------------------------------------
EXISTING_DS: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "DaemonSet",
    "metadata": {"name": "kata-deploy", "namespace": "kube-system", "labels": {"a": "helm"}},
    "spec": {
        "selector": {"matchLabels": {"name": "kata-deploy"}},
        "template": {
            "metadata": {"labels": {"name": "kata-deploy"}},
            "spec": {"containers": [{"name": "kube-kata", "image": "kata:4.0"}]},
        },
    },
}


def _daemonset_program(selector: str = "kata-deploy", **flags: bool) -> Any:
    def program() -> None:
        provider = k8s.Provider("k8s", context="x", **flags)  # type: ignore[arg-type]
        k8s.apps.v1.DaemonSet(
            "ds",
            metadata={"name": "kata-deploy", "namespace": "kube-system", "labels": {"a": "ours"}},
            spec={
                "selector": {"matchLabels": {"name": selector}},
                "template": {
                    "metadata": {"labels": {"name": selector}},
                    "spec": {"containers": [{"name": "kube-kata", "image": "kata:4.1"}]},
                },
            },
            opts=pulumi.ResourceOptions(provider=provider),
        )

    return program


def _run(program: Any, cluster: ClusterState | None = None) -> Plan:
    plan = evaluate({}, stack="unit", program=program, cluster=cluster)
    assert plan.error is None, plan.error
    return plan


def test_a_create_on_a_fresh_cluster_succeeds() -> None:
    plan = _run(_daemonset_program())
    assert plan.failures == [] and plan.adopted == []


def test_without_upsert_an_existing_object_fails_with_already_exists() -> None:
    plan = _run(_daemonset_program(), ClusterState.with_objects([EXISTING_DS]))
    assert len(plan.failures) == 1 and "already exists" in plan.failures[0]


def test_upsert_without_force_conflicts_with_fields_another_manager_set() -> None:
    plan = _run(
        _daemonset_program(upsert_existing_objects=True),
        ClusterState.with_objects([EXISTING_DS]),
    )
    (failure,) = plan.failures
    assert "conflicts" in failure
    assert "metadata.labels.a" in failure and "containers[kube-kata].image" in failure


def test_upsert_with_force_adopts_the_object() -> None:
    plan = _run(
        _daemonset_program(upsert_existing_objects=True, enable_patch_force=True),
        ClusterState.with_objects([EXISTING_DS]),
    )
    assert plan.failures == [] and plan.adopted == ["ds"]


def test_force_never_changes_an_immutable_field() -> None:
    plan = _run(
        _daemonset_program("other", upsert_existing_objects=True, enable_patch_force=True),
        ClusterState.with_objects([EXISTING_DS]),
    )
    (failure,) = plan.failures
    assert "spec.selector" in failure and "immutable" in failure


def test_two_resources_for_one_object_are_refused() -> None:
    def program() -> None:
        provider = k8s.Provider("k8s", context="x", upsert_existing_objects=True)
        opts = pulumi.ResourceOptions(provider=provider)
        k8s.core.v1.Namespace("one", metadata={"name": "same"}, opts=opts)
        k8s.core.v1.Namespace("two", metadata={"name": "same"}, opts=opts)

    (failure,) = _run(program).failures
    assert "two resources" in failure and "one" in failure


def test_a_fresh_cluster_already_has_the_system_namespaces() -> None:
    def program() -> None:
        provider = k8s.Provider("k8s", context="x")
        k8s.core.v1.Namespace(
            "ns", metadata={"name": "kube-system"}, opts=pulumi.ResourceOptions(provider=provider)
        )

    assert "already exists" in _run(program).failures[0]


# ---------------------------------------------------------------------------------------------
# the platform's stacks over their whole life
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", ["local", "dev", "team-a"])
def test_destroy_then_up_registers_only_what_the_provider_accepts(stack: str) -> None:
    first = plan_for(stack)
    assert first.error is None and first.failures == []
    left = first.after_destroy()
    retained = {
        k for k, urn in first.created.items() if first.by_urn()[urn].options["retainOnDelete"]
    }
    if stack != "team-a":
        # A tenant stack retains nothing: the platform stack owns its namespace (issue 18).
        assert retained, "the CRDs or the sandbox namespace outlive a destroy"
    assert retained <= set(left.objects)
    again = evaluate_stack(stack, cluster=left)
    assert again.error is None and again.failures == [], again.failures
    # What a destroy left behind is adopted again: same objects, same resources.
    assert sorted(again.adopted) == sorted(first.by_urn()[first.created[k]].name for k in retained)


def _upstream_install(upstream: Path) -> list[dict[str, Any]]:
    """The seed guide's `kubectl apply` of agent-sandbox: the release manifest as it is."""
    text = (upstream / "agent-sandbox" / "sandbox-with-extensions.yaml").read_text()
    return [d for d in yaml.safe_load_all(text) if d]


def _helm_kata_deploy(shims: list[str]) -> list[dict[str, Any]]:
    """What `helm install kata-deploy` (4.1.0 chart, daemonset mode, in kube-system) leaves,
    from templates/kata-rbac.yaml, kata-deploy.yaml and runtimeclasses.yaml: its own labels,
    env and image, and the names and immutable fields the chart fixes."""
    helm = {"app.kubernetes.io/managed-by": "Helm"}
    rbac = "rbac.authorization.k8s.io/v1"
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "kata-deploy-sa", "namespace": "kube-system", "labels": helm},
        },
        {
            "apiVersion": rbac,
            "kind": "ClusterRole",
            "metadata": {"name": "kata-deploy-role", "labels": helm},
            "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]}],
        },
        {
            "apiVersion": rbac,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "kata-deploy-rb", "labels": helm},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "kata-deploy-role",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": "kata-deploy-sa", "namespace": "kube-system"}
            ],
        },
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "kata-deploy", "namespace": "kube-system", "labels": helm},
            "spec": {
                "selector": {"matchLabels": {"name": "kata-deploy"}},
                "template": {
                    "metadata": {"labels": {"name": "kata-deploy"}},
                    "spec": {
                        "serviceAccountName": "kata-deploy-sa",
                        "containers": [
                            {
                                "name": "kube-kata",
                                "image": "quay.io/kata-containers/kata-deploy:4.0.0",
                                "env": [{"name": "DEBUG", "value": "true"}],
                            }
                        ],
                    },
                },
            },
        },
        *(
            {
                "apiVersion": "node.k8s.io/v1",
                "kind": "RuntimeClass",
                "metadata": {"name": f"kata-{shim}", "labels": helm},
                "handler": f"kata-{shim}",
                "overhead": {"podFixed": {"memory": "160Mi", "cpu": "250m"}},
            }
            for shim in shims
        ),
    ]


@pytest.mark.parametrize("stack", ["local", "dev"])
def test_up_over_an_existing_kubectl_and_helm_install_adopts_it(stack: str, upstream: Path) -> None:
    fresh = plan_for(stack)
    shims = ["qemu", "clh", "qemu-runtime-rs", "dragonball"]
    before = ClusterState.with_objects([*_upstream_install(upstream), *_helm_kata_deploy(shims)])
    plan = evaluate_stack(stack, cluster=before)
    assert plan.error is None and plan.failures == [], plan.failures
    adopted = {r.name for r in plan.registrations if r.name in plan.adopted}
    kinds = {r.type.split(":")[-1] for r in plan.registrations if r.name in adopted}
    # The release's objects and kata-deploy are now this stack's: same names, no duplicates.
    assert {"CustomResourceDefinition", "Deployment", "DaemonSet", "RuntimeClass"} <= kinds
    assert any(r.endswith("-daemonset") for r in adopted)
    assert len(plan.registrations) == len(fresh.registrations)
    # The controller Deployment kept upstream's selector (immutable on a live Deployment).
    assert any(c.CONTROLLER_NAME in r or r.endswith("-controller") for r in adopted)


def test_a_patch_resource_needs_the_object_and_never_owns_it() -> None:
    def program() -> None:
        provider = k8s.Provider("k8s", context="x")
        k8s.core.v1.NamespacePatch(
            "label-kube-system",
            metadata={"name": "kube-system", "labels": {"team": "platform"}},
            opts=pulumi.ResourceOptions(provider=provider),
        )
        k8s.core.v1.NamespacePatch(
            "missing",
            metadata={"name": "nope"},
            opts=pulumi.ResourceOptions(provider=provider),
        )

    plan = _run(program)
    (failure,) = plan.failures
    assert "missing" in failure and "does not exist" in failure
    assert plan.adopted == []
    assert plan.cluster.objects[("", "Namespace", "", "kube-system")]["metadata"]["labels"] == {
        "team": "platform"
    }


def test_the_preview_reports_a_create_the_provider_would_refuse(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from offline import preview

    def two_owners(stack: str, config: Any, out: Any) -> Plan:
        return _run(
            lambda: [k8s.core.v1.Namespace(n, metadata={"name": "same"}) for n in ("one", "two")]
        )

    monkeypatch.setattr(preview, "evaluate_config", two_owners)
    assert preview.main(["--stack", "local", "-q"]) == preview.FAILED
    assert "two resources must never manage one object" in capsys.readouterr().err
