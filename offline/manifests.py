"""Registered Kubernetes resources -> kubectl-appliable manifests, in apply order."""

from __future__ import annotations

import copy
from typing import Any

from .engine import Plan, Registration

# Cluster-wide foundations first, then what lives in namespaces, custom resources last.
_ORDER = {
    "Namespace": 0,
    "CustomResourceDefinition": 1,
    "PriorityClass": 2,
    "RuntimeClass": 2,
    "ServiceAccount": 3,
    "ClusterRole": 3,
    "Role": 3,
    "ClusterRoleBinding": 4,
    "RoleBinding": 4,
    "ResourceQuota": 4,
    "LimitRange": 4,
    "Secret": 5,
    "ConfigMap": 5,
    "ValidatingAdmissionPolicy": 5,
    "ValidatingAdmissionPolicyBinding": 6,
    "NetworkPolicy": 6,
    "Service": 7,
    "DaemonSet": 8,
    "Deployment": 8,
    "StatefulSet": 8,
    "PodDisruptionBudget": 9,
}
CUSTOM_RESOURCE_RANK = 10


def api_version_of(type_token: str) -> str:
    """``kubernetes:core/v1:Service`` -> ``v1``; ``kubernetes:apps/v1:Job`` -> ``apps/v1``."""
    api = type_token.split(":")[1]
    return api.removeprefix("core/")


def kind_of(type_token: str) -> str:
    return type_token.split(":")[2]


def to_manifest(reg: Registration) -> dict[str, Any]:
    """The object as the provider would send it to the API server (minus server defaults)."""
    inputs = copy.deepcopy(reg.inputs)
    manifest: dict[str, Any] = {
        "apiVersion": inputs.pop("apiVersion", api_version_of(reg.type)),
        "kind": inputs.pop("kind", kind_of(reg.type)),
    }
    metadata = inputs.pop("metadata", {}) or {}
    metadata.setdefault("name", reg.name)  # Pulumi auto-names; the logical name stands in
    manifest["metadata"] = metadata
    manifest.update(inputs)
    return manifest


def rank(manifest: dict[str, Any]) -> int:
    return _ORDER.get(manifest["kind"], CUSTOM_RESOURCE_RANK)


def manifests(plan: Plan) -> list[tuple[Registration, dict[str, Any]]]:
    """Every Kubernetes object of the plan, in apply order (stable within a rank)."""
    pairs = [(r, to_manifest(r)) for r in plan.kubernetes()]
    return sorted(pairs, key=lambda p: rank(p[1]))


def component_of(plan: Plan, reg: Registration) -> str:
    """The name of the nearest component that is a direct child of the platform (or the root)."""
    by_urn = plan.by_urn()
    chain = []
    parent = reg.parent
    while parent in by_urn:
        chain.append(by_urn[parent])
        parent = by_urn[parent].parent
    components = [r for r in chain if not r.custom]
    if len(components) >= 2:
        return components[-2].name
    return components[-1].name if components else "stack"
