"""Kubernetes rules the settings are checked against beyond their types: image references and
the DNS-1035 names a Service needs.

Sources: the container image reference grammar (github.com/distribution/reference,
reference.go) that kubelet and containerd parse with; Service names are DNS-1035 labels
(k8s.io/apimachinery validation.IsDNS1035Label: a letter first), unlike most object names.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

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
