"""Shared test helpers: stack configs with settings patched in, evaluated under the mock engine."""

from __future__ import annotations

import copy
from typing import Any

from offline.engine import Plan, evaluate, stack_config

NS = "agent-sandbox-platform"


def merge(base: Any, patch: Any) -> Any:
    """Deep-merge ``patch`` into ``base``; a ``None`` in the patch removes the key."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = merge(out.get(key), value)
        return out
    return copy.deepcopy(patch)


def config(stack: str = "dev", **sections: Any) -> dict[str, Any]:
    """The stack's config with ``section=patch`` deep-merged (camelCase section names)."""
    cfg = copy.deepcopy(stack_config(stack))
    for section, patch in sections.items():
        key = f"{NS}:{section}"
        if patch is None:
            cfg.pop(key, None)
        else:
            cfg[key] = merge(cfg.get(key), patch)
    return cfg


def run(
    stack: str = "dev", gke_clusters: dict[str, dict[str, Any]] | None = None, **sections: Any
) -> Plan:
    return evaluate(config(stack, **sections), stack=stack, gke_clusters=gke_clusters)


# What getCluster answers for an adopted GKE cluster that has everything the platform checks
# (components/composition/preflight.py); offline/engine.py answers an undescribed cluster with
# none of it.
ADOPTABLE_CLUSTER = {
    "workloadIdentityConfigs": [{"workloadPool": "my-gcp-project.svc.id.goog"}],
    "networkingMode": "VPC_NATIVE",
    "gatewayApiConfigs": [{"channel": "CHANNEL_STANDARD"}],
    "datapathProvider": "ADVANCED_DATAPATH",
    "networkPolicies": [],
}


def adoptable(name: str = "agent-sandbox-dev") -> dict[str, dict[str, Any]]:
    """``gke_clusters`` for ``run``: the dev stack's cluster, ready to adopt."""
    return {name: dict(ADOPTABLE_CLUSTER)}


def refused(*expected: str, stack: str = "dev", **sections: Any) -> str:
    """The stack with ``sections`` patched in is refused before anything registers, with a
    message that contains each of ``expected``; returns the message."""
    plan = run(stack, **sections)
    assert plan.error is not None, "expected a settings error"
    assert plan.registrations == [], "a bad setting must register nothing"
    for text in expected:
        assert text in plan.error, plan.error
    return plan.error
