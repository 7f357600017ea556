"""Kubernetes quantities, checked per resource kind.

The quantity syntax alone lets through values that are legal and nonsense: ``memory: 512m`` is
512 *milli*bytes (half a byte), ``cpu: 2Gi`` is two billion cores, ``memory: 512`` is 512
bytes. Each kind gets its own type here, so the mistake is refused with the unit the user most
likely meant. YAML turns an unquoted ``cpu: 1`` into a number; Kubernetes accepts that, so do we.
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from .reference import describe_pattern, describe_validator

_SUFFIX = {
    "": Fraction(1),
    "m": Fraction(1, 1000),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
}
SYNTAX = describe_pattern(
    r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$",
    "a Kubernetes quantity: a number with an optional suffix m, k, M, G, T, Ki, Mi, Gi or Ti "
    "(e.g. 500m, 2, 512Mi, 10Gi)",
)
_SPLIT = re.compile(r"^([0-9.]+)([A-Za-z]*)$")
# The smallest memory limit a container runtime starts a container with (runc refuses less
# than 6 MiB); anything below is a unit mistake (512 meant as 512Mi).
MIN_CONTAINER_MEMORY = 6 * 2**20


def parse(value: str) -> Fraction:
    """A quantity (already of the right syntax) in base units: cores or bytes."""
    match = _SPLIT.match(value)
    if match is None:
        raise ValueError(f"'{value}' is not a quantity")
    return Fraction(match.group(1)) * _SUFFIX[match.group(2)]


def _from_number(value: Any) -> Any:
    # YAML reads `cpu: 1` and `cpu: 0.5` as numbers; Kubernetes takes them as quantities.
    if isinstance(value, bool):
        return value  # refused as "not a quantity"; true is never a size
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value >= 0 and value == value and value != float("inf"):
        return format(Decimal(repr(value)), "f")
    return value


def _cpu(value: str) -> str:
    suffix = _SPLIT.match(value).group(2)  # type: ignore[union-attr]  # syntax checked before
    if suffix not in ("", "m"):
        raise ValueError(
            f"'{value}' is not a CPU amount: CPU is counted in cores (1, 0.5) or millicores "
            f"(500m), never with the byte suffix '{suffix}'; write e.g. 2 or 500m"
        )
    cores = parse(value)
    if cores * 1000 != int(cores * 1000):
        raise ValueError(
            f"'{value}' is finer than Kubernetes' CPU precision of 1m (a thousandth of a core); "
            "round it to whole millicores, e.g. 250m"
        )
    return value


def _bytes(value: str) -> str:
    suffix = _SPLIT.match(value).group(2)  # type: ignore[union-attr]
    if suffix == "m":
        raise ValueError(
            f"'{value}' is in millibytes (the suffix m means 1/1000, not mega): "
            f"{value[:-1]} thousandths of a byte; write {value[:-1]}Mi (mebibytes) or "
            f"{value[:-1]}M (megabytes)"
        )
    amount = parse(value)
    if amount.denominator != 1:
        raise ValueError(
            f"'{value}' is not a whole number of bytes; write the size with a suffix, e.g. "
            "512Mi or 1.5Gi"
        )
    return value


def _container_memory(value: str) -> str:
    if parse(value) < MIN_CONTAINER_MEMORY:
        plain = _SPLIT.match(value).group(2) == ""  # type: ignore[union-attr]
        hint = f"a plain number is bytes — did you mean {value}Mi?" if plain else "set 6Mi or more"
        raise ValueError(
            f"'{value}' is {parse(value)} bytes, below the 6Mi a container runtime can start a "
            f"container with; {hint}"
        )
    return value


Quantity = Annotated[str, BeforeValidator(_from_number), Field(pattern=SYNTAX)]
CpuQuantity = Annotated[Quantity, AfterValidator(_cpu)]
ByteQuantity = Annotated[Quantity, AfterValidator(_bytes)]
describe_validator(_cpu, "a CPU amount: cores (2, 0.5) or millicores (500m), at a precision of 1m")
describe_validator(
    _bytes,
    "a size in bytes: a whole number with a suffix Ki, Mi, Gi, Ti (or k, M, G, T), e.g. 512Mi "
    "or 10Gi (never m: that is millibytes)",
)


def check_resource(kind: str, value: str) -> str:
    """A container's requests/limits value for ``kind`` (cpu, memory, ephemeral-storage)."""
    if kind == "cpu":
        return _cpu(value)
    _bytes(value)
    if kind == "memory":
        _container_memory(value)
    return value
