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
