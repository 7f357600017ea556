"""The settings tree read back from the models: every setting's camelCase path and, in words,
what it accepts.

One description serves both the refusal messages (``errors.py``: "expected <what it
accepts>") and the generated reference ``docs/settings-refusals.md`` (``bin/settings-refusals``),
so a constraint changed in a model changes both, and a test keeps the committed file current.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Union

import annotated_types as at
from pydantic import BaseModel
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

# Patterns the models use, in words. A test proves every pattern in the tree is listed here, so
# no refusal ever shows a regular expression.
PATTERNS: dict[str, str] = {}
# Validator functions (AfterValidator / BeforeValidator) that stand for a type, in words.
VALIDATORS: dict[Callable[..., Any], str] = {}


def describe_pattern(pattern: str, words: str) -> str:
    """Register how ``pattern`` reads in a message; returns the pattern (for Field(pattern=))."""
    PATTERNS[pattern] = words
    return pattern


def describe_validator(func: Callable[..., Any], words: str) -> None:
    VALIDATORS[func] = words


@dataclass(frozen=True)
class Node:
    """Where a location inside the settings tree points."""

    path: str  # camelCase, as in the stack file: nodePool.labels, sandboxes.templates[0].name
    annotation: Any  # the type at this point (a model class, list[...], a scalar)
    field: FieldInfo | None  # the model field this point belongs to (None below list/dict)
    model: type[BaseModel] | None  # the model that owns ``field``
    is_key: bool = False  # the error is about a mapping's key, not its value


def _strip_annotated(tp: Any) -> tuple[Any, list[Any]]:
    meta: list[Any] = []
    while typing.get_origin(tp) is typing.Annotated:
        args = typing.get_args(tp)
        tp = args[0]
        for m in args[1:]:
            meta.extend(m.metadata if isinstance(m, FieldInfo) else [m])
    return tp, meta


def _union_args(tp: Any) -> tuple[Any, ...] | None:
    if typing.get_origin(tp) in (Union, types.UnionType):
        return typing.get_args(tp)
    return None


def _non_null(tp: Any) -> Any:
    """``X | None`` -> X (other unions are kept)."""
    args = _union_args(tp)
    if args is not None:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return tp


def model_of(tp: Any) -> type[BaseModel] | None:
    tp = _non_null(_strip_annotated(tp)[0])
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    return None


def alias(name: str, field: FieldInfo) -> str:
    return field.alias or to_camel(name)


def aliases(model: type[BaseModel]) -> list[str]:
    return [alias(n, f) for n, f in model.model_fields.items()]


def field_by_key(model: type[BaseModel], key: str) -> tuple[str, FieldInfo] | None:
    for name, field in model.model_fields.items():
        if key in (name, alias(name, field)):
            return alias(name, field), field
    return None


def resolve(root: type[BaseModel], loc: tuple[int | str, ...]) -> Node:
    """Follow a pydantic error location through the tree. Union member tags that pydantic adds
    to a location ('constrained-str', "literal['/']") are dropped from the path."""
    path = ""
    tp: Any = root
    field: FieldInfo | None = None
    owner: type[BaseModel] | None = None
    is_key = False
    for i, part in enumerate(loc):
        if part == "[key]":
            continue  # handled with the key before it
        base = _non_null(_strip_annotated(tp)[0])
        origin = typing.get_origin(base)
        model = model_of(base)
        if model is not None and isinstance(part, str):
            found = field_by_key(model, part)
            if found is None:  # an unknown key (extra_forbidden): keep its spelling
                path += f".{part}" if path else part
                tp, field, owner = Any, None, model
                continue
            key, field = found
            path += f".{key}" if path else key
            tp, owner = (field.annotation, model)
            # The field's own constraints (Field(ge=...)) live on the FieldInfo.
            if field.metadata:
                tp = typing.Annotated[(tp, *field.metadata)]
        elif origin in (list, tuple) and isinstance(part, int):
            path += f"[{part}]"
            tp, field = typing.get_args(base)[0], None
        elif origin is dict and isinstance(part, str):
            key_type, value_type = typing.get_args(base)
            path += f".{part}"
            is_key = i + 1 < len(loc) and loc[i + 1] == "[key]"
            tp, field = (key_type if is_key else value_type), None
        # anything else is a union tag or a validator's name: not part of the setting's path
    return Node(path, tp, field, owner, is_key)


# ---------------------------------------------------------------------------------------------
# what a type accepts, in words
# ---------------------------------------------------------------------------------------------
def _bounds(meta: list[Any]) -> str:
    lo = hi = None
    for m in meta:
        if isinstance(m, at.Ge):
            lo = f"{m.ge}"
        elif isinstance(m, at.Gt):
            lo = f"more than {m.gt}"
        elif isinstance(m, at.Le):
            hi = f"{m.le}"
        elif isinstance(m, at.Lt):
            hi = f"less than {m.lt}"
    if (
        lo is not None
        and hi is not None
        and not lo.startswith("more")
        and not hi.startswith("less")
    ):
        return f" from {lo} to {hi}"
    parts = []
    if lo is not None:
        parts.append(lo if lo.startswith("more") else f"{lo} or more")
    if hi is not None:
        parts.append(hi if hi.startswith("less") else f"at most {hi}")
    return f", {' and '.join(parts)}" if parts else ""


def _lengths(meta: list[Any], unit: str) -> str:
    lo = next((m.min_length for m in meta if isinstance(m, at.MinLen)), None)
    hi = next((m.max_length for m in meta if isinstance(m, at.MaxLen)), None)
    if lo and hi:
        return f", {lo} to {hi} {unit}"
    if hi:
        return f", at most {hi} {unit}"
    if lo == 1:
        return ", not empty"
    if lo:
        return f", at least {lo} {unit}"
    return ""


def _pattern_of(meta: list[Any]) -> str | None:
    for m in meta:
        pattern = getattr(m, "pattern", None)
        if isinstance(pattern, str):
            return pattern
    return None


def describe_node(node: Node) -> str:
    """What the setting at ``node`` accepts: its field's description, else its type's."""
    if node.field is not None and node.field.description and not node.is_key:
        return node.field.description
    return describe(node.annotation)


def describe(tp: Any) -> str:
    """What a value of type ``tp`` looks like, in words (for messages and the reference)."""
    tp, meta = _strip_annotated(tp)
    args = _union_args(tp)
    if args is not None:
        # Field constraints (ge, pattern) on an optional field apply to its non-null member.
        rest = [typing.Annotated[(a, *meta)] if meta else a for a in args if a is not type(None)]
        words = " or ".join(describe(a) for a in rest)
        return f"{words} (or null to leave it unset)" if len(rest) < len(args) else words
    for m in meta:
        func = getattr(m, "func", None)
        if func in VALIDATORS:
            return VALIDATORS[func]
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(_yaml(v) for v in typing.get_args(tp))
    if origin in (list, tuple):
        return f"a list{_lengths(meta, 'items')} of: {describe(typing.get_args(tp)[0])}"
    if origin is dict:
        key, value = typing.get_args(tp)
        return f"a mapping from {describe(key)} to {describe(value)}"
    model = model_of(tp)
    if model is not None:
        return f"a mapping of settings ({', '.join(aliases(model))})"
    if tp is bool:
        return "true or false"
    if tp is int:
        return f"a whole number{_bounds(meta)}"
    if tp is float:
        return f"a number{_bounds(meta)}"
    if tp is str:
        pattern = _pattern_of(meta)
        if pattern is not None:
            return PATTERNS.get(pattern, "text of the documented form") + _lengths(
                meta, "characters"
            )
        return "text" + _lengths(meta, "characters")
    return getattr(tp, "__name__", str(tp))


def _yaml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    return str(value)


def literal_values(tp: Any) -> list[str]:
    """The allowed spellings of a Literal (inside Annotated/Optional), else []."""
    tp = _non_null(_strip_annotated(tp)[0])
    if typing.get_origin(tp) is Literal:
        return [_yaml(v) for v in typing.get_args(tp)]
    return []


# ---------------------------------------------------------------------------------------------
# walking the tree
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Leaf:
    path: str  # lists as [], e.g. sandboxes.templates[].ports[].containerPort
    annotation: Any
    field: FieldInfo
    model: type[BaseModel]
    name: str  # python attribute name


def walk(model: type[BaseModel], prefix: str = "") -> Iterator[Leaf]:
    """Every setting, depth first, in declaration order; a field holding a model (or a list of
    them) is walked into instead of listed."""
    for name, field in model.model_fields.items():
        key = alias(name, field)
        path = f"{prefix}.{key}" if prefix else key
        tp = _non_null(_strip_annotated(field.annotation)[0])
        inner = model_of(tp)
        if inner is not None:
            yield from walk(inner, path)
            continue
        item = model_of(typing.get_args(tp)[0]) if typing.get_origin(tp) is list else None
        if item is not None:
            yield from walk(item, f"{path}[]")
            continue
        annotation: Any = field.annotation
        if field.metadata:
            annotation = typing.Annotated[(annotation, *field.metadata)]
        yield Leaf(path, annotation, field, model, name)


def patterns_in(model: type[BaseModel]) -> set[str]:
    """Every regular expression the tree validates with (for the completeness test)."""
    found: set[str] = set()

    def visit(tp: Any) -> None:
        tp, meta = _strip_annotated(tp)
        pattern = _pattern_of(meta)
        if pattern is not None:
            found.add(pattern)
        for arg in typing.get_args(tp):
            visit(arg)

    for leaf in walk(model):
        visit(leaf.annotation)
    return found


def python_spelled_keys(root: Any, data: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, camelCase alias) of every key written as the model's Python name (machine_type)
    instead of the stack file's camelCase (machineType). pydantic accepts both spellings for
    Python callers, which would let a stack file set one setting twice under two names."""
    found: list[tuple[str, str]] = []
    tp = _non_null(_strip_annotated(root)[0])
    model = model_of(tp)
    if model is not None and isinstance(data, dict):
        for key, value in data.items():
            hit = field_by_key(model, key) if isinstance(key, str) else None
            if hit is None:
                continue
            camel, field = hit
            here = f"{path}.{key}" if path else key
            if key != camel:
                found.append((here, camel))
            found.extend(python_spelled_keys(field.annotation, value, here))
    elif typing.get_origin(tp) in (list, tuple) and isinstance(data, list):
        inner = typing.get_args(tp)[0]
        for i, item in enumerate(data):
            found.extend(python_spelled_keys(inner, item, f"{path}[{i}]"))
    return found
