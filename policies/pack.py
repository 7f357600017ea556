"""The pack's policies: names, descriptions, remediation, default enforcement levels and config
schemas, each wired to a pure check in :mod:`rules`.

``__main__.py`` hands :func:`policies` to ``PolicyPack``; ``offline/policy.py`` hands the same
list to pulumi_policy's analyzer servicer, so tests exercise exactly what the engine runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from . import constants as c
from . import rules

PACK_NAME = c.PACK_NAME
PACK_DESCRIPTION = (
    "Sandboxes run under an allowed isolation runtime (Kata or gVisor) and are hardened; the "
    "platform around them (node pool, router, gateway) keeps that promise."
)
PACK_ENFORCEMENT_LEVEL = EnforcementLevel.MANDATORY

_DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

ALLOWED_RUNTIME_CLASSES_SCHEMA: dict[str, Any] = {
    "type": "array",
    "description": "RuntimeClass names a sandbox pod may use (default: the Kata classes and "
    "gvisor).",
    "items": {"type": "string", "pattern": _DNS1123_LABEL, "maxLength": 63},
    "minItems": 1,
    "uniqueItems": True,
    "default": list(c.ALLOWED_RUNTIME_CLASSES),
}
SANDBOX_NAMESPACES_SCHEMA: dict[str, Any] = {
    "type": "array",
    "description": "Namespaces whose Pods and pod-owning workloads are sandboxes.",
    "items": {"type": "string", "pattern": _DNS1123_LABEL, "maxLength": 63},
    "uniqueItems": True,
    "default": list(c.DEFAULT_SANDBOX_NAMESPACES),
}

Check = Callable[[ResourceValidationArgs, Mapping[str, Any]], list[str]]


@dataclass(frozen=True)
class PolicySpec:
    """Everything a policy says about itself; README and tests read it too."""

    name: str
    description: str
    remediation: str
    level: EnforcementLevel
    severity: Severity
    config: Mapping[str, Mapping[str, Any]]


def _defaults(config: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {k: v["default"] for k, v in config.items() if "default" in v}


def _configured(spec: PolicySpec, given: Mapping[str, Any]) -> dict[str, Any]:
    # The CLI fills defaults in from the schema; fill them again so a direct servicer run (or an
    # old CLI) sees the same values.
    return {**_defaults(spec.config), **dict(given)}


def _default_namespace(args: ResourceValidationArgs) -> str:
    """The Kubernetes provider's ``namespace`` when set, else Kubernetes' ``default``."""
    provider = args.provider
    if provider is not None and provider.resource_type == "pulumi:providers:kubernetes":
        ns = rules.get(provider.props, "namespace")
        if isinstance(ns, str) and ns:
            return ns
    return c.KUBERNETES_DEFAULT_NAMESPACE


def _resource_policy(spec: PolicySpec, check: Check) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        config = _configured(spec, args.get_config())
        for message in check(args, config):
            report(message, None)

    return ResourceValidationPolicy(
        name=spec.name,
        description=spec.description,
        validate=validate,
        enforcement_level=spec.level,
        config_schema=PolicyConfigSchema({k: dict(v) for k, v in spec.config.items()})
        if spec.config
        else None,
        severity=spec.severity,
        remediation_steps=spec.remediation,
        tags=["agent-sandbox"],
    )


def _stack_policy(spec: PolicySpec) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        resources = [rules.StackResource(r.resource_type, r.props, r.urn) for r in args.resources]
        for violation in rules.gateway_timeout_covers_router(resources):
            report(violation.message, violation.urn)

    return StackValidationPolicy(
        name=spec.name,
        description=spec.description,
        validate=validate,
        enforcement_level=spec.level,
        severity=spec.severity,
        remediation_steps=spec.remediation,
        tags=["agent-sandbox"],
    )


MANDATORY, ADVISORY = EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY

SANDBOX_RUNTIME_CLASS_REQUIRED = PolicySpec(
    "sandbox-runtime-class-required",
    "Sandboxes and SandboxTemplates name a runtime class; without one the sandbox silently runs "
    "as a plain container.",
    "Set spec.podTemplate.spec.runtimeClassName to an installed isolation runtime, e.g. "
    "kata-qemu (or leave runtimeClass unset in the stack's sandboxes settings to get "
    "isolation.defaultRuntimeClass).",
    MANDATORY,
    Severity.CRITICAL,
    {},
)
SANDBOX_RUNTIME_CLASS_ALLOWED = PolicySpec(
    "sandbox-runtime-class-allowed",
    "Sandboxes and SandboxTemplates use an allowed isolation runtime class (Kata or gVisor), "
    "never runc.",
    "Set spec.podTemplate.spec.runtimeClassName to one of the allowed classes; to allow "
    "another class, add it to this policy's allowedRuntimeClasses config.",
    MANDATORY,
    Severity.CRITICAL,
    {"allowedRuntimeClasses": ALLOWED_RUNTIME_CLASSES_SCHEMA},
)
WORKLOAD_RUNTIME_CLASS_REQUIRED = PolicySpec(
    "workload-runtime-class-required",
    "Pods and pod-owning workloads (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, "
    "CronJob) in sandbox namespaces name a runtime class.",
    "Set runtimeClassName in the pod spec (spec.template.spec for workloads), or move the "
    "workload out of the sandbox namespaces (this policy's sandboxNamespaces config).",
    MANDATORY,
    Severity.CRITICAL,
    {"sandboxNamespaces": SANDBOX_NAMESPACES_SCHEMA},
)
WORKLOAD_RUNTIME_CLASS_ALLOWED = PolicySpec(
    "workload-runtime-class-allowed",
    "Pods and pod-owning workloads in sandbox namespaces use an allowed isolation runtime class.",
    "Set the pod spec's runtimeClassName to one of the allowed classes (this policy's "
    "allowedRuntimeClasses config).",
    MANDATORY,
    Severity.CRITICAL,
    {
        "sandboxNamespaces": SANDBOX_NAMESPACES_SCHEMA,
        "allowedRuntimeClasses": ALLOWED_RUNTIME_CLASSES_SCHEMA,
    },
)
SANDBOX_POD_HARDENING = PolicySpec(
    "sandbox-pod-hardening",
    "Sandbox pods are hardened: not privileged, no host network/PID/IPC, no hostPath volumes, "
    "no privilege escalation, all capabilities dropped, CPU and memory limits, no service "
    "account token.",
    "In the pod spec set automountServiceAccountToken: false and leave hostNetwork/hostPID/"
    "hostIPC and hostPath volumes out; in every container set securityContext "
    "{privileged: false, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}} and "
    "resources.limits.cpu and .memory.",
    MANDATORY,
    Severity.HIGH,
    {"sandboxNamespaces": SANDBOX_NAMESPACES_SCHEMA},
)
KATA_NODE_POOL = PolicySpec(
    "kata-node-pool",
    "A GKE node pool that serves Kata sandboxes has nested virtualization, an Intel machine "
    "type and the UBUNTU_CONTAINERD image.",
    "Set nodeConfig.advancedMachineFeatures {enableNestedVirtualization: true, threadsPerCore}, "
    "an Intel machine type (N1 with minCpuPlatform Intel Haswell or later, N2, N4, C2, C3, C4) "
    "and nodeConfig.imageType UBUNTU_CONTAINERD.",
    MANDATORY,
    Severity.HIGH,
    {},
)
ROUTER_AUTHENTICATION_REQUIRED = PolicySpec(
    "router-authentication-required",
    "The sandbox router does not run unauthenticated (ALLOW_UNAUTHENTICATED_ROUTER=true).",
    "Remove ALLOW_UNAUTHENTICATED_ROUTER (router.allowUnauthenticated: false) and give the "
    "router ROUTER_AUTH_TOKEN from a Secret.",
    MANDATORY,
    Severity.CRITICAL,
    {},
)
GATEWAY_TIMEOUT_COVERS_ROUTER = PolicySpec(
    "gateway-timeout-covers-router",
    "The load balancer's backend timeout (GCPBackendPolicy timeoutSec) is not below the "
    "router's PROXY_TIMEOUT_SECONDS.",
    "Attach a GCPBackendPolicy to the router Service with spec.default.timeoutSec >= the "
    "router's PROXY_TIMEOUT_SECONDS (gateway.timeoutSec, or leave it unset to follow "
    "router.proxyTimeoutSeconds).",
    MANDATORY,
    Severity.MEDIUM,
    {},
)
IMAGES_PINNED_BY_DIGEST = PolicySpec(
    "images-pinned-by-digest",
    "The agent-sandbox controller and router images are pinned by digest, not a mutable tag.",
    "Use <repository>@sha256:<digest> for router.image, and a digest-pinned controller image "
    "(controlPlane.imageRegistry mirror).",
    ADVISORY,
    Severity.MEDIUM,
    {},
)

SPECS: tuple[PolicySpec, ...] = (
    SANDBOX_RUNTIME_CLASS_REQUIRED,
    SANDBOX_RUNTIME_CLASS_ALLOWED,
    WORKLOAD_RUNTIME_CLASS_REQUIRED,
    WORKLOAD_RUNTIME_CLASS_ALLOWED,
    SANDBOX_POD_HARDENING,
    KATA_NODE_POOL,
    ROUTER_AUTHENTICATION_REQUIRED,
    GATEWAY_TIMEOUT_COVERS_ROUTER,
    IMAGES_PINNED_BY_DIGEST,
)


def policies() -> list[Policy]:
    """A fresh list of the pack's policies."""

    def ns(a: ResourceValidationArgs, cfg: Mapping[str, Any]) -> tuple[Any, str]:
        return cfg["sandboxNamespaces"], _default_namespace(a)

    return [
        _resource_policy(
            SANDBOX_RUNTIME_CLASS_REQUIRED,
            lambda a, cfg: rules.sandbox_runtime_class_required(a.resource_type, a.props),
        ),
        _resource_policy(
            SANDBOX_RUNTIME_CLASS_ALLOWED,
            lambda a, cfg: rules.sandbox_runtime_class_allowed(
                a.resource_type, a.props, cfg["allowedRuntimeClasses"]
            ),
        ),
        _resource_policy(
            WORKLOAD_RUNTIME_CLASS_REQUIRED,
            lambda a, cfg: rules.workload_runtime_class_required(
                a.resource_type, a.props, *ns(a, cfg)
            ),
        ),
        _resource_policy(
            WORKLOAD_RUNTIME_CLASS_ALLOWED,
            lambda a, cfg: rules.workload_runtime_class_allowed(
                a.resource_type,
                a.props,
                cfg["sandboxNamespaces"],
                cfg["allowedRuntimeClasses"],
                _default_namespace(a),
            ),
        ),
        _resource_policy(
            SANDBOX_POD_HARDENING,
            lambda a, cfg: rules.sandbox_pod_hardening(a.resource_type, a.props, *ns(a, cfg)),
        ),
        _resource_policy(
            KATA_NODE_POOL, lambda a, cfg: rules.kata_node_pool(a.resource_type, a.props)
        ),
        _resource_policy(
            ROUTER_AUTHENTICATION_REQUIRED,
            lambda a, cfg: rules.router_authentication_required(a.resource_type, a.props),
        ),
        _stack_policy(GATEWAY_TIMEOUT_COVERS_ROUTER),
        _resource_policy(
            IMAGES_PINNED_BY_DIGEST,
            lambda a, cfg: rules.images_pinned_by_digest(a.resource_type, a.props),
        ),
    ]


ENFORCEMENT_LEVELS = [level.value for level in EnforcementLevel]


def config_json_schema() -> dict[str, Any]:
    """JSON Schema of a ``--policy-pack-config`` file for this pack: per policy, either an
    enforcement level or an object with ``enforcementLevel`` and the policy's properties;
    ``all`` sets every policy's level."""
    level = {"type": "string", "enum": ENFORCEMENT_LEVELS}
    properties: dict[str, Any] = {
        "all": {
            "oneOf": [
                level,
                {
                    "type": "object",
                    "properties": {"enforcementLevel": level},
                    "additionalProperties": False,
                },
            ]
        }
    }
    for spec in SPECS:
        properties[spec.name] = {
            "oneOf": [
                level,
                {
                    "type": "object",
                    "properties": {"enforcementLevel": level, **spec.config},
                    "additionalProperties": False,
                },
            ]
        }
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
