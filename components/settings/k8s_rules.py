"""Kubernetes rules the settings are checked against beyond their types: image references, the
DNS-1035 names a Service needs, and RFC 3339 times (Kubernetes' metav1.Time, and the format GKE's
maintenance policy takes).

Sources: the container image reference grammar (github.com/distribution/reference,
reference.go) that kubelet and containerd parse with; Service names are DNS-1035 labels
(k8s.io/apimachinery validation.IsDNS1035Label: a letter first), unlike most object names.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from .reference import describe_validator

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = (
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)"
)
_IMAGE = re.compile(
    rf"^(?:{_HOST}(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
)
DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def _image(value: str) -> str:
    if not value.strip():
        raise ValueError(
            "the image is empty; name a container image, e.g. python:3.12-slim or "
            "<repo>@sha256:<digest>"
        )
    if not _IMAGE.match(value) or len(value) > 4096:
        lower = value.lower() != value and _IMAGE.match(value.lower())
        hint = " (repository names are lower case)" if lower else ""
        raise ValueError(
            f"'{value}' is not a container image reference{hint}; write "
            "[registry/]repository[:tag][@sha256:<64 hex digits>], e.g. python:3.12-slim"
        )
    return value


ImageRef = Annotated[str, AfterValidator(_image)]
describe_validator(
    _image,
    "a container image reference: [registry/]repository[:tag][@sha256:<digest>] (lower-case "
    "repository, e.g. python:3.12-slim)",
)


def dns1035(name: str) -> bool:
    return len(name) <= 63 and bool(DNS1035.match(name))


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _rfc3339(value: object) -> object:
    # An unquoted timestamp reaches us as a datetime when a YAML 1.1 parser read the file.
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(
                f"'{value.isoformat()}' has no time zone; write it quoted with a zone, like "
                '"2026-12-31T23:59:59Z"'
            )
        return value.isoformat().replace("+00:00", "Z")
    if not isinstance(value, str):
        return value  # the str type refuses it, in words
    try:
        ok = bool(_RFC3339.match(value)) and bool(parse_time(value))
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"'{value}' is not an RFC 3339 time with a zone; write it like "
            '"2026-12-31T23:59:59Z" (quoted)'
        )
    return value


def parse_time(value: str) -> datetime:
    """An RFC 3339 time (already checked by ``Rfc3339Time``) as an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


Rfc3339Time = Annotated[str, BeforeValidator(_rfc3339)]
describe_validator(_rfc3339, 'an RFC 3339 time with a zone, quoted (e.g. "2026-12-31T23:59:59Z")')
