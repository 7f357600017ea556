"""Shared building blocks of the settings models: the base model, names, quantities, errors."""

from __future__ import annotations

from typing import Annotated, Literal

import pulumi
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)
from pydantic.alias_generators import to_camel

from .. import constants as c
from .quantities import ByteQuantity, CpuQuantity, Quantity, check_resource, parse
from .reference import describe_pattern

NS = c.PROJECT


class SettingsError(pulumi.RunError):
    """A user mistake in stack config. Pulumi prints RunError without a traceback."""


class NestedSettingError(ValueError):
    """A refusal a model validator pins to a key below its model (``requests.memory``), so the
    message names the exact setting rather than the model's."""

    def __init__(self, where: str, message: str):
        super().__init__(message)
        self.where = where


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


DNS1123 = describe_pattern(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
    "a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter "
    "or digit (e.g. team-a)",
)
Dns1123Name = Annotated[str, Field(pattern=DNS1123, max_length=63)]
ResourceName = Literal["cpu", "memory", "ephemeral-storage"]


class ResourceSettings(_Model):
    requests: dict[ResourceName, Quantity] = {}
    limits: dict[ResourceName, Quantity] = {}

    @model_validator(mode="after")
    def _kinds(self) -> ResourceSettings:
        # Per kind: CPU in cores, memory and storage in whole bytes (no millibytes); and, as the
        # API server insists, a limit never below its request.
        for kind_name, values in (("requests", self.requests), ("limits", self.limits)):
            for res, value in values.items():
                try:
                    check_resource(res, value)
                except ValueError as err:
                    raise NestedSettingError(f"{kind_name}.{res}", str(err)) from None
        for res, limit in self.limits.items():
            request = self.requests.get(res)
            if request is not None and parse(limit) < parse(request):
                raise NestedSettingError(
                    f"limits.{res}",
                    f"resources.limits.{res} ({limit}) is below resources.requests.{res} "
                    f"({request}); Kubernetes refuses such a pod — raise the limit or lower the "
                    "request",
                )
        return self


__all__ = [
    "DNS1123",
    "NS",
    "ByteQuantity",
    "CpuQuantity",
    "Dns1123Name",
    "NestedSettingError",
    "Quantity",
    "ResourceSettings",
    "SettingsError",
]
