"""The isolation runtime of the sandbox pool: Kata Containers through kata-deploy, or GKE's gVisor.

kata-deploy ships only a Helm chart, and ``helm.v4.Chart`` drops the chart's hooks and renders
against a live cluster (DESIGN §3), so this module renders the chart's daemonset mode by hand as
typed resources, for our settings and the chart's ``values.yaml`` defaults otherwise:

- ``templates/kata-rbac.yaml``: ServiceAccount, ClusterRole, ClusterRoleBinding;
- ``templates/kata-deploy.yaml`` + ``_helpers.tpl``: the DaemonSet (env, host mounts, probes,
  resources, security context, update strategy, 600 s grace for the uninstall on SIGTERM);
- ``templates/runtimeclasses.yaml``: one RuntimeClass per shim, ``name == handler ==
  kata-<shim>``, with the 4.1 ``podFixed`` overhead, plus the pool's placement so a pod that names
  the class lands only on a sandbox node where Kata is ready, and tolerates the pool's taint.

Ordering: the DaemonSet depends on its RBAC, so ``pulumi destroy`` deletes it first and its pods
can still reach the API while they uninstall Kata. Only the DaemonSet waits for the node pool
(DESIGN §5); RBAC and RuntimeClasses deploy beside it.

With ``isolation.runtime: gvisor`` GKE installs gVisor and its ``gvisor`` RuntimeClass on the
GKE Sandbox pool itself: this component then registers nothing, and ``ready`` is the pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .. import constants as c
from ..gke.node_pool import SandboxPlacement
from ..settings import IsolationSettings

apps = k8s.apps.v1
core = k8s.core.v1
meta = k8s.meta.v1
rbac = k8s.rbac.v1
node = k8s.node.v1

# Chart values.yaml defaults we keep as they are.
CONTAINER_NAME = "kube-kata"
HEALTH_PORT = 8090
TERMINATION_GRACE_SECONDS = 600  # uninstall restarts the CRI runtime and waits for the node
# The install's budget on one node: the startup probe (1 s + 60 x 10 s on /readyz) plus pulling
# the image. pulumi-kubernetes waits 10 min for a DaemonSet by default (await/daemonset.go), less
# than one node's install plus pull, and far less than a rollout that goes one node at a time.
STARTUP_PROBE = (1, 10, 60)  # initialDelaySeconds, periodSeconds, failureThreshold
IMAGE_PULL_SECONDS = 300
TIMEOUT_MARGIN_SECONDS = 300  # node churn (autoscaling, a repair) during the rollout
REQUESTS = {"cpu": "25m", "memory": "16Mi"}  # no memory limit: the install's page cache peaks
# values.yaml shims.<shim>.containerd.snapshotter for the shims this platform offers: none of
# them uses one (nydus serves only the CoCo/TEE shims, devmapper only fc). The chart's default
# snapshotter.setup: ["nydus"] would install a host snapshotter nothing uses, so it is set only
# for shims that need it.
SHIM_SNAPSHOTTERS: dict[str, str] = {}
K8S_DISTRIBUTION = "k8s"  # GKE, kind and minikube keep containerd's config in /etc/containerd
INSTALL_DIR = "/opt/kata"  # no installationPrefix, no multiInstallSuffix
# Architecture as the chart spells it in env var names.
ARCH_ENV = {"amd64": "X86_64", "arm64": "AARCH64", "s390x": "S390X", "ppc64le": "PPC64LE"}
# A namespace we create for kata-deploy runs host-mounting pods.
POD_SECURITY_LABELS = {
    f"pod-security.kubernetes.io/{mode}": "privileged" for mode in ("enforce", "audit", "warn")
}
# kata-deploy pods one namespace may hold at node-critical priority: one per node.
CRITICAL_PODS_QUOTA = "1000"


@dataclass(frozen=True)
class IsolationRuntimeArgs:
    settings: IsolationSettings
    # Where sandbox pods go; kata-deploy runs on exactly those nodes.
    placement: SandboxPlacement
    # The GKE sandbox NodePool: the DaemonSet (only) waits for it. None off GKE.
    node_pool: pulumi.Resource | None = None
    # The most nodes kata-deploy runs on (nodePool.maxNodes): sizes the DaemonSet's timeouts.
    nodes: int = 1


def install_seconds() -> int:
    """One node's install: image pull plus the startup probe's whole budget."""
    delay, period, failures = STARTUP_PROBE
    return IMAGE_PULL_SECONDS + delay + period * failures


def daemonset_timeouts(nodes: int) -> pulumi.CustomTimeouts:
    """Create: every node installs at once. Update: one node at a time (maxUnavailable 1), each
    uninstalling (up to the termination grace) and installing again. Delete: every node
    uninstalls at once, within the grace period."""
    install, uninstall = install_seconds(), TERMINATION_GRACE_SECONDS

    def minutes(seconds: int) -> str:
        return f"{-(-seconds // 60)}m"

    return pulumi.CustomTimeouts(
        create=minutes(install + TIMEOUT_MARGIN_SECONDS),
        update=minutes(max(nodes, 1) * (uninstall + install) + TIMEOUT_MARGIN_SECONDS),
        delete=minutes(uninstall + TIMEOUT_MARGIN_SECONDS),
    )


def default_shim(settings: IsolationSettings) -> str:
    """kata-deploy's default shim: the one behind the default RuntimeClass (the first shim)."""
    shim = settings.effective_default_runtime_class.removeprefix(c.KATA_RUNTIME_CLASS_PREFIX)
    return shim if shim in settings.kata.shims else settings.kata.shims[0]


def shims_for_arch(shims: Sequence[str], arch: str) -> list[str]:
    # Sorted: the chart ranges over its shims map, which Go templates visit in key order.
    return sorted(s for s in shims if arch in c.KATA_SHIM_ARCHES[s])


def default_shim_for_arch(settings: IsolationSettings, arch: str) -> str | None:
    """The default shim where it is built for ``arch``, else the first configured one that is."""
    preferred = [default_shim(settings), *settings.kata.shims]
    return next((s for s in preferred if arch in c.KATA_SHIM_ARCHES[s]), None)


def kata_deploy_env(settings: IsolationSettings) -> list[core.EnvVarArgs]:
    """The chart's ``kata-deploy.commonEnv`` + HEALTH_PORT, rendered for our values: shims
    enabled by name (``shims.disableAll: true`` + ours), no custom runtimes, proxies,
    annotations, guest pull or startup taints, so those variables are absent as in the chart."""
    kata = settings.kata
    env = [
        core.EnvVarArgs(
            name="NODE_NAME",
            value_from=core.EnvVarSourceArgs(
                field_ref=core.ObjectFieldSelectorArgs(field_path="spec.nodeName")
            ),
        ),
        core.EnvVarArgs(name="DAEMONSET_NAME", value=c.KATA_DEPLOY_NAME),
        core.EnvVarArgs(name="DEBUG", value="true" if kata.debug else "false"),
    ]
    for arch, suffix in ARCH_ENV.items():
        if shims := shims_for_arch(kata.shims, arch):
            env.append(core.EnvVarArgs(name=f"SHIMS_{suffix}", value=" ".join(shims)))
    for arch, suffix in ARCH_ENV.items():
        if shim := default_shim_for_arch(settings, arch):
            env.append(core.EnvVarArgs(name=f"DEFAULT_SHIM_{suffix}", value=shim))
    env += [
        core.EnvVarArgs(name="INSTALLATION_PREFIX", value=""),
        core.EnvVarArgs(name="MULTI_INSTALL_SUFFIX", value=""),
    ]
    if snapshotters := sorted({SHIM_SNAPSHOTTERS[s] for s in kata.shims if s in SHIM_SNAPSHOTTERS}):
        env.append(
            core.EnvVarArgs(name="EXPERIMENTAL_SETUP_SNAPSHOTTER", value=",".join(snapshotters))
        )
    env += [
        core.EnvVarArgs(name="K8S_DISTRIBUTION", value=K8S_DISTRIBUTION),
        core.EnvVarArgs(name="HEALTH_PORT", value=str(HEALTH_PORT)),
    ]
    return env


# (volume name, host path, hostPath type, mount path, read-only), in the chart's order.
_HOST_MOUNTS: tuple[tuple[str, str, str | None, str, bool], ...] = (
    ("crio-conf", "/etc/crio/", None, "/etc/crio/", False),
    ("containerd-conf", "/etc/containerd/", None, "/etc/containerd/", False),
    ("kata-install", INSTALL_DIR, "DirectoryOrCreate", INSTALL_DIR, False),
    ("systemd-system", "/etc/systemd/system", "DirectoryOrCreate", "/etc/systemd/system", False),
    ("systemd-private", "/run/systemd/private", "Socket", "/run/systemd/private", False),
    ("boot", "/boot", None, "/boot", True),
    ("host-machine-id", "/etc/machine-id", "File", "/host-machine-id", True),
    # Writable: the installs on one node take their lock here.
    ("host-run-lock", "/run/lock", "DirectoryOrCreate", "/host-run-lock", False),
    ("host-usr-bin", "/usr/bin", None, "/host-usr/bin", True),
    ("host-usr-sbin", "/usr/sbin", None, "/host-usr/sbin", True),
    ("host-usr-local-bin", "/usr/local/bin", None, "/host-usr-local/bin", True),
    ("host-usr-local-sbin", "/usr/local/sbin", None, "/host-usr-local/sbin", True),
    ("host-bin", "/bin", None, "/host-bin", True),
    ("host-sbin", "/sbin", None, "/host-sbin", True),
)


def kata_deploy_volumes() -> tuple[list[core.VolumeArgs], list[core.VolumeMountArgs]]:
    """The chart's ``commonVolumes``/``commonVolumeMounts``: a writable /tmp for the read-only
    root filesystem, then the host paths kata-deploy installs into and drives systemd through."""
    volumes = [core.VolumeArgs(name="tmp", empty_dir=core.EmptyDirVolumeSourceArgs())]
    mounts = [core.VolumeMountArgs(name="tmp", mount_path="/tmp")]
    for name, host_path, path_type, mount_path, read_only in _HOST_MOUNTS:
        volumes.append(
            core.VolumeArgs(
                name=name, host_path=core.HostPathVolumeSourceArgs(path=host_path, type=path_type)
            )
        )
        mounts.append(
            core.VolumeMountArgs(name=name, mount_path=mount_path, read_only=read_only or None)
        )
    return volumes, mounts


def _probe(
    path: str, period: int, failures: int, initial_delay: int | None = None
) -> core.ProbeArgs:
    return core.ProbeArgs(
        http_get=core.HTTPGetActionArgs(path=path, port=HEALTH_PORT),
        initial_delay_seconds=initial_delay,
        period_seconds=period,
        failure_threshold=failures,
        timeout_seconds=3,
    )


def tolerations(placement: SandboxPlacement) -> list[core.TolerationArgs] | None:
    return [
        core.TolerationArgs(
            key=t["key"], operator=t["operator"], value=t.get("value"), effect=t["effect"]
        )
        for t in placement.tolerations
    ] or None


def runtime_class_names(settings: IsolationSettings) -> list[tuple[str, str]]:
    """(RuntimeClass name == handler, shim) this stack installs; debug adds kata-<shim>-debug."""
    if settings.runtime != "kata":
        return []
    kata = settings.kata
    names = [(c.kata_runtime_class(s), s) for s in kata.shims]
    if kata.debug:
        names += [(c.kata_runtime_class(s) + c.KATA_DEBUG_SUFFIX, s) for s in kata.shims]
    return names


class IsolationRuntime(pulumi.ComponentResource):
    """kata-deploy (RBAC + DaemonSet) and the Kata RuntimeClasses; nothing for gVisor."""

    runtime_classes: list[k8s.node.v1.RuntimeClass]
    runtime_class_names: list[str]
    daemonset: k8s.apps.v1.DaemonSet | None
    image: str | None
    # What a sandbox must wait for: the RuntimeClasses and the DaemonSet (which itself waits for
    # the node pool); for gVisor, the GKE Sandbox pool that brings the `gvisor` class.
    ready: list[pulumi.Resource]

    def __init__(
        self, name: str, args: IsolationRuntimeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(c.type_token("isolation", "IsolationRuntime"), name, None, opts)
        s = args.settings
        self.runtime_classes = []
        self.daemonset = None
        self.image = None
        if s.runtime == "kata":
            self._kata(name, args)
            assert self.daemonset is not None
            self.ready = [*self.runtime_classes, self.daemonset]
        else:
            self.ready = [args.node_pool] if args.node_pool is not None else []
        self.runtime_class_names = [n for n, _ in runtime_class_names(s)]
        self.register_outputs(
            {
                "runtimeClasses": self.runtime_class_names,
                "daemonset": self.daemonset.metadata.name if self.daemonset else None,
                "image": self.image,
            }
        )

    def _kata(self, name: str, args: IsolationRuntimeArgs) -> None:
        s, placement = args.settings, args.placement
        kata = s.kata
        child = pulumi.ResourceOptions(parent=self)
        # Fixed names (kata-deploy's contract) cannot be created before the old object is gone.
        fixed = child.merge(pulumi.ResourceOptions(delete_before_replace=True))
        labels = {**c.COMMON_LABELS, c.COMPONENT_LABEL: c.KATA_DEPLOY_NAME}
        self.image = kata.image

        namespace: pulumi.Input[str] = kata.namespace
        if kata.namespace != c.KATA_DEPLOY_NAMESPACE:
            ns = core.Namespace(
                f"{name}-namespace",
                metadata=meta.ObjectMetaArgs(
                    name=kata.namespace, labels={**labels, **POD_SECURITY_LABELS}
                ),
                opts=fixed,
            )
            namespace = ns.metadata.name
            # GKE admits system-node-critical pods outside kube-system only under a quota.
            core.ResourceQuota(
                f"{name}-critical-pods",
                metadata=meta.ObjectMetaArgs(
                    name=f"{c.KATA_DEPLOY_NAME}-critical-pods", namespace=namespace, labels=labels
                ),
                spec=core.ResourceQuotaSpecArgs(
                    hard={"pods": CRITICAL_PODS_QUOTA},
                    scope_selector=core.ScopeSelectorArgs(
                        match_expressions=[
                            core.ScopedResourceSelectorRequirementArgs(
                                scope_name="PriorityClass",
                                operator="In",
                                values=[c.SYSTEM_NODE_CRITICAL],
                            )
                        ]
                    ),
                ),
                opts=fixed,
            )

        # --- RBAC: what the kata-deploy 4.1 binary calls (binary/src/k8s/client.rs): get and
        # patch its own Node (labels), get its own DaemonSet and list all DaemonSets. The
        # chart's nodes/proxy (every kubelet's API) reads only /configz for a warning it skips
        # on error, and nothing watches: both left out. The admission backstop limits the
        # patch to the pod's own node and kata-deploy's labels (components/isolation/admission.py).
        sa = core.ServiceAccount(
            f"{name}-sa",
            metadata=meta.ObjectMetaArgs(
                name=c.KATA_DEPLOY_SERVICE_ACCOUNT, namespace=namespace, labels=labels
            ),
            opts=fixed,
        )
        role = rbac.ClusterRole(
            f"{name}-role",
            metadata=meta.ObjectMetaArgs(name=c.KATA_DEPLOY_CLUSTER_ROLE, labels=labels),
            rules=[
                rbac.PolicyRuleArgs(api_groups=[""], resources=["nodes"], verbs=["get", "patch"]),
                rbac.PolicyRuleArgs(
                    api_groups=["apps"], resources=["daemonsets"], verbs=["get", "list"]
                ),
            ],
            opts=fixed,
        )
        binding = rbac.ClusterRoleBinding(
            f"{name}-binding",
            metadata=meta.ObjectMetaArgs(name=c.KATA_DEPLOY_CLUSTER_ROLE_BINDING, labels=labels),
            role_ref=rbac.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role.metadata.name
            ),
            subjects=[
                rbac.SubjectArgs(kind="ServiceAccount", name=sa.metadata.name, namespace=namespace)
            ],
            opts=fixed,
        )

        # --- the DaemonSet (kata-deploy.yaml, daemonset mode).
        volumes, mounts = kata_deploy_volumes()
        selector = {"name": c.KATA_DEPLOY_NAME}
        command = ["/usr/bin/kata-deploy"]
        if kata.debug:  # the chart's logLevel: debug follows debug: true
            command += ["--log-level", "debug"]
        command.append("install")
        waits_for: list[pulumi.Resource] = [sa, role, binding]
        if args.node_pool is not None:
            waits_for.append(args.node_pool)
        self.daemonset = apps.DaemonSet(
            f"{name}-daemonset",
            metadata=meta.ObjectMetaArgs(
                name=c.KATA_DEPLOY_NAME, namespace=namespace, labels=labels
            ),
            spec=apps.DaemonSetSpecArgs(
                selector=meta.LabelSelectorArgs(match_labels=selector),
                template=core.PodTemplateSpecArgs(
                    metadata=meta.ObjectMetaArgs(labels={**labels, **selector}),
                    spec=core.PodSpecArgs(
                        service_account_name=c.KATA_DEPLOY_SERVICE_ACCOUNT,
                        # Only the sandbox pool's nodes (all nodes on a kubeconfig cluster).
                        node_selector=dict(placement.node_selector) or None,
                        tolerations=tolerations(placement),
                        priority_class_name=c.SYSTEM_NODE_CRITICAL,
                        # SIGTERM uninstalls Kata: restart the CRI runtime, wait for the node.
                        termination_grace_period_seconds=TERMINATION_GRACE_SECONDS,
                        containers=[
                            core.ContainerArgs(
                                name=CONTAINER_NAME,
                                image=self.image,
                                image_pull_policy="Always",
                                command=command,
                                env=kata_deploy_env(s),
                                security_context=core.SecurityContextArgs(
                                    privileged=False, read_only_root_filesystem=True
                                ),
                                # /readyz passes once the install is done; up to 10 min for it.
                                startup_probe=_probe(
                                    "/readyz",
                                    STARTUP_PROBE[1],
                                    STARTUP_PROBE[2],
                                    initial_delay=STARTUP_PROBE[0],
                                ),
                                liveness_probe=_probe("/healthz", 30, 3),
                                readiness_probe=_probe("/readyz", 10, 3),
                                resources=core.ResourceRequirementsArgs(requests=REQUESTS),
                                volume_mounts=mounts,
                            )
                        ],
                        volumes=volumes,
                    ),
                ),
                # One node at a time: each pod's rollout uninstalls and reinstalls Kata.
                update_strategy=apps.DaemonSetUpdateStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=apps.RollingUpdateDaemonSetArgs(max_unavailable=1),
                ),
            ),
            # RBAC first on create, last on destroy; on GKE also after the pool exists.
            opts=fixed.merge(
                pulumi.ResourceOptions(
                    depends_on=waits_for, custom_timeouts=daemonset_timeouts(args.nodes)
                )
            ),
        )

        # --- RuntimeClasses (runtimeclasses.yaml) with the pool's placement.
        node_selector = {
            c.KATA_READY_LABEL: c.KATA_READY_VALUE,
            c.KATA_INSTANCE_LABEL: c.KATA_READY_VALUE,
            **placement.node_selector,
        }
        for rc_name, shim in runtime_class_names(s):
            memory, cpu = c.KATA_SHIM_OVERHEAD[shim]
            self.runtime_classes.append(
                node.RuntimeClass(
                    f"{name}-{rc_name}",
                    metadata=meta.ObjectMetaArgs(
                        name=rc_name,
                        labels=labels,
                        annotations={c.KATA_VERSION_ANNOTATION: kata.version},
                    ),
                    handler=rc_name,
                    overhead=node.OverheadArgs(pod_fixed={"memory": memory, "cpu": cpu}),
                    scheduling=node.SchedulingArgs(
                        node_selector=node_selector, tolerations=tolerations(placement)
                    ),
                    opts=fixed,
                )
            )


def isolation_exports(settings: IsolationSettings, isolation: IsolationRuntime) -> dict[str, Any]:
    """Stack outputs beyond runtimeClasses/defaultRuntimeClass; None where the runtime is gVisor."""
    kata = settings.runtime == "kata"
    return {
        "kataVersion": settings.kata.version if kata else None,
        "kataDeployImage": isolation.image,
    }
