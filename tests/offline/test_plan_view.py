"""What the reviewer sees: per-type properties, secrets never in clear, the sections of the
preview, and the JSON form for other tools."""

from __future__ import annotations

import json
from typing import Any

import yaml
from conftest import ROOT

from components import constants as c
from offline.engine import Plan, Registration
from offline.plan_view import (
    JSON_KEYS,
    RESOURCE_KEYS,
    SECRET,
    plan_json,
    properties,
    redact,
    render,
    render_capacity,
    render_outputs,
    secret_values,
)

MOCK_PASSWORD = "mock-random-password-value"  # what offline.engine's mocks return for passwords


def reg(type_: str, inputs: dict[str, Any], secret_paths: tuple[str, ...] = ()) -> Registration:
    return Registration(
        urn=f"urn:{type_}",
        type=type_,
        name="r",
        custom=True,
        parent="",
        provider="",
        dependencies=[],
        inputs=inputs,
        secret_paths=list(secret_paths),
        options={},
    )


def test_redact_replaces_exactly_the_secret_paths() -> None:
    value = {
        "stringData": {"token": "t0p", "user": "bob"},
        "metadata": {"annotations": {"a.b/c": "hash"}},
        "list": ["x", {"k": "v"}],
    }
    out = redact(value, {"stringData.token", "metadata.annotations.a.b/c", "list[1]"})
    assert out == {
        "stringData": {"token": SECRET, "user": "bob"},
        "metadata": {"annotations": {"a.b/c": SECRET}},
        "list": ["x", {"k": SECRET}],
    }
    assert value["stringData"]["token"] == "t0p"  # the plan itself is untouched


def test_a_secret_object_keeps_its_keys_but_no_values() -> None:
    assert redact({"data": {"a": "1", "b": "2"}}, ["data"]) == {"data": {"a": SECRET, "b": SECRET}}


def test_node_pool_properties_show_what_makes_kata_work() -> None:
    pool = reg(
        "gcp:container/nodePool:NodePool",
        {
            "nodeConfig": {
                "machineType": "n2-standard-8",
                "imageType": "UBUNTU_CONTAINERD",
                "advancedMachineFeatures": {
                    "threadsPerCore": 2,
                    "enableNestedVirtualization": True,
                },
                "taints": [{"key": "k", "value": "v", "effect": "NO_SCHEDULE"}],
                "spot": True,
            },
            "autoscaling": {"totalMinNodeCount": 1, "totalMaxNodeCount": 5},
            "maxPodsPerNode": 32,
        },
    )
    props = dict(properties(pool))
    assert props["machineType"] == "n2-standard-8"
    assert props["nestedVirtualization"] == "true (threadsPerCore 2)"
    assert props["imageType"] == "UBUNTU_CONTAINERD"
    assert props["taints"] == "k=v:NO_SCHEDULE"
    assert props["autoscaling"] == "1-5 nodes (total)"
    assert props["spot"] == "true"
    assert props["maxPodsPerNode"] == "32"


def test_workload_properties_flag_unpinned_images_and_show_runtime_class() -> None:
    digest = "repo/app@sha256:" + "a" * 64
    ds = reg(
        "kubernetes:apps/v1:DaemonSet",
        {
            "metadata": {"namespace": "kube-system"},
            "spec": {
                "template": {
                    "spec": {
                        "runtimeClassName": "kata-qemu",
                        "containers": [
                            {"name": "a", "image": "repo/app:1.0"},
                            {"name": "b", "image": digest},
                        ],
                    }
                }
            },
        },
    )
    props = dict(properties(ds))
    assert props["runtimeClassName"] == "kata-qemu"
    assert "repo/app:1.0 (tag, not pinned by digest)" in props["images"]
    assert f"{digest} (pinned)" in props["images"]


def test_retain_on_delete_and_wait_for_are_shown() -> None:
    crd = reg(
        "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
        {"metadata": {"annotations": {c.WAIT_FOR_ANNOTATION: c.WAIT_FOR_READY}}},
    )
    crd.options = {"retainOnDelete": True}
    props = dict(properties(crd))
    assert "retainOnDelete" in props["options"]
    assert props["waitFor"] == c.WAIT_FOR_READY


def test_secret_inputs_never_reach_the_properties() -> None:
    secret = reg(
        "kubernetes:core/v1:Secret", {"stringData": {"token": "hunter2-long"}}, ("stringData",)
    )
    text = json.dumps(properties(secret))
    assert "hunter2-long" not in text
    assert "token" in text  # the key is shown, so the reviewer knows what the Secret holds


def test_secret_values_lists_the_clear_text_secrets_of_a_plan() -> None:
    plan = Plan(
        "t",
        [reg("kubernetes:core/v1:Secret", {"data": {"k": "a-long-secret"}}, ("data",))],
        outputs={"token": "output-secret-1", "name": "public-name"},
        secret_outputs={"token"},
    )
    assert secret_values(plan) == {"a-long-secret", "output-secret-1"}


def test_secret_outputs_are_masked() -> None:
    plan = Plan("t", outputs={"url": "http://x", "token": "s3cret-token"}, secret_outputs={"token"})
    text = "\n".join(render_outputs(plan))
    assert "s3cret-token" not in text
    assert f"token: {SECRET}" in text and "url: http://x" in text


def test_capacity_section_reports_the_plan(dev_plan: Plan) -> None:
    cap = dev_plan.outputs["capacity"]
    text = "\n".join(render_capacity(dev_plan))
    assert cap["machine_type"] in text
    assert f"{cap['sandboxes_per_node']} sandboxes" in text
    assert f"= {cap['pool_capacity']} sandboxes" in text


def test_dev_preview_shows_the_facts_a_reviewer_checks(dev_plan: Plan) -> None:
    text = render(dev_plan)
    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    pool = stack[f"{c.PROJECT}:nodePool"]
    assert f"machineType: {pool['machineType']}" in text
    assert f"nestedVirtualization: true (threadsPerCore {pool['threadsPerCore']})" in text
    assert "imageType: UBUNTU_CONTAINERD" in text  # DESIGN §3: Kata needs Ubuntu
    assert "gatewayApi: CHANNEL_STANDARD" in text
    for rc in dev_plan.outputs["runtimeClasses"]:
        assert f"handler: {rc}" in text  # RuntimeClass name == handler (DESIGN §3 Kata)
    for section in ("Capacity plan", "Dependency order", "Warnings", "Stack outputs"):
        assert section in text
    for warning in dev_plan.warnings:
        assert warning in text
    for leaked in secret_values(dev_plan) | {MOCK_PASSWORD}:
        assert leaked not in text


def test_plan_json_has_the_documented_keys_and_no_secret(dev_plan: Plan) -> None:
    doc = plan_json(dev_plan)
    assert tuple(doc) == JSON_KEYS
    assert len(doc["resources"]) == len(dev_plan.registrations)
    for resource in doc["resources"]:
        assert tuple(resource) == RESOURCE_KEYS
    text = json.dumps(doc)
    for leaked in secret_values(dev_plan) | {MOCK_PASSWORD}:
        assert leaked not in text
    assert doc["outputs"]["kubeconfig"] == SECRET
