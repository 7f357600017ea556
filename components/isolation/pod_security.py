"""Secure defaults for sandbox pods and for the platform's own containers, and the Pod Security
Admission labels of the sandbox namespace.

Every sandbox pod runs non-root, without privilege escalation, with every capability dropped,
under the RuntimeDefault seccomp profile and without a service-account token. Only the explicit
``security:`` overrides of a workload change that (see ``SecurityOverrides``); privileged mode,
host namespaces and hostPath never pass settings validation.

Kata and the "restricted" profile: admission reads only the pod spec, and nothing "restricted"
demands conflicts with a Kata RuntimeClass (RuntimeDefault seccomp is accepted; the Kata agent
enforces it inside the guest only when Kata's disable_guest_seccomp is off — the VM is the
boundary either way). What conflicts is an *image* that must run as root, such as the seed's
envbuilder/VS Code sandbox: then the namespace enforces "baseline" and still warns about and
audits against "restricted", so every exception stays visible.
"""

from __future__ import annotations

from typing import Literal

import pulumi_kubernetes as k8s

from .. import constants as c
from ..settings import ResourceSettings, SecurityOverrides

RUNTIME_DEFAULT_SECCOMP = k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")


def pod_security_context(sec: SecurityOverrides) -> k8s.core.v1.PodSecurityContextArgs:
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=sec.run_as_non_root,
        run_as_user=sec.run_as_user,
        run_as_group=sec.run_as_group,
        fs_group=sec.fs_group,
        seccomp_profile=RUNTIME_DEFAULT_SECCOMP,
    )


def container_security_context(sec: SecurityOverrides) -> k8s.core.v1.SecurityContextArgs:
    # Repeated at container level: some scanners and policies read only the container.
    return k8s.core.v1.SecurityContextArgs(
        privileged=False,
        allow_privilege_escalation=sec.allow_privilege_escalation,
        capabilities=k8s.core.v1.CapabilitiesArgs(
            drop=["ALL"], add=list(sec.add_capabilities) or None
        ),
        run_as_non_root=sec.run_as_non_root,
        read_only_root_filesystem=sec.read_only_root_filesystem,
        seccomp_profile=RUNTIME_DEFAULT_SECCOMP,
    )


def platform_container_security_context(uid: int) -> k8s.core.v1.SecurityContextArgs:
    """The controller's and router's containers: a fixed non-root user, read-only root, nothing
    added — what the upstream manifests leave out."""
    return k8s.core.v1.SecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=True,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=RUNTIME_DEFAULT_SECCOMP,
    )


def resource_requirements(resources: ResourceSettings) -> k8s.core.v1.ResourceRequirementsArgs:
    """Settings' resource maps (keys typed as Literals) as the SDK's requirements."""
    return k8s.core.v1.ResourceRequirementsArgs(
        requests={str(k): v for k, v in resources.requests.items()} or None,
        limits={str(k): v for k, v in resources.limits.items()} or None,
    )


def namespace_labels(level: Literal["restricted", "baseline"]) -> dict[str, str]:
    """PSA labels: enforce ``level``; always warn about and audit against "restricted"."""
    labels: dict[str, str] = {}
    for mode in c.PSA_MODES:
        value = level if mode == "enforce" else "restricted"
        labels[f"{c.PSA_LABEL_PREFIX}{mode}"] = value
        labels[f"{c.PSA_LABEL_PREFIX}{mode}-version"] = "latest"
    return labels
