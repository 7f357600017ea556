"""SandboxSet: the sandboxes namespace and the templates, warm pools and standalone sandboxes a
stack declares in ``sandboxes:``, secure by default and reachable only through the router.

Network: a sandbox accepts traffic only from the router's pods (``app: sandbox-router`` in
``agent-sandbox-system``), on the ports it declares. Egress reaches cluster DNS (kube-dns,
UDP/TCP 53), the public internet (``0.0.0.0/0`` minus RFC 1918 and link-local, where the
metadata server lives, and ``::/0`` minus unique-local and link-local) and the workload's
``egressAllowlist``. Templates carry these rules in
their ``networkPolicy`` (the controller applies them to every sandbox of the template; its own
default would also block DNS); standalone sandboxes get the same rules as a NetworkPolicy on
their pods; and a namespace we create gets a baseline policy with the same egress and no ingress,
for sandboxes clients create at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .. import constants as c
from ..gke.node_pool import SandboxPlacement
from ..isolation.pod_security import (
    container_security_context,
    namespace_labels,
    pod_security_context,
    resource_requirements,
)
from ..settings import PlatformSettings, ProbeSettings, WorkloadSettings
from .sandbox_types import (
    Sandbox,
    SandboxArgs,
    SandboxNetworkPolicyArgs,
    SandboxTemplate,
    SandboxTemplateArgs,
    SandboxWarmPool,
    SandboxWarmPoolArgs,
)

core = k8s.core.v1
meta = k8s.meta.v1
net = k8s.networking.v1

# The namespace-wide policy for sandboxes created at run time.
BASELINE_POLICY = "sandboxes-baseline"


@dataclass(frozen=True)
class SandboxSetArgs:
    settings: PlatformSettings
    placement: SandboxPlacement = field(default_factory=SandboxPlacement)
    # Everything waits for the agent-sandbox controller (its CRDs come first).
    control_plane: Sequence[pulumi.Resource] = ()
    # A template creates no pod: it waits only for the RuntimeClasses it names.
    runtime_classes: Sequence[pulumi.Resource] = ()
    # Warm pools and sandboxes start pods: they wait for the whole runtime (RuntimeClasses +
    # kata-deploy DaemonSet, or the gVisor pool) and the sandbox node pool.
    runtime: Sequence[pulumi.Resource] = ()
    node_pool: pulumi.Resource | None = None
    # The admission backstop: the namespace exists only once the backstop guards it, so no
    # client can create a sandbox there that admission has not checked.
    guarded_by: Sequence[pulumi.Resource] = ()
    # Addresses sandbox egress never reaches beyond the private ranges: the cluster's public
    # endpoint (components/gke/cluster.py cluster_egress_exclusions).
    blocked_egress: Sequence[pulumi.Input[str]] = ()


# ---------------------------------------------------------------------------------------------
# network rules
# ---------------------------------------------------------------------------------------------
def _namespace_selector(namespace: str) -> meta.LabelSelectorArgs:
    return meta.LabelSelectorArgs(match_labels={c.NAMESPACE_NAME_LABEL: namespace})


def router_ingress(w: WorkloadSettings) -> list[net.NetworkPolicyIngressRuleArgs]:
    """From the router only, to the declared ports only; no ports, no ingress."""
    if not w.ports:
        return []
    return [
        net.NetworkPolicyIngressRuleArgs(
            from_=[
                net.NetworkPolicyPeerArgs(
                    namespace_selector=_namespace_selector(c.AGENT_SANDBOX_NAMESPACE),
                    pod_selector=meta.LabelSelectorArgs(match_labels=dict(c.ROUTER_APP_LABEL)),
                )
            ],
            ports=[
                net.NetworkPolicyPortArgs(protocol="TCP", port=p.container_port) for p in w.ports
            ],
        )
    ]


def baseline_policy_spec(blocked: Sequence[pulumi.Input[str]] = ()) -> net.NetworkPolicySpecArgs:
    """The namespace-wide floor for sandbox pods, including those SDK clients create at run
    time: no ingress unless a sandbox's own policy admits it, egress as a sandbox's. Sandbox
    pods only (the controller labels every pod it creates for a Sandbox)."""
    return net.NetworkPolicySpecArgs(
        pod_selector=meta.LabelSelectorArgs(
            match_expressions=[
                meta.LabelSelectorRequirementArgs(key=c.SANDBOX_POD_LABEL, operator="Exists")
            ]
        ),
        policy_types=["Ingress", "Egress"],
        egress=sandbox_egress(blocked=blocked),
    )


def sandbox_egress(
    allowlist: Sequence[str] = (), blocked: Sequence[pulumi.Input[str]] = ()
) -> list[net.NetworkPolicyEgressRuleArgs]:
    rules = [
        # Cluster DNS, which upstream's default template policy blocks.
        net.NetworkPolicyEgressRuleArgs(
            to=[
                net.NetworkPolicyPeerArgs(
                    namespace_selector=_namespace_selector(c.KUBE_SYSTEM_NAMESPACE),
                    pod_selector=meta.LabelSelectorArgs(match_labels=dict(c.KUBE_DNS_LABEL)),
                )
            ],
            ports=[
                net.NetworkPolicyPortArgs(protocol=proto, port=c.DNS_PORT)
                for proto in ("UDP", "TCP")
            ],
        ),
        # The public internet, never the cluster's own ranges or the metadata server; IPv6
        # like IPv4, or a dual-stack cluster's sandboxes lose IPv6 egress.
        net.NetworkPolicyEgressRuleArgs(
            to=[
                net.NetworkPolicyPeerArgs(
                    ip_block=net.IPBlockArgs(cidr=everything, except_=excepted)
                )
                for everything, excepted in (
                    # The cluster endpoint (an IPv4 /32 on GKE) joins the IPv4 exceptions.
                    (c.PUBLIC_INTERNET_CIDR, [*c.BLOCKED_EGRESS_CIDRS, *blocked]),
                    (c.PUBLIC_INTERNET_CIDR_V6, list(c.BLOCKED_EGRESS_CIDRS_V6)),
                )
            ]
        ),
    ]
    if allowlist:
        rules.append(
            net.NetworkPolicyEgressRuleArgs(
                to=[net.NetworkPolicyPeerArgs(ip_block=net.IPBlockArgs(cidr=x)) for x in allowlist]
            )
        )
    return rules


# ---------------------------------------------------------------------------------------------
# pod template
# ---------------------------------------------------------------------------------------------
def _probe(p: ProbeSettings | None) -> core.ProbeArgs | None:
    if p is None:
        return None
    return core.ProbeArgs(
        http_get=core.HTTPGetActionArgs(path=p.path, port=p.port),
        initial_delay_seconds=p.initial_delay_seconds,
        period_seconds=p.period_seconds,
        failure_threshold=p.failure_threshold,
    )


def pod_template(
    w: WorkloadSettings, pod_labels: dict[str, str], placement: SandboxPlacement
) -> core.PodTemplateSpecArgs:
    """The workload's pod with the secure defaults; ``runtimeClassName`` is added by the typed
    resource from its (required) argument."""
    r = w.resources
    container = core.ContainerArgs(
        name=w.container_name,
        image=w.image,
        command=list(w.command) or None,
        args=list(w.args) or None,
        ports=[
            core.ContainerPortArgs(name=p.name, container_port=p.container_port, protocol="TCP")
            for p in w.ports
        ]
        or None,
        env=[core.EnvVarArgs(name=k, value=v) for k, v in w.env.items()] or None,
        resources=resource_requirements(r),
        volume_mounts=[
            core.VolumeMountArgs(name=v.name, mount_path=v.mount_path, read_only=v.read_only)
            for v in w.storage
        ]
        or None,
        readiness_probe=_probe(w.readiness_probe),
        liveness_probe=_probe(w.liveness_probe),
        security_context=container_security_context(w.security),
    )
    # persistentVolumeClaim storage comes from volumeClaimTemplates, which the controller turns
    # into volumes itself; only emptyDir needs a pod volume.
    volumes = [
        core.VolumeArgs(name=v.name, empty_dir=core.EmptyDirVolumeSourceArgs(size_limit=v.size))
        for v in w.storage
        if v.type == "emptyDir"
    ]
    return core.PodTemplateSpecArgs(
        metadata=meta.ObjectMetaArgs(
            labels=pod_labels,
            # The reviewed exception, visible on the pod and accepted by the policy pack.
            annotations={c.ALLOW_PRIVILEGE_ESCALATION_ANNOTATION: "true"}
            if w.security.allow_privilege_escalation
            else None,
        ),
        spec=core.PodSpecArgs(
            containers=[container],
            volumes=volumes or None,
            restart_policy=w.restart_policy,
            automount_service_account_token=w.security.automount_service_account_token,
            # No Service environment variables: a sandbox learns nothing about the cluster.
            enable_service_links=False,
            security_context=pod_security_context(w.security),
            node_selector=dict(placement.node_selector) or None,
            tolerations=[
                core.TolerationArgs(
                    key=t.get("key"),
                    operator=t.get("operator"),
                    value=t.get("value"),
                    effect=t.get("effect"),
                )
                for t in placement.tolerations
            ]
            or None,
        ),
    )


def volume_claim_templates(w: WorkloadSettings) -> list[core.PersistentVolumeClaimArgs]:
    return [
        core.PersistentVolumeClaimArgs(
            metadata=meta.ObjectMetaArgs(name=v.name),
            spec=core.PersistentVolumeClaimSpecArgs(
                access_modes=[v.access_mode],
                storage_class_name=v.storage_class,
                resources=core.VolumeResourceRequirementsArgs(requests={"storage": v.size}),
            ),
        )
        for v in w.storage
        if v.type == "persistentVolumeClaim"
    ]


# ---------------------------------------------------------------------------------------------
# the component
# ---------------------------------------------------------------------------------------------
class SandboxSet(pulumi.ComponentResource):
    """Everything under ``sandboxes:``. Resources are keyed by their Kubernetes names."""

    namespace: pulumi.Output[str]
    pod_security_level: str | None
    templates: dict[str, SandboxTemplate]
    warm_pools: dict[str, SandboxWarmPool]
    sandboxes: dict[str, Sandbox]
    network_policies: dict[str, net.NetworkPolicy]

    def __init__(
        self, name: str, args: SandboxSetArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(c.type_token("sandboxes", "SandboxSet"), name, None, opts)
        s = args.settings
        sb, default_rc = s.sandboxes, s.isolation.effective_default_runtime_class
        child = pulumi.ResourceOptions(parent=self)
        ns = sb.namespace
        labels = {**c.COMMON_LABELS, c.COMPONENT_LABEL: c.SANDBOX_COMPONENT}
        self.templates, self.warm_pools, self.sandboxes, self.network_policies = {}, {}, {}, {}

        in_namespace: list[pulumi.Resource] = []  # the namespace, when this stack creates it
        for warning in sb.egress_warnings():
            pulumi.log.warn(warning, resource=self)
        if s.cluster.mode == "kubeconfig":
            # GKE clusters this stack creates run Dataplane V2; a kubeconfig cluster's CNI may
            # accept NetworkPolicies and ignore them (minikube's and kind's defaults do).
            pulumi.log.warn(
                "cluster.mode is kubeconfig: the sandboxes' NetworkPolicies (router-only "
                "ingress, no cluster or metadata egress) hold only if context "
                f"'{s.cluster.kubeconfig.context if s.cluster.kubeconfig else ''}' runs a CNI "
                "that enforces NetworkPolicy; minikube's and kind's default CNIs ignore it — "
                "start minikube with --cni calico (or cilium), or install Calico/Cilium on kind",
                resource=self,
            )
        self.pod_security_level = None
        if sb.create_namespace:
            self.pod_security_level = sb.pod_security_level
            if sb.pod_security == "auto" and self.pod_security_level == "baseline":
                pulumi.log.warn(
                    f"namespace {ns} enforces Pod Security 'baseline' (and warns about "
                    "'restricted') because of security overrides: "
                    f"{'; '.join(sb.baseline_reasons())}",
                    resource=self,
                )
            namespace = core.Namespace(
                f"{name}-namespace",
                metadata=meta.ObjectMetaArgs(
                    name=ns, labels={**labels, **namespace_labels(self.pod_security_level)}
                ),
                # Deleting a namespace deletes every sandbox, claim and volume in it, including
                # those clients created at run time: destroy and renames leave it in place.
                opts=child.merge(
                    pulumi.ResourceOptions(retain_on_delete=True, depends_on=list(args.guarded_by))
                ),
            )
            self.namespace = namespace.metadata.apply(lambda m: m.name or ns)
            in_namespace.append(namespace)
            # Not "sandbox-<name>": no sandbox's policy can take this name.
            self.network_policies[BASELINE_POLICY] = net.NetworkPolicy(
                f"{name}-baseline-network",
                metadata=meta.ObjectMetaArgs(name=BASELINE_POLICY, namespace=ns, labels=labels),
                spec=baseline_policy_spec(args.blocked_egress),
                opts=child.merge(pulumi.ResourceOptions(depends_on=in_namespace)),
            )
        else:
            self.namespace = pulumi.Output.from_input(ns)
        base = [*in_namespace, *args.control_plane]
        template_opts = child.merge(
            pulumi.ResourceOptions(depends_on=[*base, *args.runtime_classes])
        )
        pods = [*base, *args.runtime, *([args.node_pool] if args.node_pool else [])]
        after = child.merge(pulumi.ResourceOptions(depends_on=pods))

        for t in sb.templates:
            pod_labels = {**_pod_labels(t), c.SANDBOX_TEMPLATE_LABEL: t.name}
            self.templates[t.name] = SandboxTemplate(
                f"{name}-template-{t.name}",
                SandboxTemplateArgs(
                    name=t.name,
                    namespace=ns,
                    runtime_class_name=t.runtime_class or default_rc,
                    pod_template=pod_template(t, pod_labels, args.placement),
                    volume_claim_templates=volume_claim_templates(t),
                    service=t.service,
                    labels={**labels, **t.labels},
                    network_policy=SandboxNetworkPolicyArgs(
                        ingress=router_ingress(t),
                        egress=sandbox_egress(t.egress_allowlist, args.blocked_egress),
                    ),
                    network_policy_management="Managed",
                    env_vars_injection_policy=t.env_vars_injection_policy,
                    volume_claim_templates_policy=t.volume_claim_templates_policy,
                ),
                template_opts,
            )
        for p in sb.warm_pools:
            self.warm_pools[p.name] = SandboxWarmPool(
                f"{name}-warm-pool-{p.name}",
                SandboxWarmPoolArgs(
                    name=p.name,
                    namespace=ns,
                    template=self.templates[p.template],
                    replicas=p.replicas,
                    update_strategy=p.update_strategy,
                    labels=labels,
                ),
                after,
            )
        for x in sb.sandboxes:
            pod_labels = {**_pod_labels(x), c.SANDBOX_NAME_LABEL: x.name}
            policy_name = f"sandbox-{x.name}"
            policy = net.NetworkPolicy(
                f"{name}-network-{x.name}",
                metadata=meta.ObjectMetaArgs(name=policy_name, namespace=ns, labels=labels),
                spec=net.NetworkPolicySpecArgs(
                    pod_selector=meta.LabelSelectorArgs(
                        match_labels={c.SANDBOX_NAME_LABEL: x.name}
                    ),
                    policy_types=["Ingress", "Egress"],
                    ingress=router_ingress(x),
                    egress=sandbox_egress(x.egress_allowlist, args.blocked_egress),
                ),
                opts=child.merge(pulumi.ResourceOptions(depends_on=in_namespace)),
            )
            self.network_policies[policy_name] = policy
            self.sandboxes[x.name] = Sandbox(
                f"{name}-sandbox-{x.name}",
                SandboxArgs(
                    name=x.name,
                    namespace=ns,
                    runtime_class_name=x.runtime_class or default_rc,
                    pod_template=pod_template(x, pod_labels, args.placement),
                    volume_claim_templates=volume_claim_templates(x),
                    service=x.service,
                    labels={**labels, **x.labels},
                    operating_mode=x.operating_mode,
                    shutdown_time=x.shutdown_time,
                    shutdown_policy=x.shutdown_policy,
                ),
                # The pod never starts before its NetworkPolicy exists.
                after.merge(pulumi.ResourceOptions(depends_on=[policy])),
            )

        self.register_outputs(self.outputs())

    def outputs(self) -> dict[str, Any]:
        """What the component exposes (also the platform's ``sandbox*`` stack outputs)."""
        return {
            "namespace": self.namespace,
            "podSecurityLevel": self.pod_security_level,
            "templates": sorted(self.templates),
            "warmPools": sorted(self.warm_pools),
            "sandboxes": sorted(self.sandboxes),
        }


def _pod_labels(w: WorkloadSettings) -> dict[str, str]:
    return {c.PART_OF_LABEL: c.PROJECT, c.COMPONENT_LABEL: c.SANDBOX_COMPONENT, **w.labels}


def sandboxes_exports(sandbox_set: SandboxSet) -> dict[str, Any]:
    """Stack outputs: where sandboxes live, and the names SDK clients pass (warm pools for
    ``SandboxClient().create_sandbox(...)``, sandbox names for ``X-Sandbox-ID``)."""
    out = sandbox_set.outputs()
    return {
        "sandboxNamespace": out["namespace"],
        "sandboxPodSecurity": out["podSecurityLevel"],
        "sandboxTemplates": out["templates"],
        "sandboxWarmPools": out["warmPools"],
        "sandboxes": out["sandboxes"],
    }
