"""The deploy graph: what waits for what, in layers, and the longest chain of waits."""

from __future__ import annotations

from components import constants as c
from offline.engine import Plan, Registration
from offline.graph import (
    critical_path,
    dependency_graph,
    dependents,
    layers,
    provider_urn,
    sandbox_pool_urns,
)
from offline.plan_view import SANDBOX_POOL_COMPONENT


def reg(
    name: str,
    type_: str = "test:index:Thing",
    *,
    custom: bool = True,
    parent: str = "",
    deps: tuple[str, ...] = (),
    provider: str = "",
) -> Registration:
    return Registration(
        urn=name,
        type=type_,
        name=name,
        custom=custom,
        parent=parent,
        provider=provider,
        dependencies=list(deps),
        inputs={},
        secret_paths=[],
        options={},
    )


def test_a_provider_reference_names_the_provider_urn() -> None:
    assert provider_urn("urn:pulumi:dev::p::pulumi:providers:kubernetes::k8s::id-1") == (
        "urn:pulumi:dev::p::pulumi:providers:kubernetes::k8s"
    )
    assert provider_urn("") == ""


def test_edges_come_from_dependencies_and_providers() -> None:
    plan = Plan(
        "t",
        [
            reg("cluster"),
            reg("k8s", "pulumi:providers:kubernetes", deps=("cluster",)),
            reg("ns", "kubernetes:core/v1:Namespace", provider="k8s::id"),
            reg("deploy", "kubernetes:apps/v1:Deployment", deps=("ns",), provider="k8s::id"),
        ],
    )
    assert dependency_graph(plan) == {
        "cluster": set(),
        "k8s": {"cluster"},
        "ns": {"k8s"},
        "deploy": {"ns", "k8s"},
    }


def test_depending_on_a_component_means_waiting_for_everything_under_it() -> None:
    plan = Plan(
        "t",
        [
            reg("comp", "pkg:m:Comp", custom=False),
            reg("a", parent="comp"),
            reg("inner", "pkg:m:Inner", custom=False, parent="comp"),
            reg("b", parent="inner"),
            reg("waiter", deps=("comp",)),
        ],
    )
    graph = dependency_graph(plan)
    assert "comp" not in graph and "inner" not in graph
    assert graph["waiter"] == {"a", "b"}


def test_a_component_expanded_inside_the_provider_is_one_opaque_step() -> None:
    # e.g. yaml.v2.ConfigFile: no children visible offline, but things still wait for it.
    plan = Plan(
        "t",
        [
            reg("manifest", "kubernetes:yaml/v2:ConfigFile", custom=False),
            reg("sandbox", deps=("manifest",)),
            reg(f"{c.PROJECT}-empty", c.type_token("x", "Empty"), custom=False),
        ],
    )
    graph = dependency_graph(plan)
    assert graph["sandbox"] == {"manifest"}
    assert f"{c.PROJECT}-empty" not in graph  # our own empty component is not a step


def test_layers_wait_only_for_earlier_layers() -> None:
    graph = {"a": set(), "b": {"a"}, "c": {"a"}, "d": {"b", "c"}, "e": set()}
    assert layers(graph) == [["a", "e"], ["b", "c"], ["d"]]


def test_dependents_are_transitive() -> None:
    graph = {"pool": set(), "ds": {"pool"}, "sb": {"ds"}, "router": set()}
    assert dependents(graph, ["pool"]) == {"ds", "sb"}


def test_critical_path_is_the_longest_weighted_chain() -> None:
    graph = {"cluster": set(), "pool": {"cluster"}, "kata": {"pool"}, "gw": {"cluster"}}
    cost = {"cluster": 420.0, "pool": 240.0, "kata": 180.0, "gw": 300.0}
    path = critical_path(graph, cost.__getitem__)
    assert path.seconds == 840.0
    assert [u for u, _ in path.steps] == ["cluster", "pool", "kata"]
    assert critical_path({}, cost.__getitem__).seconds == 0.0


def test_the_sandbox_pool_is_found_inside_its_component() -> None:
    plan = Plan(
        "t",
        [
            reg("platform", "pkg:m:Platform", custom=False),
            reg("pool-comp", SANDBOX_POOL_COMPONENT, custom=False, parent="platform"),
            reg("pool", "gcp:container/nodePool:NodePool", parent="pool-comp"),
            reg("system-pool", "gcp:container/nodePool:NodePool", parent="platform"),
        ],
    )
    assert sandbox_pool_urns(plan, SANDBOX_POOL_COMPONENT) == ["pool"]


def test_in_the_dev_stack_only_kata_deploy_and_sandboxes_wait_for_the_pool(
    dev_plan: Plan,
) -> None:
    # DESIGN §5: the control plane, router and gateway deploy beside the sandbox node pool.
    graph = dependency_graph(dev_plan)
    pools = sandbox_pool_urns(dev_plan, SANDBOX_POOL_COMPONENT)
    assert len(pools) == 1
    by_urn = dev_plan.by_urn()
    waiting = {by_urn[u].type.rsplit(":", 1)[-1] for u in dependents(graph, pools)}
    allowed = {"DaemonSet", c.KIND_SANDBOX, c.KIND_SANDBOX_WARM_POOL, c.KIND_SANDBOX_CLAIM}
    assert waiting <= allowed, waiting - allowed
    daemonsets = [r for r in dev_plan.registrations if r.type == "kubernetes:apps/v1:DaemonSet"]
    for ds in daemonsets:  # kata-deploy needs the pool's nodes to roll out
        assert ds.urn in dependents(graph, pools)
