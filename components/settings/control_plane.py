"""The agent-sandbox control plane: release, manifest source, controller."""

from __future__ import annotations

import re

from pydantic import (
    Field,
    model_validator,
)

from .. import constants as c
from .base import ResourceSettings, _Model


class ControlPlaneSettings(_Model):
    enabled: bool = True
    # A release tag of kubernetes-sigs/agent-sandbox; picks the release asset and the image tag.
    version: str = c.AGENT_SANDBOX_DEFAULT_VERSION
    # Local path or URL (https://, file://) of sandbox-with-extensions.yaml; wins over the
    # release URL of `version`.
    manifest: str | None = None
    # SHA-256 of the manifest file; checked before anything registers.
    sha256: str | None = None
    # Download cache; None: $XDG_CACHE_HOME/agent-sandbox-platform or ~/.cache/...
    cache_dir: str | None = None
    # Registry mirror for air-gapped clusters: replaces registry.k8s.io in the controller image.
    image_registry: str | None = None
    replicas: int = Field(1, ge=1, le=5)
    # --cache-label-selectors: the controller caches only the Pods and Services it labelled,
    # so its memory follows the sandboxes, not every workload of the cluster. false for a
    # release whose controller lacks the flag (it exists in the v1.0 sources).
    cache_label_selectors: bool = True
    resources: ResourceSettings = ResourceSettings(
        requests={"cpu": "100m", "memory": "128Mi"}, limits={"cpu": "1", "memory": "512Mi"}
    )

    @model_validator(mode="after")
    def _checks(self) -> ControlPlaneSettings:
        if not re.fullmatch(r"v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", self.version):
            raise ValueError(
                f"controlPlane.version '{self.version}' is not an agent-sandbox release tag; "
                f"use a tag such as {c.AGENT_SANDBOX_DEFAULT_VERSION}"
            )
        if self.sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", self.sha256):
            raise ValueError(
                f"controlPlane.sha256 '{self.sha256}' is not a SHA-256 digest; set it to the 64 "
                f"hex digits printed by `sha256sum {c.AGENT_SANDBOX_MANIFEST_FILE}` (or remove it)"
            )
        if self.manifest is not None:
            scheme = self.manifest.partition("://")[0] if "://" in self.manifest else ""
            if not self.manifest.strip() or scheme not in ("", "http", "https", "file"):
                raise ValueError(
                    f"controlPlane.manifest '{self.manifest}' is neither a local path nor an "
                    "http(s):// or file:// URL; point it at a copy of "
                    f"{c.AGENT_SANDBOX_MANIFEST_FILE} (or remove it to use the release URL)"
                )
            if scheme == "http" and self.sha256 is None:
                # Plain HTTP lets anyone on the path swap the CRDs and controller it installs;
                # README documents https:// or file://, and a digest makes http:// safe again.
                raise ValueError(
                    f"controlPlane.manifest '{self.manifest}' is a plain http:// URL without "
                    "controlPlane.sha256: anyone on the network path could change what is "
                    "installed; use https://, or pin the file with controlPlane.sha256"
                )
        registry = self.image_registry
        if registry is not None and not re.fullmatch(
            r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9._-]+)*", registry
        ):
            raise ValueError(
                f"controlPlane.imageRegistry '{registry}' is not a registry prefix; write the "
                "mirror's host and optional path, without scheme or trailing slash (e.g. "
                f"mirror.example.com/k8s), which replaces {c.UPSTREAM_IMAGE_REGISTRY}"
            )
        return self
