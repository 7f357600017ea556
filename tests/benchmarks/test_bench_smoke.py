"""The benchmark script works (a tiny run, no timing asserted): its generated stacks evaluate
with the sandboxes asked for, the floor registers as many resources as the program did, the
worker protocol round-trips, and the critical-path report names real resources."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import bench_offline as bench
from benchmarks.floor_program import FLOOR_TYPE, floor_program, loaded_sdk_modules
from components import constants as c
from offline.engine import evaluate, stack_config


def test_generated_stacks_declare_the_sandboxes_and_evaluate() -> None:
    cfg = bench.sandbox_config(stack_config("dev"), 40)
    plan = evaluate(cfg, stack="dev")
    assert plan.error is None, plan.error
    names = {r.inputs["metadata"]["name"] for r in plan.by_type(c.SANDBOX_TYPE)}
    assert {f"bench-{i:04d}" for i in range(40)} <= names
    assert plan.outputs["capacity"]["declared"] >= 40


def test_the_floor_registers_exactly_the_count_and_the_same_modules() -> None:
    plan = evaluate({}, stack="floor", program=floor_program(7, loaded_sdk_modules()))
    assert [r.type for r in plan.registrations] == [FLOOR_TYPE] * 7
    same = evaluate({}, stack="floor", program=floor_program(0, [], [(FLOOR_TYPE, "x", {"a": 1})]))
    assert same.registrations[0].inputs == {"a": 1}


def test_a_worker_round_trip_measures_a_real_and_a_floor_run(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(stack_config("dev")))
    real = bench._spawn(["real", str(cfg), "dev"])
    assert real["registrations"] > 0 and real["seconds"] > 0
    assert any(m.startswith("pulumi_kubernetes") for m in real["modules"])
    mods = tmp_path / "mods.json"
    mods.write_text(json.dumps(real["modules"]))
    floor = bench._spawn(["floor", str(real["registrations"]), str(mods)])
    assert floor["registrations"] == real["registrations"]


def test_the_deploy_report_walks_the_dev_graph() -> None:
    text = "\n".join(bench.deploy_report(stack_config("dev")))
    assert "critical path" in text
    assert "Cluster agent-sandbox-cluster-gke" in text  # every path starts at the cluster
    assert "Waits for the sandbox node pool" in text


def test_linearity_rows_compare_time_per_added_registration() -> None:
    rows = [
        {"stack": "a", "registrations": 10, "real": 1.0, "floor": 0.5},
        {"stack": "b", "registrations": 110, "real": 2.0, "floor": 0.6},
    ]
    (line,) = bench.linearity(rows)
    assert "+100" in line and "10.00 ms" in line and "1.00 ms" in line and "10.00×" in line
