"""``--manifests DIR``: the plan's Kubernetes objects as kubectl-appliable YAML files.

One file per component, ``NN-<component>.yaml``, numbered so that ``kubectl apply -f DIR`` (which
reads files in name order) creates what a file needs before it: a component comes after every
component whose Namespace, CRD or resources it needs. Inside a file the objects follow
``offline.manifests`` apply order (namespaces and CRDs first). Should components ever need each
other both ways, Namespaces and CRDs move to ``00-foundations.yaml`` so that they still come first.

CRDs get a file of their own (``NN-crds.yaml``): kubectl maps every object of ``-f DIR`` to an
API resource before it applies the first one, so on a fresh cluster the custom resources fail
until their CRDs are established. ``apply_commands`` prints the order that works: the CRDs, a
``kubectl wait --for condition=Established``, then the directory.

Pulumi secrets are never written: each secret value becomes a placeholder (base64-encoded under a
Secret's ``data``) and the file says which keys must be filled in before applying.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .engine import Plan, Registration
from .graph import dependency_graph, layers
from .manifests import manifests, rank, to_manifest
from .plan_view import plural, redact
from .validate import validate_manifest

PLACEHOLDER = "REDACTED-pulumi-secret"
FOUNDATIONS = "foundations"
FOUNDATION_KINDS = ("Namespace", "CustomResourceDefinition")
CRDS = "crds"
CRD_KIND = "CustomResourceDefinition"
CRD_WAIT_TIMEOUT = "120s"
FILE_PATTERN = re.compile(r"^\d\d-[a-z0-9-]+\.yaml$")


@dataclass
class ManifestFile:
    component: str
    objects: list[tuple[Registration, dict[str, Any]]] = field(default_factory=list)
    redacted: list[str] = field(default_factory=list)  # "Kind ns/name: key" lines
    name: str = ""


def _placeholder(kind: str) -> Callable[[str, Any], Any]:
    def leaf(path: str, _value: Any) -> Any:
        if kind == "Secret" and (path == "data" or path.startswith("data.")):
            return base64.b64encode(PLACEHOLDER.encode()).decode()
        return PLACEHOLDER

    return leaf


def safe_manifest(reg: Registration) -> dict[str, Any]:
    """The manifest with every Pulumi secret replaced by a placeholder."""
    if not reg.secret_paths:
        return to_manifest(reg)
    kind = reg.type.split(":")[-1]
    inputs = redact(reg.inputs, reg.secret_paths, _placeholder(kind))
    return to_manifest(dataclasses.replace(reg, inputs=inputs))


def _components(plan: Plan) -> dict[str, str]:
    """URN -> short name of the platform-level component it belongs to."""
    by_urn = plan.by_urn()
    roots = [r for r in plan.registrations if r.parent not in by_urn and not r.custom]
    root_prefix = f"{roots[0].name}-" if len(roots) == 1 else ""
    memo: dict[str, str] = {}

    def top(urn: str) -> str:
        if urn in memo:
            return memo[urn]
        chain: list[Registration] = []
        parent = by_urn[urn].parent
        while parent in by_urn:
            chain.append(by_urn[parent])
            parent = by_urn[parent].parent
        comps = [r for r in chain if not r.custom]
        name = comps[-2].name if len(comps) >= 2 else (comps[-1].name if comps else "stack")
        memo[urn] = name.removeprefix(root_prefix) if name != root_prefix[:-1] else name
        return memo[urn]

    return {r.urn: top(r.urn) for r in plan.registrations if r.is_kubernetes}


def _order(files: dict[str, ManifestFile], needs: dict[str, set[str]]) -> list[str] | None:
    """Components so that each comes after those it needs; None on a cycle."""
    order: list[str] = []
    pending = sorted(files, key=lambda n: (min(rank(m) for _, m in files[n].objects), n))
    while pending:
        ready = [n for n in pending if not (needs[n] - set(order) - {n})]
        if not ready:
            return None
        order.append(ready[0])  # lowest rank first among the ready ones: stable, readable
        pending.remove(ready[0])
    return order


def plan_files(plan: Plan) -> list[ManifestFile]:
    """The files to write, in apply order, each holding its objects in apply order."""
    component = _components(plan)
    files: dict[str, ManifestFile] = {}
    for reg, m in manifests(plan):
        name = CRDS if m["kind"] == CRD_KIND else component[reg.urn]
        files.setdefault(name, ManifestFile(name)).objects.append((reg, safe_manifest(reg)))

    # What each component needs from the others before its objects can be applied.
    defined_ns: dict[str, str] = {}
    defined_crd: dict[tuple[str, str], str] = {}
    for name, f in files.items():
        for _, m in f.objects:
            if m["kind"] == "Namespace":
                defined_ns[m["metadata"]["name"]] = name
            elif m["kind"] == "CustomResourceDefinition":
                spec = m.get("spec") or {}
                for v in spec.get("versions") or []:
                    api = f"{spec.get('group')}/{v.get('name')}"
                    defined_crd[(api, (spec.get("names") or {}).get("kind", ""))] = name
    graph = dependency_graph(plan)
    by_urn = plan.by_urn()
    needs: dict[str, set[str]] = {n: set() for n in files}
    for name, f in files.items():
        for reg, m in f.objects:
            ns = (m.get("metadata") or {}).get("namespace")
            if ns in defined_ns:
                needs[name].add(defined_ns[ns])
            if (m["apiVersion"], m["kind"]) in defined_crd:
                needs[name].add(defined_crd[(m["apiVersion"], m["kind"])])
            needs[name].update(
                CRDS if by_urn[d].type.endswith(f":{CRD_KIND}") else component[d]
                for d in graph.get(reg.urn, ())
                if d in component
            )

    # Inside a file: apply rank, then dependency depth, then names. Registration order is not
    # stable from run to run (the SDK registers concurrently); rendered files must be diffable.
    depth = {urn: n for n, layer in enumerate(layers(graph)) for urn in layer}

    def key(obj: tuple[Registration, dict[str, Any]]) -> tuple[int, int, str, str, str]:
        reg, m = obj
        meta = m.get("metadata") or {}
        name = str(meta.get("name"))
        return rank(m), depth.get(reg.urn, 0), m["kind"], str(meta.get("namespace", "")), name

    for f in files.values():
        f.objects.sort(key=key)
    order = _order(files, needs)
    ordered: list[ManifestFile]
    if order is not None:
        ordered = [files[n] for n in order]
    else:
        foundations = ManifestFile(FOUNDATIONS)
        for f in files.values():
            foundations.objects += [o for o in f.objects if o[1]["kind"] in FOUNDATION_KINDS]
            f.objects = [o for o in f.objects if o[1]["kind"] not in FOUNDATION_KINDS]
        foundations.objects.sort(key=key)
        rest = sorted(
            (f for f in files.values() if f.objects),
            key=lambda f: min(rank(m) for _, m in f.objects),
        )
        ordered = [foundations, *rest]
    start = 0 if order is None else 1
    for n, f in enumerate(ordered, start=start):
        f.name = f"{n:02d}-{re.sub(r'[^a-z0-9-]+', '-', f.component.lower())}.yaml"
        for reg, m in f.objects:
            meta = m.get("metadata") or {}
            where = f"{meta['namespace']}/" if meta.get("namespace") else ""
            f.redacted += [f"{m['kind']} {where}{meta.get('name')}: {p}" for p in reg.secret_paths]
    return ordered


def apply_commands(files: list[ManifestFile], directory: Path | str) -> list[str]:
    """kubectl commands that apply the files on a fresh cluster: CRDs first, then wait until
    the API server serves them, then everything (kubectl maps all of -f DIR up front)."""
    everything = f"kubectl apply -f {directory}/"
    with_crds = [f for f in files if any(m["kind"] == CRD_KIND for _, m in f.objects)]
    if not with_crds:
        return [everything]
    crds = [m["metadata"]["name"] for f in with_crds for _, m in f.objects if m["kind"] == CRD_KIND]
    wait = f"kubectl wait --for condition=Established --timeout={CRD_WAIT_TIMEOUT}"
    return [
        *(f"kubectl apply -f {directory}/{f.name}" for f in with_crds),
        " ".join([wait, *(f"crd/{n}" for n in crds)]),
        everything,
    ]


def validate_files(files: list[ManifestFile]) -> dict[str, list[str]]:
    """``file: Kind ns/name`` -> problems, for every invalid object (same validators as tests)."""
    problems: dict[str, list[str]] = {}
    for f in files:
        for _, m in f.objects:
            errs = validate_manifest(m)
            if errs:
                meta = m.get("metadata") or {}
                where = f"{meta['namespace']}/" if meta.get("namespace") else ""
                problems[f"{f.name}: {m['kind']} {where}{meta.get('name')}"] = errs
    return problems


def render_file(f: ManifestFile, stack: str) -> str:
    header = [
        f"# {f.component}: {plural(len(f.objects), 'object')}, in apply order "
        f"(rendered offline from stack '{stack}' by python -m offline.preview)",
    ]
    if f.redacted:
        header.append(
            f"# Pulumi secrets are not written: '{PLACEHOLDER}' (base64 under data) stands in "
            "for each of these; set the real values before applying:"
        )
        header += [f"#   {line}" for line in f.redacted]
    body = yaml.dump_all(
        [m for _, m in f.objects],
        Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),  # libyaml: ~10x faster
        sort_keys=True,
        default_flow_style=False,
        width=100,
    )
    return "\n".join(header) + "\n---\n" + body


def write_files(files: list[ManifestFile], directory: Path, stack: str) -> list[Path]:
    """Write the files, removing earlier ``NN-*.yaml`` renders so none is applied by mistake."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.iterdir():
        if old.is_file() and FILE_PATTERN.match(old.name):
            old.unlink()
    written = []
    for f in files:
        path = directory / f.name
        path.write_text(render_file(f, stack))
        written.append(path)
    return written
