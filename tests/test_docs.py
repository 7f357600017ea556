"""The README's config reference and Pulumi.dev.yaml stay true to the settings models."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from conftest import ROOT
from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from components.settings import PlatformSettings

NS = "agent-sandbox-platform"


def _models(annotation: Any) -> Iterator[tuple[type[BaseModel], bool]]:
    """Settings models inside an annotation, and whether they sit in a list."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _models(arg)
    elif origin is list:
        for model, _ in _models(typing.get_args(annotation)[0]):
            yield model, True
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, False


def setting_paths(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, field in model.model_fields.items():
        path = f"{prefix}.{field.alias or to_camel(name)}" if prefix else (field.alias or name)
        yield path
        for sub, is_list in _models(field.annotation):
            yield from setting_paths(sub, f"{path}[]" if is_list else path)


PATHS = sorted(set(setting_paths(PlatformSettings)))
README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("path", PATHS)
def test_readme_config_reference_documents_every_setting(path: str) -> None:
    assert f"`{path}`" in README, f"README config reference lacks `{path}`"


def _lookup(data: Any, parts: list[str]) -> tuple[bool, Any]:
    for part in parts:
        items = part.endswith("[]")
        key = part.removesuffix("[]")
        if not isinstance(data, dict) or key not in data:
            return False, None
        data = data[key]
        if items:
            if not data:
                return True, None  # an empty list: nothing more to check below it
            merged: dict[str, Any] = {}
            for item in data:
                merged.update(item)
            data = merged
    return True, data


def test_dev_stack_is_a_complete_example_of_every_setting() -> None:
    text = (ROOT / "Pulumi.dev.yaml").read_text()
    cfg = yaml.safe_load(text)["config"]
    data = {k.removeprefix(f"{NS}:"): v for k, v in cfg.items() if k.startswith(f"{NS}:")}
    missing = []
    for path in PATHS:
        parts = path.split(".")
        parent_found, parent = _lookup(data, parts[:-1])
        if parent_found and parent is None:
            # Under a null/empty value (e.g. gateway.https: null): documented in a comment.
            if parts[-1].removesuffix("[]") not in text:
                missing.append(path)
        elif parent_found and isinstance(parent, dict):
            if parts[-1].removesuffix("[]") not in parent:
                missing.append(path)
        elif not parent_found and parts[-1].removesuffix("[]") not in text:
            missing.append(path)
    assert missing == []


def test_readme_diagram_names_every_component_and_only_real_ones() -> None:
    import importlib
    import inspect
    import re

    import pulumi

    diagram = README.split("```mermaid", 1)[1].split("```", 1)[0]
    components = set()
    for path in sorted((ROOT / "components").rglob("*.py")):
        dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        module = importlib.import_module(dotted.removesuffix(".__init__"))
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, pulumi.ComponentResource) and obj.__module__ == module.__name__:
                components.add(name)
    named = set(re.findall(r'\["([A-Z][A-Za-z]+)<br/>', diagram))
    assert named == components
