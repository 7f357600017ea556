"""``--manifests``: one file per component, in an order ``kubectl apply -f DIR`` accepts, and no
Pulumi secret in clear text."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from offline.engine import Plan, Registration
from offline.manifest_files import (
    FOUNDATIONS,
    PLACEHOLDER,
    apply_commands,
    plan_files,
    render_file,
    safe_manifest,
    write_files,
)

CRD_GROUP = "agents.x-k8s.io"


def comp(name: str, parent: str = "platform") -> Registration:
    return Registration(name, f"pkg:m:{name}", name, False, parent, "", [], {}, [], {})


def k8s(
    name: str,
    token: str,
    parent: str,
    inputs: dict[str, Any],
    secret_paths: tuple[str, ...] = (),
    deps: tuple[str, ...] = (),
) -> Registration:
    return Registration(
        name, token, name, True, parent, "", list(deps), inputs, list(secret_paths), {}
    )


def namespace(name: str, parent: str) -> Registration:
    return k8s(f"ns-{name}", "kubernetes:core/v1:Namespace", parent, {"metadata": {"name": name}})


def crd(parent: str) -> Registration:
    return k8s(
        "crd",
        "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
        parent,
        {
            "metadata": {"name": f"sandboxes.{CRD_GROUP}"},
            "spec": {
                "group": CRD_GROUP,
                "names": {"kind": "Sandbox", "plural": "sandboxes"},
                "versions": [{"name": "v1beta1", "served": True}],
            },
        },
    )


def sandbox(name: str, ns: str, parent: str) -> Registration:
    return k8s(
        name,
        f"kubernetes:{CRD_GROUP}/v1beta1:Sandbox",
        parent,
        {"metadata": {"name": name, "namespace": ns}},
    )


def configmap(name: str, ns: str, parent: str, deps: tuple[str, ...] = ()) -> Registration:
    return k8s(
        name, "kubernetes:core/v1:ConfigMap", parent, {"metadata": {"namespace": ns}}, deps=deps
    )


def plan(*regs: Registration) -> Plan:
    return Plan("t", [comp("platform", parent="stack"), *regs])


def names(files: list[Any]) -> list[str]:
    return [f.name for f in files]


def test_a_component_comes_after_the_one_whose_namespace_and_crd_it_uses() -> None:
    # "sandboxes" registers first and would sort first by its Namespace; it needs the CRD.
    p = plan(
        comp("platform-sandboxes"),
        namespace("team", "platform-sandboxes"),
        sandbox("sb", "team", "platform-sandboxes"),
        comp("platform-control"),
        crd("platform-control"),
    )
    files = plan_files(p)
    # The CRD has a file of its own, so control's file is empty and not written.
    assert names(files) == ["01-crds.yaml", "02-sandboxes.yaml"]
    assert [m["kind"] for _, m in files[1].objects] == ["Namespace", "Sandbox"]


def test_a_recorded_dependency_orders_the_files_too() -> None:
    p = plan(
        comp("platform-b"),
        configmap("b", "default", "platform-b", deps=("a",)),
        comp("platform-a"),
        configmap("a", "default", "platform-a"),
    )
    assert names(plan_files(p)) == ["01-a.yaml", "02-b.yaml"]


def test_components_that_need_each_other_get_a_foundations_file() -> None:
    # x uses y's namespace, y uses x's: no file order works, so foundations go first.
    p = plan(
        comp("platform-x"),
        crd("platform-x"),
        namespace("x-ns", "platform-x"),
        configmap("cm", "y-ns", "platform-x"),
        comp("platform-y"),
        namespace("y-ns", "platform-y"),
        sandbox("sb", "x-ns", "platform-y"),
    )
    files = plan_files(p)
    assert files[0].name == f"00-{FOUNDATIONS}.yaml"
    assert sorted(m["kind"] for _, m in files[0].objects) == [
        "CustomResourceDefinition",
        "Namespace",
        "Namespace",
    ]
    assert all(
        m["kind"] not in ("Namespace", "CustomResourceDefinition")
        for f in files[1:]
        for _, m in f.objects
    )


def test_secret_values_become_placeholders_and_base64_stays_base64() -> None:
    secret = k8s(
        "s",
        "kubernetes:core/v1:Secret",
        "platform",
        {"metadata": {"name": "s"}, "data": {"a": "c2VjcmV0"}, "stringData": {"b": "plain"}},
        secret_paths=("data", "stringData.b"),
    )
    m = safe_manifest(secret)
    assert base64.b64decode(m["data"]["a"]).decode() == PLACEHOLDER
    assert m["stringData"]["b"] == PLACEHOLDER
    assert secret.inputs["data"]["a"] == "c2VjcmV0"  # the plan is untouched
    files = plan_files(plan(secret))
    text = render_file(files[0], "t")
    assert "c2VjcmV0" not in text and "plain" not in text
    assert "Secret s: data" in text and "Secret s: stringData.b" in text  # told what to fill in


def test_writing_replaces_earlier_renders_only(tmp_path: Path) -> None:
    (tmp_path / "07-old-component.yaml").write_text("stale")
    (tmp_path / "notes.txt").write_text("mine")
    files = plan_files(plan(comp("platform-a"), configmap("a", "default", "platform-a")))
    written = write_files(files, tmp_path, "t")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01-a.yaml", "notes.txt"]
    docs = [d for d in yaml.safe_load_all(written[0].read_text()) if d]
    assert [d["kind"] for d in docs] == ["ConfigMap"]


# --- the apply hint works on a fresh cluster (issue 13, point 10) ------------------------------
BUILT_IN_GROUPS = {
    "",
    "apps",
    "batch",
    "policy",
    "rbac.authorization.k8s.io",
    "node.k8s.io",
    "networking.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    # A GKE cluster with the Gateway API on serves these itself.
    "gateway.networking.k8s.io",
    "networking.gke.io",
}


def kubectl(commands: list[str]) -> list[str]:
    """What kubectl does with these commands on a fresh cluster: `apply -f` maps every object
    of its argument to an API resource before applying any (a custom kind whose CRD is not
    established yet fails), and `wait --for condition=Established crd/<name>` returns once the
    named CRDs are served."""
    created: dict[str, tuple[str, str]] = {}  # CRD name -> (group, kind) it serves
    served: set[tuple[str, str]] = set()
    errors: list[str] = []
    for command in commands:
        words = command.split()
        if words[:2] == ["kubectl", "apply"]:
            target = Path(words[words.index("-f") + 1])
            paths = sorted(target.glob("*.yaml")) if target.is_dir() else [target]
            objects = [o for p in paths for o in yaml.safe_load_all(p.read_text()) if o]
            unmapped = [
                o["kind"]
                for o in objects
                if o["apiVersion"].rpartition("/")[0] not in BUILT_IN_GROUPS
                and (o["apiVersion"].rpartition("/")[0], o["kind"]) not in served
            ]
            if unmapped:
                errors.append(f"{command}: no matches for kind {sorted(set(unmapped))}")
                continue
            for o in objects:
                if o["kind"] == "CustomResourceDefinition":
                    spec = o["spec"]
                    created[o["metadata"]["name"]] = (spec["group"], spec["names"]["kind"])
        elif words[:2] == ["kubectl", "wait"]:
            assert "condition=Established" in command
            served.update(created[w[4:]] for w in words if w.startswith("crd/"))
    return errors


def test_the_printed_apply_commands_work_on_a_fresh_cluster(tmp_path: Path, dev_plan: Plan) -> None:
    files = plan_files(dev_plan)
    write_files(files, tmp_path, "dev")
    # One `kubectl apply -f DIR/` fails: the Sandbox kinds are mapped before their CRDs exist.
    assert kubectl([f"kubectl apply -f {tmp_path}/"])
    commands = apply_commands(files, tmp_path)
    assert commands[-1] == f"kubectl apply -f {tmp_path}/"
    assert kubectl(commands) == []
