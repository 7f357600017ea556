"""AdmissionBackstop: ValidatingAdmissionPolicies that hold the sandbox line in the cluster.

The policy pack stops a bad sandbox before ``pulumi up``; sandboxes that SDK clients create at
run time (claims against warm pools) never pass through Pulumi, and the agent-sandbox controller
creates their pods with a ClusterRoleBinding, in whatever namespace a Sandbox sits. So every
binding here is cluster-wide, and each policy picks what it checks itself (docs/threat-model.md):

- ``namespaces``: Sandboxes, SandboxTemplates, SandboxClaims and SandboxWarmPools are created
  only in the namespaces the platform allows (its sandboxes namespace, ``tenants[]``,
  ``admission.sandboxNamespaces``); anywhere else the controller would build pods for them.
- ``sandbox`` (Sandbox, SandboxTemplate) and ``pod`` (every pod in an allowed namespace, and
  every pod the controller creates or that carries its label or a Sandbox owner, anywhere; also
  ephemeral containers added later): an installed isolation RuntimeClass, and nothing that
  reaches the node through the VM: privileged, host namespaces, hostPath, host ports,
  capabilities beyond Pod Security baseline, a service-account token, Unconfined seccomp or
  AppArmor, an unmasked /proc, unsafe sysctls, ``io.katacontainers.*`` annotations.
- ``claim``: a SandboxClaim's ``additionalPodMetadata`` carries no ``io.katacontainers.*``
  annotation (the controller copies it onto the adopted Sandbox and its pod; its own blocklist
  covers only kubernetes.io, k8s.io and agents.x-k8s.io).
- ``pod-security``: the Pod Security level of a namespace the platform created is never lowered.
- ``node``: kata-deploy's service account may change only its own node's Kata labels.

Paramless CEL: classes, namespaces and levels are inlined into the expressions, so a settings
change updates the policy in the same ``pulumi up`` with nothing else to keep in sync.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from .. import constants as c

admission = k8s.admissionregistration.v1

# Where each policy finds the pod spec and the pod's annotations.
SANDBOX_SPEC = "object.spec.podTemplate.spec"
SANDBOX_ANNOTATIONS = (
    "has(object.spec.podTemplate.metadata) && has(object.spec.podTemplate.metadata.annotations)"
    " ? object.spec.podTemplate.metadata.annotations : {}"
)
POD_SPEC = "object.spec"
POD_ANNOTATIONS = "has(object.metadata.annotations) ? object.metadata.annotations : {}"

PSA_RANK = {"privileged": 0, "baseline": 1, "restricted": 2}
CU = ["CREATE", "UPDATE"]
APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"


def _cel_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def _cel_map(values: Mapping[str, str | Sequence[str]]) -> str:
    def one(v: str | Sequence[str]) -> str:
        return f"'{v}'" if isinstance(v, str) else _cel_list(v)

    return "{" + ", ".join(f"'{k}': {one(v)}" for k, v in values.items()) + "}"


def _user(namespace: str, service_account: str) -> str:
    return f"system:serviceaccount:{namespace}:{service_account}"


CONTROLLER_USER = _user(c.AGENT_SANDBOX_NAMESPACE, c.CONTROLLER_SERVICE_ACCOUNT)


def sandbox_pod_condition(namespaces: Sequence[str]) -> str:
    """A pod the sandbox checks apply to: anything in an allowed namespace, and wherever it is,
    one the controller creates, or that carries the controller's label or a Sandbox owner (an
    ephemeral container arrives from another user, long after the controller)."""
    return (
        f"request.namespace in {_cel_list(namespaces)} || "
        f"request.userInfo.username == '{CONTROLLER_USER}' || "
        f"(has(object.metadata.labels) && '{c.SANDBOX_POD_LABEL}' in object.metadata.labels)"
        " || (has(object.metadata.ownerReferences) && object.metadata.ownerReferences.exists("
        f"o, o.kind == '{c.KIND_SANDBOX}' && o.apiVersion.startsWith('{c.AGENTS_GROUP}/')))"
    )


def variables(
    spec_expression: str, annotations_expression: str, from_sandbox: str = "true"
) -> list[admission.VariableArgs]:
    """``spec``: the pod spec under check; ``containers``: every container kind in it (an init
    or ephemeral container is as able to break out as a main one); ``annotations``: the pod's;
    ``fromSandbox``: whether the pod is a sandbox's (those never carry a token)."""
    kinds = ("containers", "initContainers", "ephemeralContainers")
    containers = " + ".join(f"(has(variables.spec.{k}) ? variables.spec.{k} : [])" for k in kinds)
    return [
        admission.VariableArgs(name="spec", expression=spec_expression),
        admission.VariableArgs(name="containers", expression=containers),
        admission.VariableArgs(name="annotations", expression=annotations_expression),
        admission.VariableArgs(name="fromSandbox", expression=from_sandbox),
    ]


def _check(expression: str, message: str) -> admission.ValidationArgs:
    return admission.ValidationArgs(expression=expression, message=message, reason="Forbidden")


def _ctx(field_: str) -> str:
    """``field_`` of a container's securityContext is absent, or the expression after &&."""
    return f"!has(ctr.securityContext) || !has(ctr.securityContext.{field_}) || "


def validations(
    where: str,
    runtime_classes: Sequence[str],
    namespace_runtime_classes: Mapping[str, Sequence[str]] | None = None,
) -> list[admission.ValidationArgs]:
    """The checks, with ``where`` (the spec's path) in the messages. A namespace listed in
    ``namespace_runtime_classes`` may use only its own classes (a tenant's runtimeClasses)."""
    allowed = _cel_list(runtime_classes)
    if namespace_runtime_classes:
        per_ns = _cel_map(namespace_runtime_classes)
        allowed = f"(request.namespace in {per_ns} ? {per_ns}[request.namespace] : {allowed})"
    shown = ", ".join(runtime_classes)
    blank = "variables.spec.runtimeClassName.matches('^\\\\s*$')"
    pod_ctx = "variables.spec.securityContext"
    baseline = _cel_list(c.BASELINE_CAPABILITIES)
    return [
        _check(
            f"has(variables.spec.runtimeClassName) && !{blank}",
            f"{where}.runtimeClassName is required in this namespace: without it the sandbox "
            f"runs as a plain container; set it to one of {shown}",
        ),
        admission.ValidationArgs(
            expression=(
                f"!has(variables.spec.runtimeClassName) || {blank} || "
                f"variables.spec.runtimeClassName in {allowed}"
            ),
            message_expression=(
                f"'{where}.runtimeClassName ' + variables.spec.runtimeClassName + "
                "' is not an isolation runtime installed for this namespace; use one of "
                f"{shown} (a tenant may be limited to its tenants[].runtimeClasses)'"
            ),
            reason="Forbidden",
        ),
        _check(
            "variables.containers.all(ctr, "
            + _ctx("privileged")
            + "!ctr.securityContext.privileged)",
            f"privileged containers are not allowed in sandboxes ({where}: containers, "
            "initContainers, ephemeralContainers); remove securityContext.privileged",
        ),
        _check(
            " && ".join(
                f"!(has(variables.spec.{f}) && variables.spec.{f})"
                for f in ("hostNetwork", "hostPID", "hostIPC")
            ),
            f"sandboxes must not share the node's network, PID or IPC namespace ({where}); "
            "remove hostNetwork, hostPID and hostIPC",
        ),
        _check(
            "!has(variables.spec.volumes) || variables.spec.volumes.all(v, !has(v.hostPath))",
            f"hostPath volumes are not allowed in sandboxes ({where}.volumes): Kata shares the "
            "host path into the VM, which hands the node's files to the sandbox; use emptyDir "
            "or a PersistentVolumeClaim",
        ),
        _check(
            "variables.containers.all(ctr, !has(ctr.ports) || "
            "ctr.ports.all(p, !has(p.hostPort) || p.hostPort == 0))",
            f"host ports are not allowed in sandboxes ({where}: containers[].ports[].hostPort); "
            "remove hostPort — clients reach sandboxes through the router",
        ),
        _check(
            "variables.containers.all(ctr, "
            + _ctx("capabilities")
            + "!has(ctr.securityContext.capabilities.add) || "
            f"ctr.securityContext.capabilities.add.all(cap, cap in {baseline}))",
            f"sandboxes may add only Pod Security baseline capabilities ({where}: "
            f"securityContext.capabilities.add); allowed: {', '.join(c.BASELINE_CAPABILITIES)}",
        ),
        _check(
            "!variables.fromSandbox || ("
            "(!has(variables.spec.serviceAccountName) || "
            "variables.spec.serviceAccountName in ['', 'default']) && "
            "(!has(variables.spec.serviceAccount) || "
            "variables.spec.serviceAccount in ['', 'default']) && "
            "has(variables.spec.automountServiceAccountToken) && "
            "!variables.spec.automountServiceAccountToken && "
            "(!has(variables.spec.volumes) || variables.spec.volumes.all(v, !has(v.projected) || "
            "!has(v.projected.sources) || v.projected.sources.all(s, "
            "!has(s.serviceAccountToken)))))",
            f"sandboxes carry no Kubernetes credentials ({where}): set "
            "automountServiceAccountToken: false, remove serviceAccountName and any projected "
            "serviceAccountToken volume — code in a sandbox would act as that service account",
        ),
        _check(
            f"!(has({pod_ctx}) && has({pod_ctx}.seccompProfile) && "
            f"{pod_ctx}.seccompProfile.type == 'Unconfined') && "
            "variables.containers.all(ctr, "
            + _ctx("seccompProfile")
            + "ctr.securityContext.seccompProfile.type != 'Unconfined')",
            f"seccomp profile Unconfined is not allowed in sandboxes ({where}: "
            "securityContext.seccompProfile); use RuntimeDefault",
        ),
        _check(
            f"!(has({pod_ctx}) && has({pod_ctx}.appArmorProfile) && "
            f"{pod_ctx}.appArmorProfile.type == 'Unconfined') && "
            "variables.containers.all(ctr, "
            + _ctx("appArmorProfile")
            + "ctr.securityContext.appArmorProfile.type != 'Unconfined') && "
            f"variables.annotations.all(k, !k.startsWith('{APPARMOR_ANNOTATION_PREFIX}') || "
            "variables.annotations[k] != 'unconfined')",
            f"AppArmor profile Unconfined is not allowed in sandboxes ({where}: "
            "securityContext.appArmorProfile, or the AppArmor annotation); use RuntimeDefault",
        ),
        _check(
            "variables.containers.all(ctr, "
            + _ctx("procMount")
            + "ctr.securityContext.procMount == 'Default')",
            f"procMount Unmasked is not allowed in sandboxes ({where}: "
            "securityContext.procMount); remove it",
        ),
        _check(
            f"!has({pod_ctx}) || !has({pod_ctx}.sysctls) || "
            f"{pod_ctx}.sysctls.all(s, s.name in {_cel_list(c.SAFE_SYSCTLS)})",
            f"only the Pod Security baseline's safe sysctls are allowed in sandboxes ({where}: "
            f"securityContext.sysctls); allowed: {', '.join(c.SAFE_SYSCTLS)}",
        ),
        _check(
            f"variables.annotations.all(k, !k.startsWith('{c.KATA_ANNOTATION_PREFIX}'))",
            f"{c.KATA_ANNOTATION_PREFIX}* annotations are not allowed on sandbox pods: they set "
            "the VM's kernel parameters and hypervisor; remove them (the platform configures "
            "Kata through its RuntimeClasses)",
        ),
    ]


def namespace_validations(namespaces: Sequence[str]) -> list[admission.ValidationArgs]:
    shown = ", ".join(namespaces)
    return [
        admission.ValidationArgs(
            expression=f"request.namespace in {_cel_list(namespaces)}",
            message_expression=(
                "request.kind.kind + ' objects may be created only in the namespaces the "
                f"platform gives sandboxes ({shown}); not in ' + request.namespace + "
                "': ask the platform team to declare it under tenants'"
            ),
            reason="Forbidden",
        )
    ]


def claim_validations() -> list[admission.ValidationArgs]:
    meta = "object.spec.additionalPodMetadata"
    return [
        _check(
            f"!has(object.spec) || !has({meta}) || !has({meta}.annotations) || "
            f"{meta}.annotations.all(k, !k.startsWith('{c.KATA_ANNOTATION_PREFIX}'))",
            f"spec.additionalPodMetadata.annotations: {c.KATA_ANNOTATION_PREFIX}* annotations "
            "set the sandbox VM's kernel parameters and hypervisor; remove them",
        )
    ]


def pod_security_validations(levels: Mapping[str, str]) -> list[admission.ValidationArgs]:
    enforce = f"{c.PSA_LABEL_PREFIX}enforce"
    version = f"{c.PSA_LABEL_PREFIX}enforce-version"
    labels = "object.metadata.labels"
    rank = "{" + ", ".join(f"'{k}': {v}" for k, v in PSA_RANK.items()) + "}"
    return [
        admission.ValidationArgs(
            expression=(
                f"has({labels}) && '{enforce}' in {labels} && "
                f"{labels}['{enforce}'] in {rank} && "
                f"{rank}[{labels}['{enforce}']] >= {rank}[{_cel_map(levels)}[object.metadata.name]]"
                " && "
                f"(!('{version}' in {labels}) || {labels}['{version}'] == 'latest')"
            ),
            message_expression=(
                f"'namespace ' + object.metadata.name + ' must keep label {enforce}=' + "
                f"{_cel_map(levels)}[object.metadata.name] + ' (or stricter) at version latest: "
                "the platform stack owns its Pod Security level (tenants[].podSecurity)'"
            ),
            reason="Forbidden",
        )
    ]


def node_validations() -> list[admission.ValidationArgs]:
    claim = f"'{c.NODE_NAME_CLAIM}'"
    allowed = f"(k == '{c.KATA_READY_LABEL}' || k.startsWith('{c.KATA_INSTANCE_LABEL_PREFIX}'))"
    new, old = "variables.newLabels", "variables.oldLabels"
    return [
        _check(
            f"{claim} in request.userInfo.extra && "
            f"request.userInfo.extra[{claim}][0] == object.metadata.name",
            "kata-deploy may change only the node its pod runs on (the node its service-account "
            f"token is bound to, {c.NODE_NAME_CLAIM})",
        ),
        _check(
            "object.spec == oldObject.spec && "
            "has(object.metadata.annotations) == has(oldObject.metadata.annotations) && "
            "(!has(object.metadata.annotations) || "
            "object.metadata.annotations == oldObject.metadata.annotations) && "
            f"{new}.all(k, {allowed} || (k in {old} && {old}[k] == {new}[k])) && "
            f"{old}.all(k, {allowed} || k in {new})",
            f"kata-deploy may change only its own node labels ({c.KATA_READY_LABEL}, "
            f"{c.KATA_INSTANCE_LABEL_PREFIX}*): not taints, other labels or annotations",
        ),
    ]


def _binding(
    name: str,
    labels: Mapping[str, str],
    policy: admission.ValidatingAdmissionPolicy,
    opts: pulumi.ResourceOptions,
) -> admission.ValidatingAdmissionPolicyBinding:
    """Cluster-wide (no matchResources): each policy selects what it checks itself."""
    return admission.ValidatingAdmissionPolicyBinding(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=policy.metadata.name, labels=dict(labels)),
        spec=admission.ValidatingAdmissionPolicyBindingSpecArgs(
            policy_name=policy.metadata.name, validation_actions=["Deny"]
        ),
        # A binding created before its policy would bind nothing until the next reconcile.
        opts=opts.merge(pulumi.ResourceOptions(depends_on=[policy])),
    )


def _rule(
    group: str, version: str, resources: list[str], operations: list[str]
) -> admission.NamedRuleWithOperationsArgs:
    return admission.NamedRuleWithOperationsArgs(
        api_groups=[group], api_versions=[version], operations=operations, resources=resources
    )


@dataclass(frozen=True)
class AdmissionBackstopArgs:
    # Namespaces where sandbox kinds may exist (PlatformSettings.sandbox_namespaces).
    namespaces: Sequence[str]
    # RuntimeClasses sandboxes may use (IsolationSettings.admitted_runtime_classes).
    runtime_classes: Sequence[str]
    # Namespaces limited to some of them (tenants[].runtimeClasses).
    namespace_runtime_classes: Mapping[str, Sequence[str]] = field(default_factory=dict)
    # Namespaces this platform creates -> the Pod Security level it enforces there.
    pod_security_levels: Mapping[str, str] = field(default_factory=dict)
    # kata-deploy's namespace (isolation.kata.namespace); None: no kata-deploy (gVisor).
    kata_deploy_namespace: str | None = None

    def __post_init__(self) -> None:
        if not self.namespaces or not self.runtime_classes:
            raise ValueError("AdmissionBackstop needs at least one namespace and runtime class")


class AdmissionBackstop(pulumi.ComponentResource):
    sandbox_policy: admission.ValidatingAdmissionPolicy
    pod_policy: admission.ValidatingAdmissionPolicy
    namespace_policy: admission.ValidatingAdmissionPolicy
    claim_policy: admission.ValidatingAdmissionPolicy
    pod_security_policy: admission.ValidatingAdmissionPolicy | None
    node_policy: admission.ValidatingAdmissionPolicy | None
    bindings: list[admission.ValidatingAdmissionPolicyBinding]

    def __init__(
        self, name: str, args: AdmissionBackstopArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(c.type_token("admission", "AdmissionBackstop"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {**c.COMMON_LABELS, c.COMPONENT_LABEL: "admission"}
        classes = list(args.runtime_classes)
        namespaces = list(args.namespaces)
        per_ns = dict(args.namespace_runtime_classes)

        def policy(
            role: str, policy_name: str, spec: admission.ValidatingAdmissionPolicySpecArgs
        ) -> admission.ValidatingAdmissionPolicy:
            return admission.ValidatingAdmissionPolicy(
                f"{name}-{role}-policy",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=policy_name, labels=labels),
                spec=spec,
                opts=child,
            )

        # Sandbox and pod checks in two policies, not one: each expression then type-checks
        # against a single pod-spec shape (the API server checks a policy's CEL against every
        # kind it matches).
        self.sandbox_policy = policy(
            "sandbox",
            c.ADMISSION_SANDBOX_POLICY_NAME,
            admission.ValidatingAdmissionPolicySpecArgs(
                failure_policy="Fail",
                match_constraints=admission.MatchResourcesArgs(
                    resource_rules=[
                        _rule(c.AGENTS_GROUP, c.AGENTS_VERSION, [c.SANDBOX_RESOURCE], CU),
                        _rule(
                            c.EXTENSIONS_GROUP, c.AGENTS_VERSION, [c.SANDBOX_TEMPLATE_RESOURCE], CU
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
                variables=variables(SANDBOX_SPEC, SANDBOX_ANNOTATIONS),
                validations=validations("spec.podTemplate.spec", classes, per_ns),
            ),
        )
        self.pod_policy = policy(
            "pod",
            c.ADMISSION_POD_POLICY_NAME,
            admission.ValidatingAdmissionPolicySpecArgs(
                failure_policy="Fail",
                # Pods at creation (their runtime class and containers cannot change later;
                # refusing updates would block status and finalizers), and ephemeral containers,
                # which arrive later through their own subresource.
                match_constraints=admission.MatchResourcesArgs(
                    resource_rules=[
                        _rule("", "v1", ["pods"], ["CREATE"]),
                        _rule("", "v1", ["pods/ephemeralcontainers"], ["UPDATE"]),
                    ]
                ),
                match_conditions=[
                    admission.MatchConditionArgs(
                        name="sandbox-pod", expression=sandbox_pod_condition(namespaces)
                    )
                ],
                variables=variables(
                    POD_SPEC, POD_ANNOTATIONS, from_sandbox=sandbox_pod_condition([])
                ),
                validations=validations("spec", classes, per_ns),
            ),
        )
        sandbox_kinds = [
            c.SANDBOX_TEMPLATE_RESOURCE,
            c.SANDBOX_CLAIM_RESOURCE,
            c.SANDBOX_WARM_POOL_RESOURCE,
        ]
        self.namespace_policy = policy(
            "namespace",
            c.ADMISSION_NAMESPACE_POLICY_NAME,
            admission.ValidatingAdmissionPolicySpecArgs(
                failure_policy="Fail",
                # CREATE only: an object made before this policy can still be updated/deleted.
                match_constraints=admission.MatchResourcesArgs(
                    resource_rules=[
                        _rule(c.AGENTS_GROUP, c.AGENTS_VERSION, [c.SANDBOX_RESOURCE], ["CREATE"]),
                        _rule(c.EXTENSIONS_GROUP, c.AGENTS_VERSION, sandbox_kinds, ["CREATE"]),
                    ]
                ),
                validations=namespace_validations(namespaces),
            ),
        )
        self.claim_policy = policy(
            "claim",
            c.ADMISSION_CLAIM_POLICY_NAME,
            admission.ValidatingAdmissionPolicySpecArgs(
                failure_policy="Fail",
                match_constraints=admission.MatchResourcesArgs(
                    resource_rules=[
                        _rule(c.EXTENSIONS_GROUP, c.AGENTS_VERSION, [c.SANDBOX_CLAIM_RESOURCE], CU)
                    ]
                ),
                validations=claim_validations(),
            ),
        )
        self.pod_security_policy = None
        if args.pod_security_levels:
            levels = dict(args.pod_security_levels)
            self.pod_security_policy = policy(
                "pod-security",
                c.ADMISSION_POD_SECURITY_POLICY_NAME,
                admission.ValidatingAdmissionPolicySpecArgs(
                    failure_policy="Fail",
                    match_constraints=admission.MatchResourcesArgs(
                        resource_rules=[_rule("", "v1", ["namespaces"], CU)]
                    ),
                    match_conditions=[
                        admission.MatchConditionArgs(
                            name="platform-namespace",
                            expression=f"object.metadata.name in {_cel_list(list(levels))}",
                        )
                    ],
                    validations=pod_security_validations(levels),
                ),
            )
        self.node_policy = None
        if args.kata_deploy_namespace is not None:
            user = _user(args.kata_deploy_namespace, c.KATA_DEPLOY_SERVICE_ACCOUNT)
            labels_of = "has({o}.metadata.labels) ? {o}.metadata.labels : {{}}"
            self.node_policy = policy(
                "node",
                c.ADMISSION_NODE_POLICY_NAME,
                admission.ValidatingAdmissionPolicySpecArgs(
                    failure_policy="Fail",
                    match_constraints=admission.MatchResourcesArgs(
                        resource_rules=[_rule("", "v1", ["nodes"], ["UPDATE"])]
                    ),
                    match_conditions=[
                        admission.MatchConditionArgs(
                            name="kata-deploy",
                            expression=f"request.userInfo.username == '{user}'",
                        )
                    ],
                    variables=[
                        admission.VariableArgs(
                            name="newLabels", expression=labels_of.format(o="object")
                        ),
                        admission.VariableArgs(
                            name="oldLabels", expression=labels_of.format(o="oldObject")
                        ),
                    ],
                    validations=node_validations(),
                ),
            )
        policies = [
            (role, p)
            for role, p in (
                ("sandbox", self.sandbox_policy),
                ("pod", self.pod_policy),
                ("namespace", self.namespace_policy),
                ("claim", self.claim_policy),
                ("pod-security", self.pod_security_policy),
                ("node", self.node_policy),
            )
            if p is not None
        ]
        self.bindings = [
            _binding(f"{name}-{role}-binding", labels, p, child) for role, p in policies
        ]
        self.register_outputs({f"{role}Policy": p.metadata.name for role, p in policies})
