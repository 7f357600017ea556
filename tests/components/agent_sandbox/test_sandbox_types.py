"""The typed Sandbox / SandboxTemplate / SandboxWarmPool resources, as another Pulumi program
would use them: checked arguments, the type tokens the policy pack matches on, and camelCase
objects that the real upstream CRD schemas accept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from components.agent_sandbox.sandbox_types import (
    Sandbox,
    SandboxArgs,
    SandboxNetworkPolicyArgs,
    SandboxTemplate,
    SandboxTemplateArgs,
    SandboxWarmPool,
    SandboxWarmPoolArgs,
)
from offline.engine import Plan, Registration, evaluate
from offline.manifests import to_manifest
from offline.validate import validate_manifest

core, meta, net = k8s.core.v1, k8s.meta.v1, k8s.networking.v1

# DESIGN §3 Pulumi: custom resource type tokens are kubernetes:<apiVersion>:<kind>.
SANDBOX = "kubernetes:agents.x-k8s.io/v1beta1:Sandbox"
TEMPLATE = "kubernetes:extensions.agents.x-k8s.io/v1beta1:SandboxTemplate"
WARM_POOL = "kubernetes:extensions.agents.x-k8s.io/v1beta1:SandboxWarmPool"


def pod(**spec: Any) -> core.PodTemplateSpecArgs:
    container = core.ContainerArgs(
        name="main",
        image="busybox",
        ports=[core.ContainerPortArgs(container_port=8888)],
        resources=core.ResourceRequirementsArgs(
            requests={"cpu": "250m", "memory": "512Mi"}, limits={"cpu": "1", "memory": "1Gi"}
        ),
        security_context=core.SecurityContextArgs(
            allow_privilege_escalation=False,
            capabilities=core.CapabilitiesArgs(drop=["ALL"]),
        ),
    )
    return core.PodTemplateSpecArgs(
        metadata=meta.ObjectMetaArgs(labels={"app": "demo"}),
        spec=core.PodSpecArgs(containers=[container], **spec),
    )


def claim(name: str = "workspace", size: str = "1Gi") -> core.PersistentVolumeClaimArgs:
    return core.PersistentVolumeClaimArgs(
        metadata=meta.ObjectMetaArgs(name=name),
        spec=core.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteOnce"],
            storage_class_name="standard-rwo",
            resources=core.VolumeResourceRequirementsArgs(requests={"storage": size}),
        ),
    )


def full_sandbox(**overrides: Any) -> SandboxArgs:
    args: dict[str, Any] = dict(
        name="demo",
        namespace="sandboxes",
        runtime_class_name="kata-qemu",
        pod_template=pod(),
        volume_claim_templates=[claim()],
        service=True,
        labels={"team": "a"},
        annotations={"note": "x"},
        operating_mode="Running",
        shutdown_time="2030-01-01T00:00:00Z",
        shutdown_policy="Delete",
    )
    args.update(overrides)
    return SandboxArgs(**args)


def full_template(**overrides: Any) -> SandboxTemplateArgs:
    args: dict[str, Any] = dict(
        name="demo-template",
        namespace="sandboxes",
        runtime_class_name="kata-clh",
        pod_template=pod(),
        volume_claim_templates=[claim()],
        service=True,
        network_policy=SandboxNetworkPolicyArgs(
            ingress=[
                net.NetworkPolicyIngressRuleArgs(
                    from_=[
                        net.NetworkPolicyPeerArgs(
                            pod_selector=meta.LabelSelectorArgs(match_labels={"app": "r"})
                        )
                    ],
                    ports=[net.NetworkPolicyPortArgs(protocol="TCP", port=8888)],
                )
            ],
            egress=[
                net.NetworkPolicyEgressRuleArgs(
                    to=[
                        net.NetworkPolicyPeerArgs(
                            ip_block=net.IPBlockArgs(cidr="0.0.0.0/0", except_=["10.0.0.0/8"])
                        )
                    ]
                )
            ],
        ),
        network_policy_management="Managed",
        env_vars_injection_policy="Allowed",
        volume_claim_templates_policy="Overrides",
    )
    args.update(overrides)
    return SandboxTemplateArgs(**args)


def register(build: Any) -> Plan:
    plan = evaluate({}, stack="types", program=build)
    assert plan.error is None, plan.error
    return plan


@pytest.fixture(scope="module")
def full_plan() -> Plan:
    def build() -> None:
        template = SandboxTemplate("t", full_template())
        SandboxWarmPool(
            "p",
            SandboxWarmPoolArgs(
                name="demo-pool",
                namespace="sandboxes",
                template=template,
                replicas=3,
                update_strategy="Recreate",
                labels={"team": "a"},
            ),
        )
        Sandbox("s", full_sandbox())
        Sandbox("suspended", full_sandbox(name="paused", operating_mode="Suspended"))

    return register(build)


def crd_spec_fields(upstream: Path, file: str) -> set[str]:
    doc = yaml.safe_load((upstream / "agent-sandbox" / "crds" / file).read_text())
    (version,) = [v for v in doc["spec"]["versions"] if v["name"] == "v1beta1"]
    return set(version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"])


# ---------------------------------------------------------------------------------------------
# registration and schema
# ---------------------------------------------------------------------------------------------
def test_type_tokens_are_what_the_policy_pack_matches_on(full_plan: Plan) -> None:
    assert sorted(r.name for r in full_plan.by_type(SANDBOX)) == ["s", "suspended"]
    assert [r.name for r in full_plan.by_type(TEMPLATE)] == ["t"]
    assert [r.name for r in full_plan.by_type(WARM_POOL)] == ["p"]


def test_every_object_validates_against_the_upstream_crd(full_plan: Plan, upstream: Path) -> None:
    regs = [
        *full_plan.by_type(SANDBOX),
        *full_plan.by_type(TEMPLATE),
        *full_plan.by_type(WARM_POOL),
    ]
    assert len(regs) == 4
    for reg in regs:
        assert validate_manifest(to_manifest(reg)) == [], reg.name


@pytest.mark.parametrize(
    ("type_", "name", "crd"),
    [
        (SANDBOX, "s", "agents.x-k8s.io_sandboxes.yaml"),
        (TEMPLATE, "t", "extensions.agents.x-k8s.io_sandboxtemplates.yaml"),
        (WARM_POOL, "p", "extensions.agents.x-k8s.io_sandboxwarmpools.yaml"),
    ],
)
def test_the_args_cover_the_whole_v1beta1_spec(
    full_plan: Plan, upstream: Path, type_: str, name: str, crd: str
) -> None:
    # Every spec field of the CRD can be set through the typed args, under its camelCase name.
    spec = full_plan.one(type_, name).inputs["spec"]
    assert set(spec) == crd_spec_fields(upstream, crd)


def test_pod_template_serializes_camel_case(full_plan: Plan) -> None:
    spec = full_plan.one(SANDBOX, "s").inputs["spec"]
    pod_spec = spec["podTemplate"]["spec"]
    assert pod_spec["runtimeClassName"] == "kata-qemu"
    container = pod_spec["containers"][0]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["ports"] == [{"containerPort": 8888}]
    assert spec["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "standard-rwo"
    assert spec["shutdownTime"] == "2030-01-01T00:00:00Z"
    egress = full_plan.one(TEMPLATE, "t").inputs["spec"]["networkPolicy"]["egress"]
    # `except_` in Python is `except` on the wire.
    assert egress[0]["to"][0]["ipBlock"] == {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}


def test_a_running_sandbox_waits_for_ready_a_suspended_one_does_not(full_plan: Plan) -> None:
    running = full_plan.one(SANDBOX, "s").inputs["metadata"]["annotations"]
    assert running["pulumi.com/waitFor"] == "condition=Ready"
    assert running["note"] == "x"  # the caller's annotations are kept
    suspended = full_plan.one(SANDBOX, "suspended").inputs["metadata"]
    assert "pulumi.com/waitFor" not in (suspended.get("annotations") or {})
    # Templates and pools have no Ready condition to wait for.
    for type_ in (TEMPLATE, WARM_POOL):
        reg = full_plan.by_type(type_)[0]
        assert "pulumi.com/waitFor" not in (reg.inputs["metadata"].get("annotations") or {})


def test_warm_pool_references_and_waits_for_its_template(full_plan: Plan) -> None:
    pool = full_plan.one(WARM_POOL, "p")
    template = full_plan.one(TEMPLATE, "t")
    assert pool.inputs["spec"]["sandboxTemplateRef"] == {"name": "demo-template"}
    assert pool.inputs["spec"]["replicas"] == 3
    assert pool.inputs["spec"]["updateStrategy"] == {"type": "Recreate"}
    assert template.urn in pool.dependencies


def test_objects_carry_their_fixed_names(full_plan: Plan) -> None:
    # SDK clients address sandboxes, templates and pools by name: no auto-naming.
    names = {r.name: r.inputs["metadata"]["name"] for r in full_plan.registrations if r.custom}
    assert names == {"s": "demo", "suspended": "paused", "t": "demo-template", "p": "demo-pool"}


def test_unset_optional_fields_are_left_to_the_crd_defaults() -> None:
    def build() -> None:
        Sandbox("min", SandboxArgs(name="m", runtime_class_name="gvisor", pod_template=pod()))

    reg: Registration = register(build).one(SANDBOX)
    assert set(reg.inputs["spec"]) == {"podTemplate"}
    assert "namespace" not in reg.inputs["metadata"]


def test_the_callers_pod_template_is_not_modified() -> None:
    tpl = pod()
    SandboxArgs(name="a", runtime_class_name="kata-qemu", pod_template=tpl).rendered_pod_template()
    assert tpl.spec is not None and tpl.spec.runtime_class_name is None


# ---------------------------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------------------------
def test_runtime_class_is_required() -> None:
    with pytest.raises(TypeError, match="runtime_class_name"):
        SandboxArgs(name="a", pod_template=pod())  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="runtime_class_name"):
        SandboxTemplateArgs(name="a", pod_template=pod())  # type: ignore[call-arg]


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_runtime_class_is_rejected(blank: str) -> None:
    with pytest.raises(ValueError, match="blank"):
        SandboxArgs(name="a", runtime_class_name=blank, pod_template=pod())


def test_runtime_class_must_be_a_plain_string() -> None:
    # A policy reading an unknown Output during preview cannot run (DESIGN §3 Pulumi).
    with pytest.raises(TypeError, match="plain str"):
        SandboxArgs(
            name="a",
            runtime_class_name=pulumi.Output.from_input("kata-qemu"),  # type: ignore[arg-type]
            pod_template=pod(),
        )


def test_a_contradicting_runtime_class_in_the_pod_spec_is_rejected() -> None:
    with pytest.raises(ValueError, match="contradicts"):
        SandboxArgs(
            name="a", runtime_class_name="kata-qemu", pod_template=pod(runtime_class_name="runc")
        )
    # The same class twice is fine.
    SandboxArgs(
        name="a", runtime_class_name="kata-qemu", pod_template=pod(runtime_class_name="kata-qemu")
    )


def test_pod_spec_must_be_typed() -> None:
    with pytest.raises(TypeError, match="PodSpecArgs"):
        SandboxArgs(
            name="a",
            runtime_class_name="kata-qemu",
            pod_template=core.PodTemplateSpecArgs(spec={"containers": []}),  # type: ignore[arg-type]
        )
    with pytest.raises(TypeError, match="PodTemplateSpecArgs"):
        SandboxArgs(name="a", runtime_class_name="kata-qemu", pod_template={})  # type: ignore[arg-type]


def test_a_pod_without_containers_is_rejected() -> None:
    with pytest.raises(ValueError, match="containers"):
        SandboxArgs(
            name="a",
            runtime_class_name="kata-qemu",
            pod_template=core.PodTemplateSpecArgs(spec=core.PodSpecArgs(containers=[])),
        )


@pytest.mark.parametrize("name", ["Demo", "demo_box", "-demo", "a" * 64, ""])
def test_names_must_be_dns_1123_labels(name: str) -> None:
    with pytest.raises(ValueError, match="DNS-1123"):
        SandboxArgs(name=name, runtime_class_name="kata-qemu", pod_template=pod())
    with pytest.raises(ValueError, match="DNS-1123"):
        SandboxWarmPoolArgs(name=name, template="t")
    with pytest.raises(ValueError, match="DNS-1123"):
        SandboxWarmPoolArgs(name="p", template=name)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("operating_mode", "Paused"),
        ("shutdown_policy", "Forget"),
        ("shutdown_time", "tomorrow"),
        ("shutdown_time", "2030-01-01T00:00:00"),  # RFC 3339 needs a zone
        ("shutdown_time", "2030-13-01T00:00:00Z"),
    ],
)
def test_sandbox_enums_and_times_are_checked(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=field):
        full_sandbox(**{field: value})


@pytest.mark.parametrize(
    "field",
    ["network_policy_management", "env_vars_injection_policy", "volume_claim_templates_policy"],
)
def test_template_enums_are_checked(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        full_template(**{field: "Sometimes"})


def test_unmanaged_template_with_rules_is_rejected() -> None:
    # The controller would silently ignore the rules.
    with pytest.raises(ValueError, match="Unmanaged"):
        full_template(network_policy_management="Unmanaged")


@pytest.mark.parametrize(
    ("replicas", "error"), [(-1, ValueError), (True, TypeError), (1.5, TypeError)]
)
def test_warm_pool_replicas_are_checked(replicas: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="replicas"):
        SandboxWarmPoolArgs(name="p", template="t", replicas=replicas)


def test_warm_pool_update_strategy_is_checked() -> None:
    with pytest.raises(ValueError, match="update_strategy"):
        SandboxWarmPoolArgs(name="p", template="t", update_strategy="Rolling")  # type: ignore[arg-type]
