"""Typed agent-sandbox v1beta1 resources: ``Sandbox``, ``SandboxTemplate``, ``SandboxWarmPool``.

Importable by any Pulumi program that has the agent-sandbox CRDs installed::

    from components.agent_sandbox.sandbox_types import Sandbox, SandboxArgs

    Sandbox("dev-box", SandboxArgs(
        name="dev-box",
        namespace="agent-sandboxes",
        runtime_class_name="kata-qemu",
        pod_template=k8s.core.v1.PodTemplateSpecArgs(spec=k8s.core.v1.PodSpecArgs(containers=[...])),
    ))

The args are frozen dataclasses checked when they are built; the pod template, the volume claim
templates and the network policy rules are pulumi_kubernetes' own typed args, so they serialize
camelCase exactly as the CRDs (which embed the core PodSpec / PVC / NetworkPolicy rule schemas)
expect. ``runtime_class_name`` is required and must be a plain string: policy packs read it
during preview, when an Output would still be unknown.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

import pulumi
import pulumi_kubernetes as k8s

from .. import constants as c

OperatingMode = Literal["Running", "Suspended"]
ShutdownPolicy = Literal["Retain", "Delete"]
NetworkPolicyManagement = Literal["Managed", "Unmanaged"]
ClaimInjectionPolicy = Literal["Disallowed", "Allowed", "Overrides"]
WarmPoolUpdateStrategy = Literal["OnReplenish", "Recreate"]

# Sandbox names become pod hostnames and headless Service names: DNS-1123 labels.
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _check_name(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a plain str, not {type(value).__name__}")
    if not _DNS1123_LABEL.match(value):
        raise ValueError(
            f"{what} '{value}' is not a DNS-1123 label (lower-case letters, digits and '-', "
            "at most 63 characters, starting and ending alphanumeric)"
        )
    return value


def _check_choice(value: object, allowed: Any, what: str) -> None:
    choices = get_args(allowed)
    if value is not None and value not in choices:
        raise ValueError(f"{what} '{value}' is not one of {', '.join(choices)}")


def _metadata(
    name: str,
    namespace: pulumi.Input[str] | None,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(
        name=name,
        namespace=namespace,
        labels=dict(labels) or None,
        annotations=dict(annotations) or None,
    )


@dataclass(frozen=True, kw_only=True)
class SandboxNetworkPolicyArgs:
    """SandboxTemplate ``networkPolicy``: the controller applies these rules to every sandbox
    of the template (it owns podSelector and policyTypes). An empty list denies that direction
    entirely."""

    ingress: Sequence[k8s.networking.v1.NetworkPolicyIngressRuleArgs] = ()
    egress: Sequence[k8s.networking.v1.NetworkPolicyEgressRuleArgs] = ()

    def to_input(self) -> dict[str, Any]:
        return {"ingress": list(self.ingress), "egress": list(self.egress)}


@dataclass(frozen=True, kw_only=True)
class _BlueprintArgs:
    """What Sandbox and SandboxTemplate share (upstream's SandboxBlueprint)."""

    # Kubernetes object name. Required (no auto-naming): SDK clients and the router address
    # sandboxes, templates and pools by name.
    name: str
    runtime_class_name: str
    pod_template: k8s.core.v1.PodTemplateSpecArgs
    namespace: pulumi.Input[str] | None = None
    volume_claim_templates: Sequence[k8s.core.v1.PersistentVolumeClaimArgs] = ()
    # A headless Service named after the sandbox (how the router resolves it).
    service: bool | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name(self.name, "name")
        rc = self.runtime_class_name
        if not isinstance(rc, str):
            raise TypeError(
                "runtime_class_name must be a plain str (policies read it during preview, when "
                f"an Output is still unknown), not {type(rc).__name__}"
            )
        if not rc.strip():
            raise ValueError(
                f"runtime_class_name of '{self.name}' is blank; every sandbox names its "
                f"RuntimeClass (e.g. {c.kata_runtime_class('qemu')} or {c.GVISOR_RUNTIME_CLASS})"
            )
        tpl = self.pod_template
        if not isinstance(tpl, k8s.core.v1.PodTemplateSpecArgs):
            raise TypeError("pod_template must be a k8s.core.v1.PodTemplateSpecArgs")
        spec = tpl.spec
        if not isinstance(spec, k8s.core.v1.PodSpecArgs):
            raise TypeError(
                "pod_template.spec must be a k8s.core.v1.PodSpecArgs (not an Output or a dict), "
                "so that its runtimeClassName stays a plain, checkable string"
            )
        if isinstance(spec.containers, Sequence) and not spec.containers:
            raise ValueError(f"pod_template.spec.containers of '{self.name}' is empty")
        inner = spec.runtime_class_name
        if inner is not None and inner != rc:
            raise ValueError(
                f"pod_template.spec.runtime_class_name '{inner}' contradicts runtime_class_name "
                f"'{rc}' of '{self.name}'; set it once, in runtime_class_name"
            )
        for claim in self.volume_claim_templates:
            if not isinstance(claim, k8s.core.v1.PersistentVolumeClaimArgs):
                raise TypeError("volume_claim_templates items must be PersistentVolumeClaimArgs")

    def rendered_pod_template(self) -> k8s.core.v1.PodTemplateSpecArgs:
        """The pod template with ``runtimeClassName`` set (copies; the caller's args stay
        untouched)."""
        spec = copy.copy(self.pod_template.spec)
        pulumi.set(spec, "runtime_class_name", self.runtime_class_name)
        tpl = copy.copy(self.pod_template)
        pulumi.set(tpl, "spec", spec)
        return tpl

    def _blueprint(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"podTemplate": self.rendered_pod_template()}
        if self.volume_claim_templates:
            spec["volumeClaimTemplates"] = list(self.volume_claim_templates)
        if self.service is not None:
            spec["service"] = self.service
        return spec


@dataclass(frozen=True, kw_only=True)
class SandboxArgs(_BlueprintArgs):
    """``agents.x-k8s.io/v1beta1`` Sandbox. There is no ``replicas``: a sandbox is one pod,
    paused with ``operating_mode="Suspended"``."""

    operating_mode: OperatingMode | None = None
    # RFC 3339 time at which the controller shuts the sandbox down.
    shutdown_time: str | None = None
    shutdown_policy: ShutdownPolicy | None = None
    # Adds pulumi.com/waitFor: condition=Ready, so `pulumi up` returns once the sandbox is Ready.
    # Off for a suspended sandbox, which never becomes Ready.
    wait_for_ready: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice(self.operating_mode, OperatingMode, "operating_mode")
        _check_choice(self.shutdown_policy, ShutdownPolicy, "shutdown_policy")
        if self.shutdown_time is not None:
            valid = bool(_RFC3339.match(self.shutdown_time))
            if valid:
                try:
                    datetime.fromisoformat(self.shutdown_time)
                except ValueError:
                    valid = False
            if not valid:
                raise ValueError(
                    f"shutdown_time '{self.shutdown_time}' is not an RFC 3339 time with a zone "
                    "(e.g. 2026-12-31T23:59:59Z)"
                )

    @property
    def waits_for_ready(self) -> bool:
        return self.wait_for_ready and self.operating_mode != "Suspended"

    def metadata(self) -> k8s.meta.v1.ObjectMetaArgs:
        annotations = dict(self.annotations)
        if self.waits_for_ready:
            annotations[c.WAIT_FOR_ANNOTATION] = c.WAIT_FOR_READY
        return _metadata(self.name, self.namespace, self.labels, annotations)

    def spec(self) -> dict[str, Any]:
        spec = self._blueprint()
        for key, value in (
            ("operatingMode", self.operating_mode),
            ("shutdownTime", self.shutdown_time),
            ("shutdownPolicy", self.shutdown_policy),
        ):
            if value is not None:
                spec[key] = value
        return spec


@dataclass(frozen=True, kw_only=True)
class SandboxTemplateArgs(_BlueprintArgs):
    """``extensions.agents.x-k8s.io/v1beta1`` SandboxTemplate: the blueprint warm pools and
    claims stamp sandboxes from.

    ``network_policy=None`` with management ``Managed`` leaves upstream's default policy in
    place, whose egress also blocks cluster DNS; pass explicit rules to allow it.
    """

    network_policy: SandboxNetworkPolicyArgs | None = None
    network_policy_management: NetworkPolicyManagement | None = None
    env_vars_injection_policy: ClaimInjectionPolicy | None = None
    volume_claim_templates_policy: ClaimInjectionPolicy | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice(
            self.network_policy_management, NetworkPolicyManagement, "network_policy_management"
        )
        _check_choice(
            self.env_vars_injection_policy, ClaimInjectionPolicy, "env_vars_injection_policy"
        )
        _check_choice(
            self.volume_claim_templates_policy,
            ClaimInjectionPolicy,
            "volume_claim_templates_policy",
        )
        if self.network_policy is not None and self.network_policy_management == "Unmanaged":
            raise ValueError(
                f"'{self.name}' sets network_policy with network_policy_management 'Unmanaged', "
                "which makes the controller ignore it; use 'Managed' or drop the rules"
            )

    def metadata(self) -> k8s.meta.v1.ObjectMetaArgs:
        return _metadata(self.name, self.namespace, self.labels, self.annotations)

    def spec(self) -> dict[str, Any]:
        spec = self._blueprint()
        if self.network_policy is not None:
            spec["networkPolicy"] = self.network_policy.to_input()
        for key, value in (
            ("networkPolicyManagement", self.network_policy_management),
            ("envVarsInjectionPolicy", self.env_vars_injection_policy),
            ("volumeClaimTemplatesPolicy", self.volume_claim_templates_policy),
        ):
            if value is not None:
                spec[key] = value
        return spec


@dataclass(frozen=True, kw_only=True)
class SandboxWarmPoolArgs:
    """``extensions.agents.x-k8s.io/v1beta1`` SandboxWarmPool: keeps ``replicas`` sandboxes of
    a template booted for claims (0 still lets claims cold-start)."""

    name: str
    # The template's name, or the SandboxTemplate resource itself (then the pool also waits
    # for it).
    template: str | SandboxTemplate
    namespace: pulumi.Input[str] | None = None
    replicas: int | None = None
    update_strategy: WarmPoolUpdateStrategy | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name(self.name, "name")
        if isinstance(self.template, str):
            _check_name(self.template, "template")
        elif not isinstance(self.template, SandboxTemplate):
            raise TypeError("template must be a template name or a SandboxTemplate")
        if self.replicas is not None and (
            isinstance(self.replicas, bool) or not isinstance(self.replicas, int)
        ):
            raise TypeError("replicas must be an int")
        if self.replicas is not None and self.replicas < 0:
            raise ValueError(f"replicas of '{self.name}' is negative ({self.replicas})")
        _check_choice(self.update_strategy, WarmPoolUpdateStrategy, "update_strategy")

    @property
    def template_name(self) -> str:
        t = self.template
        return t if isinstance(t, str) else t.template_name

    def metadata(self) -> k8s.meta.v1.ObjectMetaArgs:
        return _metadata(self.name, self.namespace, self.labels, self.annotations)

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"sandboxTemplateRef": {"name": self.template_name}}
        if self.replicas is not None:
            spec["replicas"] = self.replicas
        if self.update_strategy is not None:
            spec["updateStrategy"] = {"type": self.update_strategy}
        return spec


class Sandbox(k8s.apiextensions.CustomResource):
    """One isolated sandbox pod (type token ``kubernetes:agents.x-k8s.io/v1beta1:Sandbox``)."""

    sandbox_name: str
    runtime_class_name: str

    def __init__(
        self, resource_name: str, args: SandboxArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            resource_name,
            api_version=c.SANDBOX_API_VERSION,
            kind=c.KIND_SANDBOX,
            metadata=args.metadata(),
            spec=args.spec(),
            opts=opts,
        )
        self.sandbox_name = args.name
        self.runtime_class_name = args.runtime_class_name


class SandboxTemplate(k8s.apiextensions.CustomResource):
    """A sandbox blueprint (``kubernetes:extensions.agents.x-k8s.io/v1beta1:SandboxTemplate``)."""

    template_name: str
    runtime_class_name: str

    def __init__(
        self,
        resource_name: str,
        args: SandboxTemplateArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            resource_name,
            api_version=c.EXTENSIONS_API_VERSION,
            kind=c.KIND_SANDBOX_TEMPLATE,
            metadata=args.metadata(),
            spec=args.spec(),
            opts=opts,
        )
        self.template_name = args.name
        self.runtime_class_name = args.runtime_class_name


class SandboxWarmPool(k8s.apiextensions.CustomResource):
    """Pre-booted sandboxes of a template
    (``kubernetes:extensions.agents.x-k8s.io/v1beta1:SandboxWarmPool``)."""

    pool_name: str
    template_name: str

    def __init__(
        self,
        resource_name: str,
        args: SandboxWarmPoolArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        if isinstance(args.template, SandboxTemplate):
            opts = pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(depends_on=[args.template])
            )
        super().__init__(
            resource_name,
            api_version=c.EXTENSIONS_API_VERSION,
            kind=c.KIND_SANDBOX_WARM_POOL,
            metadata=args.metadata(),
            spec=args.spec(),
            opts=opts,
        )
        self.pool_name = args.name
        self.template_name = args.template_name


__all__ = [
    "Sandbox",
    "SandboxArgs",
    "SandboxNetworkPolicyArgs",
    "SandboxTemplate",
    "SandboxTemplateArgs",
    "SandboxWarmPool",
    "SandboxWarmPoolArgs",
]
