"""The offline preview command, end to end: tree, manifests, policy verdicts, JSON, exit codes."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, STACKS, plan_for
from helpers import config

from components import constants as c
from offline import policy, preview
from offline.engine import Plan, Registration
from offline.plan_view import JSON_KEYS, RESOURCE_KEYS, SECRET, secret_values
from offline.validate import validate_manifest

MOCK_PASSWORD = "mock-random-password-value"  # what offline.engine's mocks return for passwords
BAD_MACHINE = "e2-standard-8"  # E2 cannot nest (DESIGN §3)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = preview.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def settings_file(tmp_path: Path, **sections: Any) -> Path:
    """A Pulumi.<stack>.yaml-shaped file: the dev stack with sections patched."""
    path = tmp_path / "Pulumi.review.yaml"
    cfg = {k: v for k, v in config("dev", **sections).items() if k.startswith(f"{c.PROJECT}:")}
    path.write_text(yaml.safe_dump({"config": cfg}))
    return path


def with_registrations(plan: Plan, regs: list[Registration]) -> Plan:
    return dataclasses.replace(plan, registrations=regs)


def leaks(text: str, plan: Plan) -> set[str]:
    return {s for s in secret_values(plan) | {MOCK_PASSWORD} if s in text}


# ---------------------------------------------------------------------------------------------
# the tree
# ---------------------------------------------------------------------------------------------
def test_the_documented_command_runs_end_to_end(dev_plan: Plan) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "offline.preview", "--stack", "dev"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    pool = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"][f"{c.PROJECT}:nodePool"]
    out = done.stdout
    assert "[SandboxPlatform] agent-sandbox" in out
    assert f"machineType: {pool['machineType']}" in out
    assert f"nestedVirtualization: true (threadsPerCore {pool['threadsPerCore']})" in out
    assert "taints: agent-sandbox.dev/sandbox=true:NO_SCHEDULE" in out
    assert "Dependency order" in out and "Waits for the sandbox node pool" in out
    assert "kubeconfig: [secret]" in out
    assert "Traceback" not in done.stderr
    assert not leaks(out + done.stderr, dev_plan)


@pytest.mark.parametrize("stack", STACKS)
def test_every_committed_stack_previews(stack: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["--stack", stack], capsys)
    assert code == 0, err
    plan = plan_for(stack)
    for reg in plan.registrations:
        assert f"  {reg.name}" in out  # every resource is in the tree
    assert not leaks(out, plan)


def test_a_settings_error_is_one_message_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = settings_file(tmp_path, nodePool={"machineType": BAD_MACHINE})
    code, out, err = run(["--settings", str(bad)], capsys)
    assert code == 2
    assert "nodePool.machineType" in err and BAD_MACHINE in err
    assert "Traceback" not in err and out == ""


def test_a_settings_file_evaluates_like_the_stack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = settings_file(tmp_path, router={"replicas": 3})
    code, out, err = run(["--settings", str(path)], capsys)
    assert code == 0, err
    assert "replicas: 3" in out
    assert "stack review" in out  # named after Pulumi.review.yaml


def test_an_unknown_stack_lists_the_committed_ones(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["--stack", "nope"], capsys)
    assert code == 2
    assert "Pulumi.nope.yaml" in err and all(s in err for s in STACKS)


def test_a_file_that_is_not_stack_shaped_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("nodePool:\n  machineType: n2-standard-8\n")
    code, _, err = run(["--settings", str(path)], capsys)
    assert code == 2 and "config:" in err
    path.write_text("config: [unclosed\n")
    assert run(["--settings", str(path)], capsys)[0] == 2
    assert run(["--settings", str(tmp_path / "missing.yaml")], capsys)[0] == 2


# ---------------------------------------------------------------------------------------------
# --manifests
# ---------------------------------------------------------------------------------------------
def test_manifests_are_written_in_apply_order_and_strictly_valid(
    tmp_path: Path, dev_plan: Plan, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["--stack", "dev", "-q", "--manifests", str(tmp_path)], capsys)
    assert code == 0, out + err
    files = sorted(tmp_path.glob("*.yaml"))
    assert files and all(f.name[:2].isdigit() and f.name[2] == "-" for f in files)
    docs = [d for f in files for d in yaml.safe_load_all(f.read_text()) if d]
    assert len(docs) == len(dev_plan.kubernetes())
    for doc in docs:
        assert validate_manifest(doc) == [], doc["metadata"]
    # Applied in file-name order, each Namespace and CRD precedes what needs it.
    seen_ns: set[str] = set()
    seen_crd: set[tuple[str, str]] = set()
    crds = {
        (f"{d['spec']['group']}/{v['name']}", d["spec"]["names"]["kind"])
        for d in docs
        if d["kind"] == "CustomResourceDefinition"
        for v in d["spec"]["versions"]
    }
    created_ns = {d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"}
    for doc in docs:
        ns = doc["metadata"].get("namespace")
        assert ns not in created_ns or ns in seen_ns, f"{doc['kind']} before namespace {ns}"
        key = (doc["apiVersion"], doc["kind"])
        assert key not in crds or key in seen_crd, f"{doc['kind']} before its CRD"
        if doc["kind"] == "Namespace":
            seen_ns.add(doc["metadata"]["name"])
        if doc["kind"] == "CustomResourceDefinition":
            seen_crd |= {
                (f"{doc['spec']['group']}/{v['name']}", doc["spec"]["names"]["kind"])
                for v in doc["spec"]["versions"]
            }
    text = "".join(f.read_text() for f in files)
    assert not leaks(text, dev_plan)


def test_secrets_in_manifests_are_placeholders_and_called_out(
    tmp_path: Path, dev_plan: Plan, capsys: pytest.CaptureFixture[str]
) -> None:
    secret_regs = [r for r in dev_plan.kubernetes() if r.secret_paths]
    if not secret_regs:
        pytest.skip("the dev stack holds no Pulumi secret in a Kubernetes object")
    code, out, _ = run(["--stack", "dev", "-q", "--manifests", str(tmp_path)], capsys)
    assert code == 0
    assert "REDACTED-pulumi-secret" in out
    for reg in secret_regs:
        for path in reg.secret_paths:
            assert path in out


def test_an_invalid_manifest_exits_1_and_writes_nothing(
    tmp_path: Path,
    dev_plan: Plan,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    regs = copy.deepcopy(dev_plan.registrations)
    deployment = next(r for r in regs if r.type == "kubernetes:apps/v1:Deployment")
    pod = deployment.inputs["spec"]["template"]["spec"]
    pod["runtimeClasName"] = "kata-qemu"  # the typo DESIGN §4.2 wants caught
    monkeypatch.setattr(preview, "evaluate", lambda *a, **k: with_registrations(dev_plan, regs))
    code, out, _ = run(["--stack", "dev", "-q", "--manifests", str(tmp_path)], capsys)
    assert code == 1
    assert "runtimeClasName" in out and deployment.inputs["metadata"]["name"] in out
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# --policy
# ---------------------------------------------------------------------------------------------
def test_policy_mode_reports_the_pack_verdicts(
    dev_plan: Plan, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = policy.run_policies(dev_plan)
    code, out, err = run(["--stack", "dev", "-q", "--policy"], capsys)
    assert code == (1 if any(v.mandatory for v in expected) else 0), out + err
    for v in expected:
        assert v.policy in out


def _sandbox_without_runtime_class(dev_plan: Plan) -> list[Registration]:
    regs = copy.deepcopy(dev_plan.registrations)
    sandbox = next(r for r in regs if r.type == c.SANDBOX_TYPE)
    del sandbox.inputs["spec"]["podTemplate"]["spec"]["runtimeClassName"]
    return regs


def test_a_mandatory_violation_exits_1(
    dev_plan: Plan, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if not dev_plan.by_type(c.SANDBOX_TYPE):
        pytest.skip("the dev stack declares no Sandbox")
    broken = with_registrations(dev_plan, _sandbox_without_runtime_class(dev_plan))
    assert any(v.mandatory for v in policy.run_policies(broken))  # DESIGN §1.6
    monkeypatch.setattr(preview, "evaluate", lambda *a, **k: broken)
    code, out, _ = run(["--stack", "dev", "-q", "--policy"], capsys)
    assert code == 1
    assert "[mandatory]" in out


def test_policy_config_can_lower_enforcement(
    tmp_path: Path,
    dev_plan: Plan,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if not dev_plan.by_type(c.SANDBOX_TYPE):
        pytest.skip("the dev stack declares no Sandbox")
    broken = with_registrations(dev_plan, _sandbox_without_runtime_class(dev_plan))
    monkeypatch.setattr(preview, "evaluate", lambda *a, **k: broken)
    cfg = tmp_path / "policy.json"
    cfg.write_text(json.dumps({"all": "advisory"}))
    code, out, _ = run(["--stack", "dev", "-q", "--policy", "--policy-config", str(cfg)], capsys)
    assert code == 0
    assert "[advisory]" in out and "[mandatory]" not in out


def test_a_bad_policy_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "policy.json"
    cfg.write_text(json.dumps({"no-such-policy": "mandatory"}))
    code, _, err = run(["--stack", "dev", "-q", "--policy", "--policy-config", str(cfg)], capsys)
    assert code == 2 and "no-such-policy" in err


# ---------------------------------------------------------------------------------------------
# --json
# ---------------------------------------------------------------------------------------------
def test_json_is_the_whole_plan_without_secrets(
    tmp_path: Path, dev_plan: Plan, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "plan.json"
    code, _, err = run(["--stack", "dev", "-q", "--json", str(path)], capsys)
    assert code == 0, err
    text = path.read_text()
    doc = json.loads(text)
    assert tuple(doc) == JSON_KEYS
    assert doc["stack"] == "dev" and doc["error"] is None
    assert doc["warnings"] == dev_plan.warnings
    assert {r["urn"] for r in doc["resources"]} == {r.urn for r in dev_plan.registrations}
    by_urn = {r["urn"]: r for r in doc["resources"]}
    for reg in dev_plan.registrations:
        got = by_urn[reg.urn]
        assert tuple(got) == RESOURCE_KEYS
        assert (got["type"], got["name"], got["dependencies"]) == (
            reg.type,
            reg.name,
            sorted(reg.dependencies),
        )
        assert got["secretPaths"] == sorted(reg.secret_paths)
    assert doc["outputs"]["kubeconfig"] == SECRET
    assert set(doc["secretOutputs"]) == dev_plan.secret_outputs
    assert not leaks(text, dev_plan)


def test_json_to_stdout_is_pure_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--stack", "dev", "--json", "-"], capsys)
    assert code == 0
    assert json.loads(out)["stack"] == "dev"


def test_json_of_a_settings_error_carries_the_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = settings_file(tmp_path, nodePool={"machineType": BAD_MACHINE})
    path = tmp_path / "plan.json"
    code, _, _ = run(["--settings", str(bad), "--json", str(path)], capsys)
    assert code == 2
    doc = json.loads(path.read_text())
    assert "nodePool.machineType" in doc["error"]
    assert doc["resources"] == []


# ---------------------------------------------------------------------------------------------
# issue 15: quiet runs, the caller's paths, exit codes, stack files read as the CLI reads them
# ---------------------------------------------------------------------------------------------
def test_quiet_hides_the_tree_not_the_warnings(
    dev_plan: Plan, capsys: pytest.CaptureFixture[str]
) -> None:
    assert dev_plan.warnings, "the dev stack is expected to warn (mutable router image)"
    code, out, err = run(["--stack", "dev", "-q"], capsys)
    assert code == 0
    assert "Resources (" not in out + err  # no tree
    for warning in dev_plan.warnings:
        assert warning in err
    code, out, err = run(["--stack", "dev", "--json", "-"], capsys)
    assert code == 0 and json.loads(out)["warnings"] == dev_plan.warnings
    assert all(w in err for w in dev_plan.warnings)


def test_relative_paths_mean_the_callers_directory(tmp_path: Path) -> None:
    # bin/preview, the documented entry point, run from a directory of the caller's own (the
    # small kubeconfig stack keeps the manifests quick to validate).
    (tmp_path / "Pulumi.review.yaml").write_text((ROOT / "Pulumi.local.yaml").read_text())
    done = subprocess.run(
        [
            "bash",
            str(ROOT / "bin" / "preview"),
            "--settings",
            "Pulumi.review.yaml",
            "-q",
            "--json",
            "plan.json",
            "--manifests",
            "out",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "plan.json").read_text())["stack"] == "review"
    assert sorted((tmp_path / "out").glob("*.yaml"))
    assert not (ROOT / "plan.json").exists() and not (ROOT / "out").exists()


def test_unwritable_outputs_exit_2_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        ["--stack", "dev", "-q", "--json", str(tmp_path / "no" / "plan.json")], capsys
    )
    assert code == 2 and "cannot write --json" in err
    (tmp_path / "file").write_text("")
    code, _, err = run(["--stack", "dev", "-q", "--manifests", str(tmp_path / "file")], capsys)
    assert code == 2 and "cannot write --manifests" in err


def test_a_key_given_twice_is_refused_like_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # PyYAML keeps the last of two equal keys; the Pulumi CLI's parser refuses the file.
    path = tmp_path / "Pulumi.twice.yaml"
    path.write_text(f"config:\n  {c.PROJECT}:router:\n    replicas: 2\n    replicas: 3\n")
    code, out, err = run(["--settings", str(path)], capsys)
    assert code == 2 and out == ""
    assert "line 4: key 'replicas' is already given at line 3" in err
    assert "keep one of them" in err and "Traceback" not in err


def test_a_key_without_namespace_is_refused_like_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "Pulumi.bare.yaml"
    path.write_text("config:\n  nodePool:\n    machineType: n2-standard-8\n")
    code, _, err = run(["--settings", str(path)], capsys)
    assert code == 2
    assert f"write {c.PROJECT}:nodePool" in err


def test_an_unquoted_timestamp_stays_the_text_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The CLI (yaml.v3) hands an unquoted timestamp over as the text written; no traceback.
    path = settings_file(tmp_path)
    text = path.read_text().replace("shutdownTime: null", "shutdownTime: 2099-12-31T23:59:59Z")
    assert "2099-12-31T23:59:59Z" in text
    path.write_text(text)
    code, out, err = run(["--settings", str(path), "--json", "-"], capsys)
    assert code == 0, err
    [box] = [r for r in json.loads(out)["resources"] if r["type"].endswith(":Sandbox")]
    assert box["inputs"]["spec"]["shutdownTime"] == "2099-12-31T23:59:59Z"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("agent-sandbox-platfrom:router", "did you mean 'agent-sandbox-platform'?"),
        ("kubernets:context", "did you mean 'kubernetes'?"),
        ("aws:region", "this program reads only pulumi, kubernetes, gcp, random"),
    ],
)
def test_an_unknown_config_namespace_is_refused(
    key: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = settings_file(tmp_path)
    doc = yaml.safe_load(path.read_text())
    doc["config"][key] = {"replicas": 3} if key.endswith("router") else "x"
    path.write_text(yaml.safe_dump(doc))
    code, out, err = run(["--settings", str(path)], capsys)
    assert code == 2 and out == ""
    assert f"{key}: unknown config namespace" in err and expected in err


def test_an_unknown_platform_stack_names_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "Pulumi.team-b.yaml"
    path.write_text(
        "config:\n"
        f"  {c.PROJECT}:role: tenant\n"
        f"  {c.PROJECT}:tenant:\n"
        f"    platformStack: my-org/{c.PROJECT}/prod\n"
        "    namespace: team-b\n"
    )
    code, out, err = run(["--settings", str(path)], capsys)
    assert code == 2 and out == ""
    assert f"{c.PROJECT}:tenant.platformStack 'my-org/{c.PROJECT}/prod'" in err
    assert "no Pulumi.prod.yaml" in err and "committed stacks: dev" in err


@pytest.mark.parametrize(
    "argv", [["--bogus"], ["--stack", "dev", "--settings", "x.yaml"], ["--json"]]
)
def test_a_wrong_command_line_exits_2_as_documented(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        preview.main(argv)
    assert info.value.code == preview.BAD_SETTINGS == 2
    assert "Traceback" not in capsys.readouterr().err
