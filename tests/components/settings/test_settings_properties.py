"""Property tests built from the settings models (issue 15, families 2 and 3): every quantity
setting of the tree gets its kind's rules, every resources block refuses limits below requests,
and GKE's naming rule holds for the node pool whatever name is drawn."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_settings_messages import assert_clean, base_for, put

from components.settings import PlatformSettings, SettingsError, parse_settings
from components.settings.quantities import _bytes, _cpu
from components.settings.reference import walk


def _validated_by(func: Any) -> list[str]:
    return [
        leaf.path
        for leaf in walk(PlatformSettings)
        if func in {getattr(m, "func", None) for m in _metadata(leaf.annotation)}
    ]


def _metadata(tp: Any) -> list[Any]:
    out: list[Any] = []
    while hasattr(tp, "__metadata__"):
        out.extend(tp.__metadata__)
        tp = tp.__origin__
    return out


BYTES = _validated_by(_bytes)
CPUS = _validated_by(_cpu)
RESOURCES = sorted(
    {
        leaf.path.rsplit(".", 1)[0]
        for leaf in walk(PlatformSettings)
        if leaf.path.endswith(".resources.requests")
    }
)
FAST = settings(max_examples=40, deadline=None, derandomize=True)


def test_the_tree_has_the_quantity_settings_it_should() -> None:
    # The walk found them, so the properties below cover every one (new ones included).
    assert "tenants[].quota.memory" in BYTES and "tenants[].limits.maxCpu" in CPUS
    assert any(p.endswith("storage[].size") for p in BYTES)
    assert {"router.resources", "controlPlane.resources"} <= set(RESOURCES)
    assert len(RESOURCES) == 4  # + templates[] and sandboxes[]


def refusal(path: str, value: Any) -> str:
    data = base_for(path)
    concrete = put(data, path, value)
    with pytest.raises(SettingsError) as info:
        parse_settings(data)
    message = str(info.value)
    assert_clean(message, concrete)
    return message


@FAST
@given(path=st.sampled_from(BYTES), n=st.integers(min_value=1, max_value=10**6))
def test_every_byte_quantity_refuses_millibytes(path: str, n: int) -> None:
    assert "millibytes" in refusal(path, f"{n}m")


@FAST
@given(path=st.sampled_from(CPUS), suffix=st.sampled_from(["Ki", "Mi", "Gi", "k", "M", "G"]))
def test_every_cpu_quantity_refuses_byte_suffixes(path: str, suffix: str) -> None:
    assert f"never with the byte suffix '{suffix}'" in refusal(path, f"2{suffix}")


@FAST
@given(
    block=st.sampled_from(RESOURCES),
    kind=st.sampled_from(["cpu", "memory"]),
    request=st.integers(min_value=8, max_value=4000),
    limit=st.integers(min_value=8, max_value=4000),
)
def test_every_resources_block_refuses_limits_below_requests(
    block: str, kind: str, request: int, limit: int
) -> None:
    unit = "m" if kind == "cpu" else "Mi"
    value = {
        "requests": {"cpu": "100m", "memory": "128Mi", kind: f"{request}{unit}"},
        "limits": {"cpu": "4", "memory": "4Gi", kind: f"{limit}{unit}"},
    }
    data = base_for(block)
    concrete = put(data, block, value)
    if limit >= request:
        parse_settings(data)  # no refusal for this reason (the rest of the stack is valid)
        return
    with pytest.raises(SettingsError) as info:
        parse_settings(data)
    assert f"{concrete}.limits.{kind}: " in str(info.value)
    assert "raise the limit or lower the request" in str(info.value)


# GKE's rule for node-pool names, restated from its API reference: a lower-case letter first,
# then lower-case letters, digits and hyphens, no hyphen last, at most 40 characters — and
# Pulumi autonaming appends "-" + 7 characters.
GKE_RULE = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


@settings(max_examples=80, deadline=None, derandomize=True)
@given(name=st.text(alphabet="abcxyz0189-_A", min_size=1, max_size=45))
def test_node_pool_names_are_refused_exactly_when_gke_would(name: str) -> None:
    gke_accepts = bool(GKE_RULE.fullmatch(name)) and len(name) + 8 <= 40
    data = base_for("nodePool.name")
    put(data, "nodePool.name", name)
    try:
        parse_settings(data)
        accepted = True
    except SettingsError as err:
        assert "nodePool.name" in str(err)
        accepted = False
    assert accepted == gke_accepts, name
