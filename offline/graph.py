"""The recorded dependency graph: what waits for what when the plan deploys.

Nodes are the custom resources (providers included) and the components whose children are
invisible offline (one opaque step each); an edge ``a -> b`` means ``a`` waits for
``b``. Edges come from the recorded ``dependencies`` (explicit ``depends_on`` and Output inputs)
and from each resource's provider, because a Kubernetes object cannot be created before its
provider (and so the cluster behind it) exists. A dependency on a component stands for all the
custom resources beneath it, as the engine treats it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from .engine import PROJECT, Plan, Registration

Graph = dict[str, set[str]]


def provider_urn(reference: str) -> str:
    """A provider reference is ``<urn>::<id>``."""
    return reference.rsplit("::", 1)[0] if reference else ""


def _children(plan: Plan) -> dict[str, list[Registration]]:
    children: dict[str, list[Registration]] = {}
    for reg in plan.registrations:
        children.setdefault(reg.parent, []).append(reg)
    return children


def is_node(reg: Registration, children: Mapping[str, list[Registration]]) -> bool:
    """A step of the deploy: a custom resource, or a component whose children the mock engine
    cannot see (e.g. ``yaml.v2.ConfigFile``, expanded inside the provider) — one opaque step."""
    return reg.custom or not (children.get(reg.urn) or reg.type.startswith(f"{PROJECT}:"))


def _descendants(plan: Plan, children: Mapping[str, list[Registration]]) -> dict[str, list[str]]:
    """Component URN -> the deploy steps beneath it (any depth)."""
    out: dict[str, list[str]] = {}

    def walk(urn: str) -> list[str]:
        if urn not in out:
            found: list[str] = []
            for child in children.get(urn, []):
                found.extend([child.urn] if is_node(child, children) else walk(child.urn))
            out[urn] = found
        return out[urn]

    for reg in plan.registrations:
        if not is_node(reg, children):
            walk(reg.urn)
    return out


def dependency_graph(plan: Plan) -> Graph:
    """Deploy step URN -> the step URNs it waits for directly (registration order kept)."""
    children = _children(plan)
    nodes = {r.urn for r in plan.registrations if is_node(r, children)}
    below = _descendants(plan, children)
    graph: Graph = {}
    for reg in plan.registrations:
        if reg.urn not in nodes:
            continue
        deps: set[str] = set()
        for dep in [*reg.dependencies, provider_urn(reg.provider)]:
            if dep in nodes:
                deps.add(dep)
            elif dep in below:
                deps.update(below[dep])
        deps.discard(reg.urn)
        graph[reg.urn] = deps
    return graph


def layers(graph: Graph) -> list[list[str]]:
    """Topological layers: layer n waits only for resources in layers < n (input order kept)."""
    depth: dict[str, int] = {}
    remaining = list(graph)
    while remaining:
        progressed = []
        for urn in remaining:
            deps = graph[urn]
            if all(d in depth for d in deps):
                depth[urn] = 1 + max((depth[d] for d in deps), default=-1)
                progressed.append(urn)
        if not progressed:  # a cycle cannot come out of the engine; never loop forever
            raise ValueError(f"dependency cycle among {sorted(remaining)[:5]}")
        done = set(progressed)
        remaining = [u for u in remaining if u not in done]
    out: list[list[str]] = [[] for _ in range(1 + max(depth.values(), default=-1))]
    for urn in graph:
        out[depth[urn]].append(urn)
    return out


def dependents(graph: Graph, roots: Iterable[str]) -> set[str]:
    """Every resource that waits, directly or transitively, for one of ``roots``."""
    reverse: dict[str, set[str]] = {}
    for urn, deps in graph.items():
        for dep in deps:
            reverse.setdefault(dep, set()).add(urn)
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        for waiter in reverse.get(stack.pop(), ()):
            if waiter not in seen:
                seen.add(waiter)
                stack.append(waiter)
    return seen


@dataclass(frozen=True)
class CriticalPath:
    seconds: float
    steps: tuple[tuple[str, float], ...]  # (urn, seconds of that step), first to last


def critical_path(graph: Graph, cost: Callable[[str], float]) -> CriticalPath:
    """The longest chain of waits, each resource weighted by its (estimated) create time."""
    finish: dict[str, float] = {}
    via: dict[str, str | None] = {}
    for layer in layers(graph):
        for urn in layer:
            before = max(graph[urn], key=lambda d: finish[d], default=None)
            finish[urn] = cost(urn) + (finish[before] if before else 0.0)
            via[urn] = before
    if not finish:
        return CriticalPath(0.0, ())
    end: str | None = max(finish, key=lambda u: finish[u])
    total = finish[end] if end else 0.0
    steps: list[tuple[str, float]] = []
    while end is not None:
        steps.append((end, cost(end)))
        end = via[end]
    return CriticalPath(total, tuple(reversed(steps)))


def sandbox_pool_urns(plan: Plan, pool_component_type: str) -> list[str]:
    """The GKE node pool(s) inside the platform's sandbox node pool component."""
    components = {r.urn for r in plan.registrations if r.type == pool_component_type}
    by_urn: Mapping[str, Registration] = plan.by_urn()
    out = []
    for reg in plan.registrations:
        if reg.type != "gcp:container/nodePool:NodePool":
            continue
        parent = reg.parent
        while parent in by_urn and parent not in components:
            parent = by_urn[parent].parent
        if parent in components:
            out.append(reg.urn)
    return out
