"""The settings refusal reference (docs/settings-refusals.md) is generated from the models and
cannot go stale: regenerate it with bin/settings-refusals."""

from __future__ import annotations

from pathlib import Path

from components.settings import PlatformSettings
from components.settings.reference import walk
from components.settings.refusals import CHECKS, WORKLOAD, render

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "settings-refusals.md"


def test_the_committed_reference_is_what_the_models_say() -> None:
    assert DOC.read_text() == render(PlatformSettings), (
        "docs/settings-refusals.md is stale: run bin/settings-refusals"
    )


def test_every_listed_check_names_a_setting_that_exists() -> None:
    paths = {leaf.path for leaf in walk(PlatformSettings)}
    for key in CHECKS:
        if key.startswith(WORKLOAD):
            rest = key.removeprefix(WORKLOAD)
            assert {f"sandboxes.templates[].{rest}", f"sandboxes.sandboxes[].{rest}"} & paths, key
        else:
            assert key in paths, f"CHECKS names {key}, which is not a setting"


def test_every_setting_has_a_row() -> None:
    text = DOC.read_text()
    for leaf in walk(PlatformSettings):
        merged = leaf.path.replace("sandboxes.templates[]", "sandboxes.{templates,sandboxes}[]")
        merged2 = leaf.path.replace("sandboxes.sandboxes[]", "sandboxes.{templates,sandboxes}[]")
        assert f"`{leaf.path}`" in text or f"`{merged}`" in text or f"`{merged2}`" in text, leaf


def test_readme_links_the_reference() -> None:
    assert "docs/settings-refusals.md" in (ROOT / "README.md").read_text()
