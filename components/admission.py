"""AdmissionBackstop: ValidatingAdmissionPolicies that hold the runtime-class line in the cluster.

The policy pack stops a bad sandbox before ``pulumi up``; sandboxes that SDK clients create at
run time (claims against warm pools) never pass through Pulumi. In the sandbox namespaces these
policies reject Sandboxes, SandboxTemplates and Pods whose ``runtimeClassName`` is missing, blank
or not one of the RuntimeClasses this stack installs, and privileged or host-namespace pods.
SandboxClaims and SandboxWarmPools carry no pod spec: the Sandbox the controller creates for
them is what gets checked.

Paramless CEL: the installed classes are inlined into the expressions, so a change of
``isolation`` updates the policy in the same ``pulumi up`` with nothing else to keep in sync.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from . import constants as c

admission = k8s.admissionregistration.v1

# Names of the CEL variables; the validations below read them.
SANDBOX_SPEC = "object.spec.podTemplate.spec"
POD_SPEC = "object.spec"


def _cel_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def variables(spec_expression: str) -> list[admission.VariableArgs]:
    """``spec``: the pod spec under check; ``containers``: every container kind in it (an init
    or ephemeral container is as able to break out as a main one)."""
    kinds = ("containers", "initContainers", "ephemeralContainers")
    containers = " + ".join(f"(has(variables.spec.{k}) ? variables.spec.{k} : [])" for k in kinds)
    return [
        admission.VariableArgs(name="spec", expression=spec_expression),
        admission.VariableArgs(name="containers", expression=containers),
    ]


def validations(where: str, runtime_classes: Sequence[str]) -> list[admission.ValidationArgs]:
    """The checks, with ``where`` (the spec's path) in the messages."""
    allowed = _cel_list(runtime_classes)
    shown = ", ".join(runtime_classes)
    blank = "variables.spec.runtimeClassName.matches('^\\\\s*$')"
    return [
        admission.ValidationArgs(
            expression=f"has(variables.spec.runtimeClassName) && !{blank}",
            message=(
                f"{where}.runtimeClassName is required in this namespace: without it the "
                f"sandbox runs as a plain container; set it to one of {shown}"
            ),
            reason="Forbidden",
        ),
        admission.ValidationArgs(
            expression=(
                f"!has(variables.spec.runtimeClassName) || {blank} || "
                f"variables.spec.runtimeClassName in {allowed}"
            ),
            message_expression=(
                f"'{where}.runtimeClassName ' + variables.spec.runtimeClassName + "
                f"' is not an isolation runtime installed on this cluster; use one of {shown}'"
            ),
            reason="Forbidden",
        ),
        admission.ValidationArgs(
            expression=(
                "variables.containers.all(ctr, !has(ctr.securityContext) || "
                "!has(ctr.securityContext.privileged) || !ctr.securityContext.privileged)"
            ),
            message=(
                f"privileged containers are not allowed in sandboxes ({where}: containers, "
                "initContainers, ephemeralContainers)"
            ),
            reason="Forbidden",
        ),
        admission.ValidationArgs(
            expression=" && ".join(
                f"!(has(variables.spec.{f}) && variables.spec.{f})"
                for f in ("hostNetwork", "hostPID", "hostIPC")
            ),
            message=f"sandboxes must not share the node's network, PID or IPC namespace ({where})",
            reason="Forbidden",
        ),
    ]


def _binding_spec(
    policy_name: str, namespaces: Sequence[str]
) -> admission.ValidatingAdmissionPolicyBindingSpecArgs:
    return admission.ValidatingAdmissionPolicyBindingSpecArgs(
        policy_name=policy_name,
        validation_actions=["Deny"],
        match_resources=admission.MatchResourcesArgs(
            namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                match_expressions=[
                    k8s.meta.v1.LabelSelectorRequirementArgs(
                        key=c.NAMESPACE_NAME_LABEL, operator="In", values=list(namespaces)
                    )
                ]
            )
        ),
    )


@dataclass(frozen=True)
class AdmissionBackstopArgs:
    # Namespaces where sandboxes live (PlatformSettings.sandbox_namespaces).
    namespaces: Sequence[str]
    # RuntimeClasses this stack installs (IsolationSettings.runtime_classes).
    runtime_classes: Sequence[str]

    def __post_init__(self) -> None:
        if not self.namespaces or not self.runtime_classes:
            raise ValueError("AdmissionBackstop needs at least one namespace and runtime class")


class AdmissionBackstop(pulumi.ComponentResource):
    sandbox_policy: admission.ValidatingAdmissionPolicy
    sandbox_binding: admission.ValidatingAdmissionPolicyBinding
    pod_policy: admission.ValidatingAdmissionPolicy
    pod_binding: admission.ValidatingAdmissionPolicyBinding

    def __init__(
        self, name: str, args: AdmissionBackstopArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(c.type_token("admission", "AdmissionBackstop"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {**c.COMMON_LABELS, c.COMPONENT_LABEL: "admission"}
        classes = list(args.runtime_classes)

        # Two policies, not one: each expression then type-checks against a single pod-spec
        # shape (the API server checks a policy's CEL against every kind it matches).
        self.sandbox_policy = admission.ValidatingAdmissionPolicy(
            f"{name}-sandbox-policy",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=c.ADMISSION_SANDBOX_POLICY_NAME, labels=labels
            ),
            spec=admission.ValidatingAdmissionPolicySpecArgs(
                failure_policy="Fail",
                match_constraints=admission.MatchResourcesArgs(
                    resource_rules=[
                        admission.NamedRuleWithOperationsArgs(
                            api_groups=[c.AGENTS_GROUP],
                            api_versions=[c.AGENTS_VERSION],
                            operations=["CREATE", "UPDATE"],
                            resources=[c.SANDBOX_RESOURCE],
                        ),
                        admission.NamedRuleWithOperationsArgs(
                            api_groups=[c.EXTENSIONS_GROUP],
                            api_versions=[c.AGENTS_VERSION],
                            operations=["CREATE", "UPDATE"],
                            resources=[c.SANDBOX_TEMPLATE_RESOURCE],
                        ),
                    ]
                ),
                # An update that leaves the pod template alone (finalizers, labels) is never
                # refused, so an object created before this policy can still be deleted.
                match_conditions=[
                    admission.MatchConditionArgs(
                        name="pod-template-created-or-changed",
                        expression=(
                            "request.operation != 'UPDATE' || "
                            "object.spec.podTemplate != oldObject.spec.podTemplate"
                        ),
                    )
                ],
                variables=variables(SANDBOX_SPEC),
                validations=validations("spec.podTemplate.spec", classes),
            ),
            opts=child,
        )
        self.pod_policy = admission.ValidatingAdmissionPolicy(
            f"{name}-pod-policy",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=c.ADMISSION_POD_POLICY_NAME, labels=labels),
            spec=admission.ValidatingAdmissionPolicySpecArgs(
                failure_policy="Fail",
                # CREATE only: a pod's runtime class and containers cannot change afterwards,
                # and refusing updates would block status and finalizer changes.
                match_constraints=admission.MatchResourcesArgs(
                    resource_rules=[
                        admission.NamedRuleWithOperationsArgs(
                            api_groups=[""],
                            api_versions=["v1"],
                            operations=["CREATE"],
                            resources=["pods"],
                        )
                    ]
                ),
                variables=variables(POD_SPEC),
                validations=validations("spec", classes),
            ),
            opts=child,
        )
        self.sandbox_binding = admission.ValidatingAdmissionPolicyBinding(
            f"{name}-sandbox-binding",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=c.ADMISSION_SANDBOX_POLICY_NAME, labels=labels
            ),
            spec=_binding_spec(c.ADMISSION_SANDBOX_POLICY_NAME, args.namespaces),
            opts=child.merge(pulumi.ResourceOptions(depends_on=[self.sandbox_policy])),
        )
        self.pod_binding = admission.ValidatingAdmissionPolicyBinding(
            f"{name}-pod-binding",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=c.ADMISSION_POD_POLICY_NAME, labels=labels),
            spec=_binding_spec(c.ADMISSION_POD_POLICY_NAME, args.namespaces),
            opts=child.merge(pulumi.ResourceOptions(depends_on=[self.pod_policy])),
        )
        self.register_outputs(
            {
                "sandboxPolicy": self.sandbox_policy.metadata.name,
                "sandboxBinding": self.sandbox_binding.metadata.name,
                "podPolicy": self.pod_policy.metadata.name,
                "podBinding": self.pod_binding.metadata.name,
            }
        )
