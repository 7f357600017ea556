"""The sandbox runtime (Kata or gVisor) and the inputs of the capacity plan."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import (
    Field,
    model_validator,
)

from .. import constants as c
from .base import Dns1123Name, _Model


class KataSettings(_Model):
    # kata-deploy release: the image tag and the version annotation on every RuntimeClass.
    version: str = c.KATA_DEFAULT_VERSION
    # Registry mirror for air-gapped clusters: replaces quay.io/kata-containers/kata-deploy.
    image_repository: str = c.KATA_DEPLOY_IMAGE_REPOSITORY
    # One RuntimeClass kata-<shim> each; the first is kata-deploy's default shim.
    shims: list[str] = ["qemu", "clh"]
    # Anything but kube-system is created, labelled privileged for Pod Security.
    namespace: Dns1123Name = c.KATA_DEPLOY_NAMESPACE
    # Host-side debug logs, plus a kata-<shim>-debug RuntimeClass per shim for guest debugging.
    debug: bool = False

    @property
    def image(self) -> str:
        return f"{self.image_repository}:{self.version}"

    @model_validator(mode="after")
    def _image(self) -> KataSettings:
        # The DaemonSet, env vars and mounts are rendered from the kata-deploy 4.x chart.
        if not re.fullmatch(r"4\.\d+\.\d+([-+][0-9A-Za-z.-]+)?", self.version):
            raise ValueError(
                f"isolation.kata.version '{self.version}' is not a kata-deploy 4.x release; this "
                f"platform renders kata-deploy 4.x (e.g. {c.KATA_DEFAULT_VERSION}) — set "
                "isolation.kata.version to a 4.x tag"
            )
        last = self.image_repository.rsplit("/", 1)[-1]
        if not self.image_repository or "@" in self.image_repository or ":" in last:
            raise ValueError(
                f"isolation.kata.imageRepository '{self.image_repository}' must be a bare "
                f"repository such as {c.KATA_DEPLOY_IMAGE_REPOSITORY} (or your mirror of it); "
                "the tag comes from isolation.kata.version"
            )
        return self

    @model_validator(mode="after")
    def _shims(self) -> KataSettings:
        if not self.shims:
            raise ValueError(
                f"isolation.kata.shims is empty; list at least one of {', '.join(c.KATA_SHIMS)}"
            )
        unknown = [s for s in self.shims if s not in c.KATA_SHIMS]
        if unknown:
            raise ValueError(
                f"isolation.kata.shims has unknown shim(s) {', '.join(unknown)}; valid shims are "
                f"{', '.join(c.KATA_SHIMS)}"
            )
        if len(set(self.shims)) != len(self.shims):
            raise ValueError("isolation.kata.shims lists a shim twice; list each shim once")
        return self


class CapacitySettings(_Model):
    """Real per-sandbox cost on the node, far above RuntimeClass podFixed (DESIGN §3 Kata)."""

    # Host memory one sandbox really takes: ~1.13 GiB host RSS per Kata pod, measured on GKE
    # c4-standard-8 (DESIGN §3). A sandbox whose request + podFixed is larger costs that instead.
    host_memory_per_sandbox_mib: int = Field(1157, ge=64)
    # Kept back from GKE's allocatable for the node's system DaemonSets and kata-deploy.
    reserved_memory_mib: int = Field(1024, ge=0)
    reserved_cpu_millis: int = Field(500, ge=0)
    # What to do when the declared sandboxes (warm-pool replicas + running standalone
    # sandboxes) need more nodes than nodePool.maxNodes: refuse the stack, or warn and go on.
    on_overcommit: Literal["error", "warn"] = "error"


class IsolationSettings(_Model):
    runtime: Literal["kata", "gvisor"] = "kata"
    kata: KataSettings = KataSettings()
    # None: the first installed class (kata-<first shim>, or gvisor).
    default_runtime_class: str | None = None
    capacity: CapacitySettings = CapacitySettings()

    @property
    def runtime_classes(self) -> tuple[str, ...]:
        """The RuntimeClasses sandboxes may use on this stack."""
        if self.runtime == "gvisor":
            return (c.GVISOR_RUNTIME_CLASS,)
        return tuple(c.kata_runtime_class(s) for s in self.kata.shims)

    @property
    def admitted_runtime_classes(self) -> tuple[str, ...]:
        """What sandboxes may name: the installed classes, plus kata-<shim>-debug with
        isolation.kata.debug (the same VM boundary, with the guest's debug console on)."""
        debug = self.runtime == "kata" and self.kata.debug
        extra = tuple(f"{rc}{c.KATA_DEBUG_SUFFIX}" for rc in self.runtime_classes) if debug else ()
        return (*self.runtime_classes, *extra)

    @property
    def effective_default_runtime_class(self) -> str:
        return self.default_runtime_class or self.runtime_classes[0]

    @model_validator(mode="after")
    def _default_class(self) -> IsolationSettings:
        installed = self.runtime_classes
        if self.default_runtime_class and self.default_runtime_class not in installed:
            raise ValueError(
                f"isolation.defaultRuntimeClass '{self.default_runtime_class}' is not installed "
                f"by this stack (isolation.runtime: {self.runtime}); use one of "
                f"{', '.join(installed)}, or remove it to follow isolation.runtime"
            )
        return self
