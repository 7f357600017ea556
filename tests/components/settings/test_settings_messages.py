"""Every refusal, for every setting of the tree, is a clean settings error: it names the setting
(camelCase, as in the stack file), says what was given and what is allowed, and how to fix it.
Never pydantic's own wording, a regular expression or a traceback.

The settings are walked from the models (``reference.walk``), so a setting added tomorrow is
covered without touching this file; hypothesis picks the setting and the wrong value.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.settings import PlatformSettings, SettingsError, config_sections, parse_settings
from components.settings.reference import PATTERNS, patterns_in, walk
from offline.engine import stack_config

LEAVES = list(walk(PlatformSettings))
# What pydantic says to programmers; none of it may reach a stack file's author.
PYDANTIC_WORDING = (
    "Input should",
    "String should",
    "should match pattern",
    "Field required",
    "Extra inputs are not permitted",
    "validation error",
    "errors.pydantic.dev",
    "Value error,",
    "[key]",
    "function-after",
    "constrained-str",
    "type=",
)
REGEX = re.compile(r"\^\[|\]\*|\$'|\\S|\\d|\{0,")
# Where a missing container gets a minimal valid example, so a setting below it can be reached.
EXAMPLES: dict[str, Any] = {
    "gateway.https": {"certificateSecret": "router-tls"},
    "sandboxes.templates[].storage[]": {"name": "data", "mountPath": "/data", "size": "1Gi"},
    "sandboxes.sandboxes[].storage[]": {"name": "data", "mountPath": "/data", "size": "1Gi"},
    "sandboxes.templates[].readinessProbe": {"port": 8888},
    "sandboxes.templates[].livenessProbe": {"port": 8888},
    "sandboxes.sandboxes[].readinessProbe": {"port": 13337},
    "sandboxes.sandboxes[].livenessProbe": {"port": 13337},
    "sandboxes.sandboxes[].ports[]": {"containerPort": 13337},
    "sandboxes.templates[].ports[]": {"containerPort": 8888},
    "cluster.kubeconfig": {"context": "minikube"},
    "cluster.maintenance": {
        "window": {
            "startTime": "2026-01-03T03:00:00Z",
            "endTime": "2026-01-03T09:00:00Z",
            "recurrence": "FREQ=WEEKLY;BYDAY=SA",
        }
    },
    "cluster.maintenance.exclusions[]": {
        "name": "freeze",
        "startTime": "2026-12-20T00:00:00Z",
        "endTime": "2027-01-05T00:00:00Z",
    },
}
_BASES: dict[str, dict[str, Any]] = {}


def base_for(path: str) -> dict[str, Any]:
    """A committed stack in which the setting's section is valid to set."""
    stack = "dev"
    if path.startswith("tenant."):
        stack = "team-a"
    elif path.startswith("cluster.kubeconfig."):
        stack = "local"
    if stack not in _BASES:
        _BASES[stack] = config_sections(stack_config(stack))
    return copy.deepcopy(_BASES[stack])


def put(data: dict[str, Any], path: str, value: Any) -> str:
    """Set ``value`` at a walk path (``[]`` = the first item); returns the concrete path."""
    parts = re.findall(r"[^.\[\]]+|\[\]", path)
    node: Any = data
    concrete, so_far = "", ""
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "[]":
            so_far += "[]"
            concrete += "[0]"
            if not node:
                node.append(copy.deepcopy(EXAMPLES[so_far]))
            if last:
                node[0] = value
            node = node[0]
            continue
        so_far += f".{part}" if so_far else part
        concrete += f".{part}" if concrete else part
        if last:
            node[part] = value
            break
        if node.get(part) is None:
            nxt = parts[i + 1]
            node[part] = [] if nxt == "[]" else copy.deepcopy(EXAMPLES.get(so_far, {}))
        node = node[part]
    return concrete


def assert_clean(message: str, names: str) -> None:
    assert message.startswith("invalid stack settings:"), message
    # Outside the quoted values the user gave: no pydantic wording, no regular expression.
    unquoted = re.sub(r"'[^']*'|\"[^\"]*\"", "", message)
    for bad in PYDANTIC_WORDING:
        assert bad not in unquoted, f"pydantic wording {bad!r} in:\n{message}"
    assert not REGEX.search(unquoted), f"a regular expression in:\n{message}"
    assert "Traceback" not in message
    assert names in message, f"{names!r} not named in:\n{message}"
    for line in message.splitlines()[1:]:
        if line.startswith("  - "):
            # Every refusal says how to fix it after the problem: "<problem>; <fix>".
            assert ";" in line or " — " in line, f"no fix in: {line}"


WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**7), max_value=10**7),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            " ",
            "-1",
            "1.5",
            "Bad_Name",
            "ünïcode",
            "2020-01-01T00:00:00Z",
            "512m",
            "x" * 80,
            "UPPER",
            "a b",
        ]
    ),
    st.datetimes(timezones=st.sampled_from([UTC])),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["x", "name", "cpu"]), st.integers(), max_size=2),
)


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(leaf=st.sampled_from(LEAVES), value=WRONG)
def test_a_wrong_value_anywhere_is_a_clean_refusal(leaf: Any, value: Any) -> None:
    data = base_for(leaf.path)
    concrete = put(data, leaf.path, value)
    try:
        parse_settings(data)
    except SettingsError as err:
        key = concrete.rsplit(".", 1)[-1]
        assert_clean(str(err), key.split("[")[0])


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    container=st.sampled_from(sorted({leaf.path.rpartition(".")[0] for leaf in LEAVES})),
    typo=st.sampled_from(["nmae", "Replicas", "machine_type", "x"]),
)
def test_an_unknown_key_at_any_level_is_named_with_the_keys_that_exist(
    container: str, typo: str
) -> None:
    data = base_for(container + ".x")
    concrete = put(data, f"{container}.{typo}" if container else typo, 1)
    with pytest.raises(SettingsError) as info:
        parse_settings(data)
    message = str(info.value)
    assert_clean(message, concrete)
    # machine_type where machineType exists: named as a Python spelling, with the key to write.
    assert "unknown setting" in message or "camelCase; write machineType" in message


def test_every_required_setting_missing_is_named() -> None:
    for leaf in LEAVES:
        if not leaf.field.is_required():
            continue
        data = base_for(leaf.path)
        parent, _, key = leaf.path.rpartition(".")
        concrete = put(data, leaf.path, None)
        container: Any = data
        for part in re.findall(r"[^.\[\]]+|\[\]", parent):
            container = container[0] if part == "[]" else container[part]
        container.pop(key)
        with pytest.raises(SettingsError) as info:
            parse_settings(data)
        message = str(info.value)
        assert_clean(message, concrete)
        assert "required but missing" in message


def test_every_pattern_in_the_tree_reads_in_words() -> None:
    # A pattern without words would show as "text of the documented form": refuse that.
    missing = patterns_in(PlatformSettings) - set(PATTERNS)
    assert not missing, f"describe_pattern() these patterns: {missing}"


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        # pydantic's "Input should be a valid integer, unable to parse string as an integer"
        ("nodePool.minNodes", "abc", "nodePool.minNodes: 'abc' is not a whole number; write"),
        # pydantic's "String should match pattern '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'"
        ("admission.sandboxNamespaces", ["Team_A"], "a DNS-1123 label"),
        # pydantic's "Input should be 'kata' or 'gvisor'"
        ("isolation.runtime", "Kata", "did you mean 'kata'? use one of kata, gvisor"),
        # pydantic's "Input should be a valid string"
        ("router.image", 5, "router.image: the number 5 is not text"),
        # an unquoted YAML timestamp
        (
            "sandboxes.sandboxes[].shutdownTime",
            datetime(2030, 1, 1, tzinfo=UTC),
            None,
        ),
    ],
)
def test_pydantic_wording_is_replaced(path: str, value: Any, expected: str | None) -> None:
    data = base_for(path)
    put(data, path, value)
    if expected is None:  # an unquoted future timestamp is simply the time it says
        settings_ = parse_settings(data)
        assert settings_.sandboxes.sandboxes[0].shutdown_time == "2030-01-01T00:00:00Z"
        return
    with pytest.raises(SettingsError) as info:
        parse_settings(data)
    assert expected in str(info.value)
    assert_clean(str(info.value), path.rsplit(".", 1)[-1].replace("[]", ""))


def test_a_wrong_dict_key_is_named_with_the_keys_allowed() -> None:
    data = base_for("sandboxes")
    data["sandboxes"]["templates"][0]["resources"]["limits"]["gpu"] = "1"
    with pytest.raises(SettingsError) as info:
        parse_settings(data)
    message = str(info.value)
    assert "sandboxes.templates[0].resources.limits.gpu: the key 'gpu' is not allowed" in message
    assert "cpu, memory, ephemeral-storage" in message
    assert_clean(message, "gpu")
