"""The local stack (minikube/kind by kubeconfig context) keeps the isolation it claims: the
sandboxes' NetworkPolicies need a CNI that enforces them (issue 13, point 11)."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT

from offline.engine import Plan

# minikube's flags (minikube.sigs.k8s.io/docs/commands/start): --driver replaced the deprecated
# --vm-driver; --cni picks the CNI, and only these of its choices enforce NetworkPolicy.
ENFORCING_CNIS = ("calico", "cilium")


@pytest.mark.parametrize("doc", ["README.md", "Pulumi.local.yaml"])
def test_every_minikube_command_starts_a_cni_that_enforces_network_policy(doc: str) -> None:
    commands = re.findall(r"minikube start[^\n`]*", (ROOT / doc).read_text())
    assert commands, f"{doc} shows how to start minikube"
    for command in commands:
        assert "--vm-driver" not in command, command
        cni = re.search(r"--cni[ =](\S+)", command)
        assert cni and cni.group(1) in ENFORCING_CNIS, command


def test_the_local_preview_warns_that_isolation_depends_on_the_cni(local_plan: Plan) -> None:
    (warning,) = [w for w in local_plan.warnings if "NetworkPolic" in w and "CNI" in w]
    assert "minikube" in warning and "--cni calico" in warning


def test_a_gke_stack_does_not_warn_about_the_cni(dev_plan: Plan) -> None:
    # Clusters this stack creates run Dataplane V2, which enforces NetworkPolicy.
    assert not [w for w in dev_plan.warnings if "CNI" in w]
