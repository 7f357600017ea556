"""Refusal messages: every pydantic error turned into "<setting>: <what is wrong>; <the fix>".

pydantic words its own errors for programmers ("Input should be a valid string", "String should
match pattern '^[a-z0-9]…$'", "Field required", "Extra inputs are not permitted"). A stack file's
author needs the setting as written in the stack file (camelCase, ``agent-sandbox-platform:``
namespace), the value given, what is allowed, and how to fix it. The allowed values are read
from the models themselves (``reference.describe``), so the message cannot drift from the check.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from .base import NS, NestedSettingError
from .reference import Node, aliases, describe_node, literal_values, model_of, resolve

REFERENCE = "docs/settings-refusals.md"

# pydantic error types that say "the value has the wrong type".
_TYPE_ERRORS = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "none_required": "null",
}
_BOUNDS = {
    "greater_than": ("is too small", "gt"),
    "greater_than_equal": ("is too small", "ge"),
    "less_than": ("is too large", "lt"),
    "less_than_equal": ("is too large", "le"),
}


def given(value: Any) -> str:
    """The value as the user wrote it (YAML spelling), shortened."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, datetime | date):
        return f"the unquoted date/time {value.isoformat()} (YAML read it as a timestamp)"
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return f"'{text}'" if value else "an empty string"
    if isinstance(value, Mapping):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, list | tuple):
        return "a list" if value else "an empty list"
    return f"a {type(value).__name__}"


def printable(text: str) -> str:
    """Control characters and line breaks of a given value shown escaped: one refusal, one line."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def did_you_mean(word: str, choices: list[str]) -> str:
    """A hint naming the closest choice (snake_case, case and '-' differences first)."""

    def norm(text: str) -> str:
        return text.lower().replace("_", "").replace("-", "")

    same = [choice for choice in choices if norm(choice) == norm(word)]
    close = same or difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? " if close else ""


def _message(err: ErrorDetails, node: Node, root: type[BaseModel]) -> str:
    kind = err["type"]
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    value = err.get("input")
    allowed = describe_node(node)
    if kind in ("value_error", "assertion_error"):
        return str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "extra_forbidden":
        parent = resolve(root, tuple(err["loc"][:-1]))
        model = model_of(parent.annotation)
        known = aliases(model) if model is not None else []
        hint = did_you_mean(str(err["loc"][-1]), known)
        return (
            f"unknown setting; {hint}fix its spelling or remove it (settings at this level: "
            f"{', '.join(known)})"
        )
    if kind == "missing":
        return f"is required but missing; add it: {allowed}"
    if node.is_key:
        choices = literal_values(node.annotation)
        hint = did_you_mean(str(value), choices) if choices and isinstance(value, str) else ""
        return f"the key {given(value)} is not allowed; {hint}use keys: {allowed}"
    if kind in ("literal_error", "enum"):
        choices = literal_values(node.annotation)
        hint = did_you_mean(str(value), choices) if isinstance(value, str) else ""
        return f"{given(value)} is not allowed; {hint}use {allowed}"
    if kind in _TYPE_ERRORS:
        if isinstance(value, datetime | date):
            return f"{given(value)} is not allowed; quote it in the stack file: {allowed}"
        return f"{given(value)} is not {_TYPE_ERRORS[kind]}; write {allowed}" + (
            " (quote it in YAML)" if _TYPE_ERRORS[kind] == "text" else ""
        )
    if kind in _BOUNDS:
        what, bound = _BOUNDS[kind]
        return f"{given(value)} {what} (limit: {ctx.get(bound)}); set {allowed}"
    if kind == "string_pattern_mismatch":
        return f"{given(value)} is not allowed; write {allowed}"
    if kind in ("string_too_short", "too_short"):
        return f"{given(value)} is too short; set {allowed}"
    if kind in ("string_too_long", "too_long"):
        length = f" ({len(value)} characters)" if isinstance(value, str) else ""
        return f"{given(value)} is too long{length}; set {allowed}"
    # Anything else pydantic may raise: still the value, the setting's type and the fix.
    return f"{given(value)} is not allowed; set {allowed}"


def _union_group(errors: list[ErrorDetails], root: type[BaseModel]) -> list[tuple[Node, str]]:
    """One message per setting: a union (e.g. ``/`` or an absolute path) fails once per member,
    and those errors are merged into one that lists everything the setting accepts."""
    out: list[tuple[Node, str]] = []
    seen: dict[str, int] = {}
    for err in errors:
        node = resolve(root, tuple(err["loc"]))
        text = _message(err, node, root)
        raised = (err.get("ctx") or {}).get("error")
        # A model validator naming the exact key below its model (resources.limits.cpu).
        if isinstance(raised, NestedSettingError):
            node = Node(f"{node.path}.{raised.where}", node.annotation, None, None)
        if node.path in seen and err["type"] not in ("value_error", "missing", "extra_forbidden"):
            index = seen[node.path]
            merged = f"{given(err.get('input'))} is not allowed; write {describe_node(node)}"
            out[index] = (node, merged)
            continue
        seen[node.path] = len(out)
        out.append((node, text))
    return out


def format_validation_error(err: ValidationError, root: type[BaseModel]) -> str:
    lines = []
    for node, text in _union_group(err.errors(), root):
        where = f"{NS}:{node.path}: " if node.path else ""
        lines.append(f"  - {printable(where + text)}")
    return (
        "invalid stack settings:\n"
        + "\n".join(lines)
        + f"\n  (what each setting accepts and refuses: README.md's config reference and "
        f"{REFERENCE})"
    )
