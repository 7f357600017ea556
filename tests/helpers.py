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


def run(stack: str = "dev", **sections: Any) -> Plan:
    return evaluate(config(stack, **sections), stack=stack)
