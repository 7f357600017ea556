"""Every committed stack evaluates, uses only the platform's Kubernetes provider, and renders
strictly valid manifests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import ROOT, STACKS, plan_for

from offline.manifests import manifests
from offline.validate import validate_manifest


def test_the_repo_has_the_stacks_the_readme_promises() -> None:
    assert {"dev", "local"} <= set(STACKS)


@pytest.mark.parametrize("stack", STACKS)
def test_stack_evaluates_without_settings_errors(stack: str) -> None:
    plan = plan_for(stack)
    assert plan.error is None, plan.error
    assert plan.registrations


@pytest.mark.parametrize("stack", STACKS)
def test_every_kubernetes_resource_uses_the_platform_provider(stack: str) -> None:
    plan = plan_for(stack)
    providers = {r.urn for r in plan.registrations if r.type == "pulumi:providers:kubernetes"}
    assert len(providers) == 1, providers
    (provider,) = providers
    k8s = plan.kubernetes()
    assert k8s, "every stack installs Kubernetes resources"
    for reg in k8s:
        # A provider reference is "<urn>::<id>".
        assert reg.provider.rsplit("::", 1)[0] == provider, (
            f"{reg.type} {reg.name} uses {reg.provider or 'the default provider'}"
        )


@pytest.mark.parametrize("stack", STACKS)
def test_every_manifest_is_strictly_valid(stack: str, upstream: Path) -> None:
    problems = {
        f"{m['kind']}/{m['metadata'].get('name')}": errs
        for _, m in manifests(plan_for(stack))
        if (errs := validate_manifest(m))
    }
    assert problems == {}


@pytest.mark.parametrize("path", [ROOT / "Pulumi.yaml", *sorted(ROOT.glob("Pulumi.*.yaml"))])
def test_default_kubernetes_provider_is_disabled(path: Path) -> None:
    cfg = (yaml.safe_load(path.read_text()) or {}).get("config", {})
    value = cfg["pulumi:disable-default-providers"]
    value = value["value"] if isinstance(value, dict) else value
    assert "kubernetes" in value


def test_typed_project_config_agrees_with_the_settings_models() -> None:
    from components.settings import PlatformSettings

    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    fields = PlatformSettings.model_fields
    assert declared["production"]["default"] is fields["production"].default
    assert set(declared["role"]["description"].replace("|", " ").split()) >= {
        "platform",
        "all-in-one",
        "tenant",
    }
    # role has no project default, so every stack names its role explicitly.
    for path in sorted(ROOT.glob("Pulumi.*.yaml")):
        assert "agent-sandbox-platform:role" in yaml.safe_load(path.read_text())["config"], path
