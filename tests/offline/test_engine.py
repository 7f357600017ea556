"""The mock-engine harness records what the engine would receive: parents, dependencies,
providers, options, secrets, warnings, outputs — and turns settings errors into Plan.error."""

from __future__ import annotations

import re
from pathlib import Path

import pulumi
import pytest
import yaml
from conftest import ROOT
from helpers import config

from offline.engine import Plan, evaluate, stack_config

THING = "test:index:Thing"


def _plan(program: object) -> Plan:
    plan = evaluate({}, stack="unit", program=program)  # type: ignore[arg-type]
    assert plan.error is None, plan.error
    return plan


def test_parent_and_component_are_recorded() -> None:
    def program() -> None:
        comp = pulumi.ComponentResource("test:index:Comp", "comp")
        pulumi.CustomResource(THING, "child", {}, pulumi.ResourceOptions(parent=comp))

    plan = _plan(program)
    comp, child = plan.one("test:index:Comp"), plan.one(THING, "child")
    assert not comp.custom and child.custom
    assert child.parent == comp.urn


def test_explicit_and_output_dependencies_are_recorded() -> None:
    def program() -> None:
        a = pulumi.CustomResource(THING, "a", {"x": "1"})
        b = pulumi.CustomResource(THING, "b", {}, pulumi.ResourceOptions(depends_on=[a]))
        pulumi.CustomResource(THING, "c", {"fromB": b.id})

    plan = _plan(program)
    a, b, c = (plan.one(THING, n) for n in ("a", "b", "c"))
    assert a.urn in b.dependencies
    assert b.urn in c.dependencies
    assert a.dependencies == []


def test_resource_options_are_recorded() -> None:
    def program() -> None:
        pulumi.CustomResource(
            THING,
            "opts",
            {},
            pulumi.ResourceOptions(
                retain_on_delete=True,
                delete_before_replace=True,
                replace_on_changes=["spec.x"],
                ignore_changes=["spec.y"],
                protect=True,
            ),
        )

    o = _plan(program).one(THING).options
    assert o["retainOnDelete"] and o["deleteBeforeReplace"] and o["protect"]
    assert o["replaceOnChanges"] == ["spec.x"]
    assert o["ignoreChanges"] == ["spec.y"]


def test_secrets_are_unwrapped_and_their_paths_remembered() -> None:
    def program() -> None:
        pulumi.CustomResource(
            THING,
            "s",
            {
                "plain": "p",
                "data": {"token": pulumi.Output.secret("s3cr3t")},
                "whole": (pulumi.Output.secret({"k": "v"})),
            },
        )

    reg = _plan(program).one(THING)
    assert reg.inputs["data"]["token"] == "s3cr3t"
    assert reg.inputs["whole"] == {"k": "v"}
    assert set(reg.secret_paths) == {"data.token", "whole"}


def test_numbers_come_back_as_python_ints() -> None:
    # The engine's protobuf Struct carries every number as a double (DESIGN §4.1).
    reg = _plan(lambda: pulumi.CustomResource(THING, "n", {"replicas": 3, "ratio": 0.5})).one(THING)
    assert reg.inputs["replicas"] == 3 and isinstance(reg.inputs["replicas"], int)
    assert reg.inputs["ratio"] == 0.5


def test_warnings_and_stack_outputs_are_captured() -> None:
    def program() -> None:
        pulumi.log.warn("look here")
        pulumi.export("answer", 42)
        pulumi.export("token", pulumi.Output.secret("hidden"))

    plan = _plan(program)
    assert plan.warnings == ["look here"]
    assert plan.outputs == {"answer": 42, "token": "hidden"}
    assert plan.secret_outputs == {"token"}


def test_outputs_do_not_leak_from_one_evaluation_into_the_next() -> None:
    _plan(lambda: pulumi.export("first", 1))
    assert _plan(lambda: None).outputs == {}


def test_a_run_error_becomes_plan_error_not_an_exception() -> None:
    def program() -> None:
        raise pulumi.RunError("invalid stack settings:\n  - x: wrong")

    plan = evaluate({}, stack="unit", program=program)
    assert plan.error is not None and "x: wrong" in plan.error
    assert plan.registrations == []


def test_a_bad_setting_in_the_real_program_registers_nothing() -> None:
    # DESIGN §5: every bad setting is rejected before any resource is registered.
    plan = evaluate(config(nodePool={"machineType": "e2-standard-8"}), stack="dev")
    assert plan.error is not None and "nodePool.machineType" in plan.error
    assert plan.registrations == []


def test_stack_config_layers_project_values_under_the_stack_file() -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    merged = stack_config("dev")
    for key, value in stack.items():
        assert merged[key] == value
    for key, spec in project.items():
        full = key if ":" in key else f"agent-sandbox-platform:{key}"
        if full not in stack and ("value" in spec or "default" in spec):
            assert merged[full] == spec.get("value", spec.get("default"))
    # Project-level typed defaults reach the program like stack values.
    assert merged["agent-sandbox-platform:production"] is False


def test_stack_config_refuses_a_stack_without_a_file(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: x\n")
    with pytest.raises(FileNotFoundError, match=r"Pulumi\.nope\.yaml"):
        stack_config("nope", tmp_path)


def test_project_typed_defaults_apply_when_the_stack_is_silent(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text(
        "name: agent-sandbox-platform\nconfig:\n  production: {type: boolean, default: false}\n"
        "  role: {type: string}\n"
    )
    (tmp_path / "Pulumi.s.yaml").write_text("config:\n  agent-sandbox-platform:role: tenant\n")
    merged = stack_config("s", tmp_path)
    assert merged == {
        "agent-sandbox-platform:production": False,
        "agent-sandbox-platform:role": "tenant",
    }


# --- GCP provider behaviours (offline/engine.py, GCP_AUTONAMED_TYPES and below) --------------
NODE_POOL = "gcp:container/nodePool:NodePool"
GKE = "gcp:container/cluster:Cluster"


def _evaluate_raw(program: object) -> Plan:
    return evaluate({}, stack="unit", program=program)  # type: ignore[arg-type]


def test_gcp_name_is_autonamed_from_the_logical_name_like_pulumi_gcp() -> None:
    import pulumi_gcp as gcp

    def program() -> None:
        gcp.container.NodePool("sandbox-pool", cluster="c", location="us-central1")
        gcp.container.NodePool("named", name="exact", cluster="c", location="us-central1")

    plan = _plan(program)
    auto = plan.one(NODE_POOL, "sandbox-pool").outputs["name"]
    # <logical name>-<7 hex>, as the bridge's AutoName (Randlen 7, separator "-") makes it.
    assert re.fullmatch(r"sandbox-pool-[0-9a-f]{7}", auto)
    assert plan.one(NODE_POOL, "named").outputs["name"] == "exact"


def test_node_pool_name_prefix_is_rejected_as_terraform_would() -> None:
    import pulumi_gcp as gcp

    def program() -> None:
        gcp.container.NodePool("p", name_prefix="sandbox-", cluster="c", location="us-central1")

    with pytest.raises(Exception, match="Cannot specify both name and name_prefix"):
        _evaluate_raw(program)


def test_node_pool_name_longer_than_gke_allows_is_rejected() -> None:
    import pulumi_gcp as gcp

    def program() -> None:
        gcp.container.NodePool("x" * 33, cluster="c", location="us-central1")

    with pytest.raises(Exception, match="40 characters"):
        _evaluate_raw(program)


def test_node_pool_without_a_count_starts_with_zero_nodes() -> None:
    import pulumi_gcp as gcp

    def program() -> None:
        gcp.container.NodePool("empty", cluster="c", location="us-central1")
        gcp.container.NodePool("two", cluster="c", location="us-central1", initial_node_count=2)

    plan = _plan(program)
    assert plan.one(NODE_POOL, "empty").outputs["initialNodeCount"] == 0
    assert plan.one(NODE_POOL, "two").outputs["initialNodeCount"] == 2


def test_node_pool_with_both_counts_is_rejected() -> None:
    import pulumi_gcp as gcp

    def program() -> None:
        gcp.container.NodePool("p", cluster="c", location="l", initial_node_count=1, node_count=1)

    with pytest.raises(Exception, match="Cannot set both initial_node_count and node_count"):
        _evaluate_raw(program)


def test_cluster_id_is_the_path_terraform_sets_not_unique_per_instance() -> None:
    import pulumi_gcp as gcp

    def program() -> None:
        cluster = gcp.container.Cluster("c", name="prod", project="p", location="us-central1")
        pulumi.export("id", cluster.id)

    plan = _plan(program)
    assert plan.outputs["id"] == "projects/p/locations/us-central1/clusters/prod"
