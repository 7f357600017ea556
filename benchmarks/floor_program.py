"""The Pulumi SDK's own floor (DESIGN §5): import the SDK modules the real program loads, then
register N trivial resources — nothing of ours (no settings, no components, no typed Args)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

SDK_PACKAGES = ("pulumi", "pulumi_kubernetes", "pulumi_gcp", "pulumi_random")
FLOOR_TYPE = "floor:index:Resource"


def loaded_sdk_modules() -> list[str]:
    """SDK modules this process has really executed (lazy placeholders never touched are not)."""
    return sorted(
        name
        for name, mod in list(sys.modules.items())
        if name.split(".")[0] in SDK_PACKAGES and type(mod).__name__ != "_LazyModule"
    )


def import_modules(names: Iterable[str]) -> None:
    for name in sorted(names):  # parents before children
        module = importlib.import_module(name)
        dir(module)  # a lazily imported SDK module only executes on first attribute access


def floor_program(
    count: int, modules: Iterable[str], resources: Sequence[Sequence[Any]] | None = None
) -> Callable[[], None]:
    """``count`` trivial resources; or, given ``resources`` as (type, name, inputs), the same
    resources with the same inputs as plain dicts (the SDK's cost for that much data)."""
    names = list(modules)

    def program() -> None:
        import_modules(names)
        import pulumi

        if resources is None:
            for i in range(count):
                pulumi.CustomResource(FLOOR_TYPE, f"r{i}", {})
        else:
            for type_, name, inputs in resources:
                pulumi.CustomResource(type_, name, inputs)

    return program
