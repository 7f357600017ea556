"""Shared building blocks of the settings models: the base model, names, quantities, errors."""

from __future__ import annotations

from typing import Annotated, Literal

import pulumi
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)
from pydantic.alias_generators import to_camel

from .. import constants as c

NS = c.PROJECT


class SettingsError(pulumi.RunError):
    """A user mistake in stack config. Pulumi prints RunError without a traceback."""


def _key(path: str) -> str:
    return f"{NS}:{path}"


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        validate_default=True,
    )


DNS1123 = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
Dns1123Name = Annotated[str, Field(pattern=DNS1123, max_length=63)]
Quantity = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")]


class ResourceSettings(_Model):
    requests: dict[Literal["cpu", "memory", "ephemeral-storage"], Quantity] = {}
    limits: dict[Literal["cpu", "memory", "ephemeral-storage"], Quantity] = {}
