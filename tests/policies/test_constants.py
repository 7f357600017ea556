"""The pack ships alone, so it keeps its own copy of the shared strings: prove each equals the
program's (components/constants.py, the settings defaults, the typed SDKs, upstream files)."""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from pathlib import Path

import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import pytest
import yaml

from components import constants as cc
from components.gke.machines import SUPPORTED_SERIES
from components.settings import RouterSettings, SandboxesSettings
from offline.engine import Plan
from policies import constants as pc

SAME_NAME = [
    "SANDBOX_TYPE",
    "SANDBOX_TEMPLATE_TYPE",
    "CONTROLLER_NAME",
    "CONTROLLER_IMAGE_REPOSITORY",
    "KATA_RUNTIME_CLASSES",
    "GVISOR_RUNTIME_CLASS",
    "ALLOWED_RUNTIME_CLASSES",
    "SANDBOX_POOL_LABEL",
    "SANDBOX_POOL_LABEL_VALUE",
    "SANDBOX_POOL_TAINT_KEY",
    "ROUTER_APP_LABEL",
    "ROUTER_SERVICE_NAME",
    "ROUTER_ENV_ALLOW_UNAUTHENTICATED",
    "ROUTER_ENV_AUTH_TOKEN",
    "ROUTER_ENV_PROXY_TIMEOUT",
    "ALLOW_PRIVILEGE_ESCALATION_ANNOTATION",
    "BASELINE_CAPABILITIES",
    "SAFE_SYSCTLS",
    "KATA_ANNOTATION_PREFIX",
]


@pytest.mark.parametrize("name", SAME_NAME)
def test_shared_strings_equal_the_programs(name: str) -> None:
    assert getattr(pc, name) == getattr(cc, name)


def test_the_pack_imports_nothing_from_the_program() -> None:
    # `pulumi policy publish` ships only policies/: an import of components would break there.
    for path in Path(pc.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names]
                )
                assert not any(n.split(".")[0] in ("components", "offline") for n in names), path


def test_default_sandbox_namespace_is_the_settings_default() -> None:
    assert (SandboxesSettings().namespace,) == pc.DEFAULT_SANDBOX_NAMESPACES
    assert pc.DEFAULT_SANDBOX_NAMESPACES == (cc.SANDBOXES_DEFAULT_NAMESPACE,)


def test_router_default_timeout_is_the_routers() -> None:
    assert RouterSettings().proxy_timeout_seconds == pc.ROUTER_DEFAULT_PROXY_TIMEOUT_SECONDS


def test_router_env_names_are_upstreams(upstream: Path) -> None:
    manifest = upstream / "agent-sandbox/examples/python-sandbox-router/sandbox_router.yaml"
    text = manifest.read_text()
    for name in (pc.ROUTER_ENV_ALLOW_UNAUTHENTICATED, pc.ROUTER_ENV_PROXY_TIMEOUT):
        assert f"name: {name}" in text


def test_gcp_default_backend_timeout_is_the_crds(upstream: Path) -> None:
    crd = yaml.safe_load(
        (
            upstream / "gke-gateway-policies/crds/networking.gke.io_gcpbackendpolicies.yaml"
        ).read_text()
    )
    timeout = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]["default"]["properties"]["timeoutSec"]
    assert f"default value ({pc.GCP_DEFAULT_BACKEND_TIMEOUT_SEC}s)" in timeout["description"]


def test_intel_series_are_the_programs() -> None:
    assert pc.NESTED_VIRTUALIZATION_SERIES == SUPPORTED_SERIES


def test_node_pool_type_and_image_are_what_the_program_registers(dev_plan: Plan) -> None:
    pool = dev_plan.one(pc.NODE_POOL_TYPE, "sandbox-pool-pool")
    assert pool.inputs["nodeConfig"]["imageType"] == pc.KATA_IMAGE_TYPE


def _type_tokens(cls: type) -> set[str]:
    """Type tokens named in a pulumi_kubernetes/pulumi_gcp resource class (its own, aliases)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.fullmatch(r"(kubernetes|gcp):[^:\s]+:[A-Za-z]+", node.value)
    }


@pytest.mark.parametrize(
    ("token", "cls"),
    [
        (pc.POD_TYPE, k8s.core.v1.Pod),
        ("kubernetes:apps/v1:Deployment", k8s.apps.v1.Deployment),
        ("kubernetes:apps/v1:StatefulSet", k8s.apps.v1.StatefulSet),
        ("kubernetes:apps/v1:DaemonSet", k8s.apps.v1.DaemonSet),
        ("kubernetes:apps/v1:ReplicaSet", k8s.apps.v1.ReplicaSet),
        ("kubernetes:core/v1:ReplicationController", k8s.core.v1.ReplicationController),
        ("kubernetes:batch/v1:Job", k8s.batch.v1.Job),
        ("kubernetes:batch/v1:CronJob", k8s.batch.v1.CronJob),
        (pc.NODE_POOL_TYPE, gcp.container.NodePool),
    ],
)
def test_type_tokens_are_the_sdks(token: str, cls: type) -> None:
    assert token in _type_tokens(cls)
    if token.startswith("kubernetes:"):
        assert token in pc.WORKLOAD_POD_SPEC_PATHS


def test_gateway_types_are_the_programs() -> None:
    assert (
        f"kubernetes:{cc.GKE_NETWORKING_API_VERSION}:{cc.KIND_GCP_BACKEND_POLICY}"
    ) == pc.GCP_BACKEND_POLICY_TYPE
    assert f"kubernetes:{cc.GATEWAY_API_VERSION}:{cc.KIND_HTTP_ROUTE}" == pc.HTTP_ROUTE_TYPE


def test_pack_name_is_a_valid_policy_pack_name() -> None:
    meta = yaml.safe_load((Path(pc.__file__).parent / "PulumiPolicy.yaml").read_text())
    assert meta["runtime"]["name"] == "python"
    assert pc.PACK_NAME.replace("-", "").isalnum()
