"""Registered Kubernetes resources become the manifests kubectl would apply, in an order the API
server accepts: a namespace before what lives in it, a CRD before its objects."""

from __future__ import annotations

from typing import Any

import pytest

from offline.engine import Plan, Registration
from offline.manifests import api_version_of, component_of, kind_of, manifests, rank, to_manifest


def _reg(type_: str, name: str, inputs: dict[str, Any], parent: str = "") -> Registration:
    return Registration(
        urn=f"urn:{name}",
        type=type_,
        name=name,
        custom=True,
        parent=parent,
        provider="",
        dependencies=[],
        inputs=inputs,
        secret_paths=[],
        options={},
    )


@pytest.mark.parametrize(
    ("token", "api_version", "kind"),
    [
        ("kubernetes:core/v1:Service", "v1", "Service"),
        ("kubernetes:apps/v1:DaemonSet", "apps/v1", "DaemonSet"),
        ("kubernetes:node.k8s.io/v1:RuntimeClass", "node.k8s.io/v1", "RuntimeClass"),
        ("kubernetes:agents.x-k8s.io/v1beta1:Sandbox", "agents.x-k8s.io/v1beta1", "Sandbox"),
    ],
)
def test_type_tokens_map_to_api_version_and_kind(token: str, api_version: str, kind: str) -> None:
    assert api_version_of(token) == api_version
    assert kind_of(token) == kind


def test_a_manifest_carries_the_inputs_and_falls_back_to_the_logical_name() -> None:
    reg = _reg(
        "kubernetes:core/v1:ConfigMap",
        "cfg-logical",
        {"metadata": {"namespace": "ns"}, "data": {"a": "1"}},
    )
    assert to_manifest(reg) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"namespace": "ns", "name": "cfg-logical"},
        "data": {"a": "1"},
    }
    assert reg.inputs == {"metadata": {"namespace": "ns"}, "data": {"a": "1"}}  # not mutated


def test_explicit_api_version_and_kind_win_over_the_token() -> None:
    reg = _reg(
        "kubernetes:agents.x-k8s.io/v1beta1:Sandbox",
        "sb",
        {"apiVersion": "agents.x-k8s.io/v1beta1", "kind": "Sandbox", "metadata": {"name": "x"}},
    )
    m = to_manifest(reg)
    assert (m["apiVersion"], m["kind"], m["metadata"]["name"]) == (
        "agents.x-k8s.io/v1beta1",
        "Sandbox",
        "x",
    )


def test_foundations_rank_before_workloads_and_custom_resources() -> None:
    order = ["Namespace", "CustomResourceDefinition", "ServiceAccount", "Deployment", "Sandbox"]
    ranks = [rank({"kind": k}) for k in order]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)


def test_dev_manifests_cover_every_kubernetes_resource(dev_plan: Plan) -> None:
    rendered = manifests(dev_plan)
    assert {r.urn for r, _ in rendered} == {r.urn for r in dev_plan.kubernetes()}
    assert len(rendered) == len(dev_plan.kubernetes())


def test_dev_manifests_are_in_an_order_the_api_server_accepts(dev_plan: Plan) -> None:
    docs = [m for _, m in manifests(dev_plan)]
    namespaces = {m["metadata"]["name"]: i for i, m in enumerate(docs) if m["kind"] == "Namespace"}
    crds = {
        (f"{m['spec']['group']}/{v['name']}", m["spec"]["names"]["kind"]): i
        for i, m in enumerate(docs)
        if m["kind"] == "CustomResourceDefinition"
        for v in m["spec"]["versions"]
    }
    for i, m in enumerate(docs):
        ns = m["metadata"].get("namespace")
        if ns in namespaces:
            assert namespaces[ns] < i, f"{m['kind']} {m['metadata']['name']} before namespace {ns}"
        crd = crds.get((m["apiVersion"], m["kind"]))
        if crd is not None:
            assert crd < i, f"{m['kind']} {m['metadata']['name']} before its CRD"


def test_component_of_names_the_platform_layer(dev_plan: Plan) -> None:
    by_urn = dev_plan.by_urn()
    root = next(r for r in dev_plan.registrations if r.parent not in by_urn)
    layers = {r.name for r in dev_plan.registrations if r.parent == root.urn and not r.custom}
    for reg in dev_plan.kubernetes():
        name = component_of(dev_plan, reg)
        assert name in layers
        # ... and the resource really sits (at some depth) under that layer
        parent = reg.parent
        while by_urn[parent].name != name:
            parent = by_urn[parent].parent
