"""The agent-sandbox control plane: CRDs, RBAC, metrics Service and the controller, from a pinned
release manifest turned into typed resources (visible one by one to previews and the policy pack).

Data safety: the CRDs are ``retain_on_delete`` (deleting a CRD deletes every Sandbox and its
volumes) and keep version-independent names, so a version bump updates them in place. The
controller waits for the CRDs; dependents (sandboxes) wait for ``ready`` so that a destroy removes
them while the controller can still finalize them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .. import constants as c
from ..isolation.pod_security import (
    namespace_labels,
    platform_container_security_context,
    resource_requirements,
)
from ..settings import ControlPlaneSettings, PlatformSettings
from .release_manifest import ReleaseManifest

core = k8s.core.v1
meta = k8s.meta.v1
rbac = k8s.rbac.v1
COMPONENT = "control-plane"
# Scratch space for a read-only root filesystem; controller-runtime needs none today, this keeps
# a future release that writes temp files from crash-looping.
TMP_VOLUME = "tmp"
TMP_SIZE_LIMIT = "64Mi"


def controller_image(settings: ControlPlaneSettings) -> str:
    """``registry.k8s.io/agent-sandbox/agent-sandbox-controller:<version>``, or its mirror."""
    repository = c.CONTROLLER_IMAGE_REPOSITORY
    if settings.image_registry:
        path = repository.removeprefix(c.UPSTREAM_IMAGE_REGISTRY)
        repository = f"{settings.image_registry}{path}"
    return f"{repository}:{settings.version}"


def controller_node_selector(settings: PlatformSettings) -> dict[str, str]:
    """The system pool, where this stack creates it. An existing GKE cluster or a kubeconfig
    cluster has pools we did not label: pinning to our label would leave the controller Pending,
    and the sandbox pool's taint already keeps it off sandbox nodes."""
    if settings.cluster.mode == "create":
        return {c.SYSTEM_POOL_LABEL: c.SYSTEM_POOL_LABEL_VALUE}
    return {}


@dataclass(frozen=True)
class ControlPlaneArgs:
    settings: ControlPlaneSettings
    # From release_manifest.load_manifest (run before any registration); None only when
    # settings.enabled is false — then just the namespace is created, for the router.
    manifest: ReleaseManifest | None
    node_selector: Mapping[str, str] = field(default_factory=dict)


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    own = obj.get("labels") or {}
    return {**own, **c.COMMON_LABELS, c.COMPONENT_LABEL: COMPONENT}


def _meta(obj: Mapping[str, Any], namespace: str | None = None) -> meta.ObjectMetaArgs:
    m = obj["metadata"]
    return meta.ObjectMetaArgs(
        name=m["name"],
        namespace=namespace,
        labels=_labels(m),
        annotations=m.get("annotations") or None,
    )


def _port(p: Mapping[str, Any]) -> core.ContainerPortArgs:
    return core.ContainerPortArgs(
        container_port=p["containerPort"], name=p.get("name"), protocol=p.get("protocol")
    )


def _volume(v: Mapping[str, Any]) -> core.VolumeArgs:
    cm, secret, empty = v.get("configMap"), v.get("secret"), v.get("emptyDir")
    return core.VolumeArgs(
        name=v["name"],
        config_map=core.ConfigMapVolumeSourceArgs(
            name=cm.get("name"), optional=cm.get("optional"), default_mode=cm.get("defaultMode")
        )
        if cm is not None
        else None,
        secret=core.SecretVolumeSourceArgs(
            secret_name=secret.get("secretName"),
            optional=secret.get("optional"),
            default_mode=secret.get("defaultMode"),
        )
        if secret is not None
        else None,
        empty_dir=core.EmptyDirVolumeSourceArgs(
            medium=empty.get("medium"), size_limit=empty.get("sizeLimit")
        )
        if empty is not None
        else None,
    )


def _mount(m: Mapping[str, Any]) -> core.VolumeMountArgs:
    return core.VolumeMountArgs(
        name=m["name"],
        mount_path=m["mountPath"],
        read_only=m.get("readOnly"),
        sub_path=m.get("subPath"),
    )


def _probe(path: str, port: int | str, initial_delay: int, period: int) -> core.ProbeArgs:
    return core.ProbeArgs(
        http_get=core.HTTPGetActionArgs(path=path, port=port),
        initial_delay_seconds=initial_delay,
        period_seconds=period,
        timeout_seconds=1,
        failure_threshold=3,
    )


def controller_args(ctr: Mapping[str, Any], settings: ControlPlaneSettings) -> list[str] | None:
    """The release's args (--leader-elect=true --extensions), plus --cache-label-selectors:
    without it the controller caches every Pod and Service in the cluster, and its memory
    grows with workloads it never touches until the limit OOM-kills it."""
    args = list(ctr.get("args") or [])
    if settings.cache_label_selectors and not any(
        a.split("=", 1)[0] == c.CONTROLLER_CACHE_LABEL_SELECTORS_FLAG for a in args
    ):
        args.append(c.CONTROLLER_CACHE_LABEL_SELECTORS_FLAG)
    return args or None


def controller_pod_spec(
    manifest: ReleaseManifest, settings: ControlPlaneSettings, node_selector: Mapping[str, str]
) -> core.PodSpecArgs:
    """The manifest's pod spec, hardened: resources, probes, a restrictive security context,
    the configured image and placement. Everything else is carried over as upstream ships it."""
    pod = manifest.controller["spec"]["template"]["spec"]
    containers = []
    for ctr in pod["containers"]:
        ports = ctr.get("ports") or []
        mounts = [_mount(m) for m in ctr.get("volumeMounts") or []]
        is_controller = ctr["name"] == c.CONTROLLER_NAME
        if not any(m.get("mountPath") == "/tmp" for m in ctr.get("volumeMounts") or []):
            mounts.append(core.VolumeMountArgs(name=TMP_VOLUME, mount_path="/tmp"))
        health: int | str = (
            c.CONTROLLER_HEALTH_PORT_NAME
            if any(p.get("name") == c.CONTROLLER_HEALTH_PORT_NAME for p in ports)
            else c.CONTROLLER_HEALTH_PORT
        )
        containers.append(
            core.ContainerArgs(
                name=ctr["name"],
                image=controller_image(settings) if is_controller else ctr.get("image"),
                image_pull_policy=ctr.get("imagePullPolicy"),
                command=ctr.get("command"),
                args=controller_args(ctr, settings) if is_controller else ctr.get("args"),
                env=[core.EnvVarArgs(name=e["name"], value=e.get("value")) for e in ctr["env"]]
                if ctr.get("env")
                else None,
                ports=[_port(p) for p in ports] or None,
                volume_mounts=mounts,
                resources=resource_requirements(settings.resources),
                liveness_probe=_probe(c.CONTROLLER_LIVENESS_PATH, health, 15, 20)
                if is_controller
                else None,
                readiness_probe=_probe(c.CONTROLLER_READINESS_PATH, health, 5, 10)
                if is_controller
                else None,
                security_context=platform_container_security_context(c.CONTROLLER_RUN_AS_USER),
            )
        )
    volumes = [_volume(v) for v in pod.get("volumes") or []]
    if TMP_VOLUME not in [v.get("name") for v in pod.get("volumes") or []]:
        volumes.append(
            core.VolumeArgs(
                name=TMP_VOLUME, empty_dir=core.EmptyDirVolumeSourceArgs(size_limit=TMP_SIZE_LIMIT)
            )
        )
    return core.PodSpecArgs(
        containers=containers,
        service_account_name=pod.get("serviceAccountName"),
        termination_grace_period_seconds=pod.get("terminationGracePeriodSeconds"),
        volumes=volumes,
        node_selector=dict(node_selector) or None,
        security_context=core.PodSecurityContextArgs(
            run_as_non_root=True,
            run_as_user=c.CONTROLLER_RUN_AS_USER,
            run_as_group=c.CONTROLLER_RUN_AS_USER,
            seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
        ),
    )


class ControlPlane(pulumi.ComponentResource):
    """Namespace ``agent-sandbox-system`` plus, when enabled, the release's CRDs and controller.

    ``ready`` is what a resource that needs the controller (a Sandbox) should ``depends_on``.
    """

    # None only when the unexpanded release manifest creates the namespace itself.
    namespace: core.Namespace | None
    namespace_name: pulumi.Output[str]
    crds: dict[str, k8s.apiextensions.v1.CustomResourceDefinition]
    controller: k8s.apps.v1.Deployment | None
    unexpanded: k8s.yaml.v2.ConfigFile | None
    ready: list[pulumi.Resource]
    image: str | None
    version: str | None

    def __init__(
        self, name: str, args: ControlPlaneArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(c.type_token("control_plane", "ControlPlane"), name, None, opts)
        s, m = args.settings, args.manifest
        child = pulumi.ResourceOptions(parent=self)
        self.crds, self.controller, self.unexpanded, self.ready = {}, None, None, []
        self.image: str | None = None  # set once the typed controller is installed
        self.version = s.version if s.enabled else None

        ns_obj = next(iter(m.of_kind("Namespace")), None) if m and m.available else None
        self.namespace = None
        if not (s.enabled and m is not None and not m.available):
            self.namespace = core.Namespace(
                f"{name}-namespace",
                metadata=meta.ObjectMetaArgs(
                    name=c.AGENT_SANDBOX_NAMESPACE,
                    # Everything that runs here (controller, router) meets "restricted".
                    labels={
                        **_labels(ns_obj["metadata"] if ns_obj else {}),
                        **namespace_labels("restricted"),
                    },
                ),
                # Without our control plane the namespace may be shared (e.g. with GKE's
                # managed add-on): never delete it on the way out then.
                opts=child.merge(pulumi.ResourceOptions(retain_on_delete=not s.enabled)),
            )
        if s.enabled:
            if m is None:
                raise ValueError("ControlPlaneArgs.manifest is required when enabled")
            if m.available:
                self._install(name, m, s, args.node_selector, child)
            else:
                self._unexpanded(name, m, child)
        # What the router waits for: our Namespace, or the unexpanded manifest that holds it.
        holder: pulumi.Resource | None = self.namespace or self.unexpanded
        assert holder is not None
        self.namespace_name = holder.urn.apply(lambda _: c.AGENT_SANDBOX_NAMESPACE)
        self.register_outputs(
            {
                "namespace": self.namespace_name,
                "crds": sorted(self.crds),
                "image": self.image,
                "version": self.version,
            }
        )

    def _install(
        self,
        name: str,
        m: ReleaseManifest,
        s: ControlPlaneSettings,
        node_selector: Mapping[str, str],
        child: pulumi.ResourceOptions,
    ) -> None:
        ns = c.AGENT_SANDBOX_NAMESPACE
        assert self.namespace is not None
        in_ns = child.merge(pulumi.ResourceOptions(depends_on=[self.namespace]))
        for obj in m.crds:
            crd = obj["metadata"]["name"]
            # The logical name is the CRD's own name, never the version: a version bump is an
            # in-place update of the same resources, and retain_on_delete keeps every Sandbox
            # alive through `pulumi destroy` or removal from the program.
            self.crds[crd] = k8s.apiextensions.v1.CustomResourceDefinition(
                f"{name}-crd-{crd}",
                metadata=_meta(obj),
                spec=obj["spec"],
                opts=child.merge(pulumi.ResourceOptions(retain_on_delete=True)),
            )
        access: list[pulumi.Resource] = []
        for obj in m.of_kind("ServiceAccount"):
            access.append(
                core.ServiceAccount(
                    f"{name}-serviceaccount-{obj['metadata']['name']}",
                    metadata=_meta(obj, ns),
                    opts=in_ns,
                )
            )
        for obj in m.of_kind("ClusterRole"):
            access.append(
                rbac.ClusterRole(
                    f"{name}-clusterrole-{obj['metadata']['name']}",
                    metadata=_meta(obj),
                    rules=[
                        rbac.PolicyRuleArgs(
                            api_groups=r.get("apiGroups"),
                            resources=r.get("resources"),
                            verbs=r["verbs"],
                            resource_names=r.get("resourceNames"),
                            non_resource_urls=r.get("nonResourceURLs"),
                        )
                        for r in obj.get("rules") or []
                    ],
                    opts=child,
                )
            )
        for obj in m.of_kind("ClusterRoleBinding"):
            ref = obj["roleRef"]
            access.append(
                rbac.ClusterRoleBinding(
                    f"{name}-clusterrolebinding-{obj['metadata']['name']}",
                    metadata=_meta(obj),
                    role_ref=rbac.RoleRefArgs(
                        api_group=ref["apiGroup"], kind=ref["kind"], name=ref["name"]
                    ),
                    subjects=[
                        rbac.SubjectArgs(
                            kind=x["kind"],
                            name=x["name"],
                            namespace=x.get("namespace"),
                            api_group=x.get("apiGroup"),
                        )
                        for x in obj.get("subjects") or []
                    ],
                    opts=child,
                )
            )
        for obj in m.of_kind("Service"):
            spec = obj["spec"]
            core.Service(
                f"{name}-service-{obj['metadata']['name']}",
                metadata=_meta(obj, ns),
                spec=core.ServiceSpecArgs(
                    type=spec.get("type"),
                    selector=spec.get("selector"),
                    ports=[
                        core.ServicePortArgs(
                            name=p.get("name"),
                            port=p["port"],
                            protocol=p.get("protocol"),
                            target_port=p.get("targetPort"),
                            app_protocol=p.get("appProtocol"),
                        )
                        for p in spec.get("ports") or []
                    ],
                ),
                opts=in_ns,
            )
        deployment = m.controller
        self.image = controller_image(s)
        template = deployment["spec"]["template"]
        self.controller = k8s.apps.v1.Deployment(
            f"{name}-controller",
            metadata=_meta(deployment, ns),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                # Leader election (--leader-elect=true) makes extra replicas warm standbys.
                replicas=s.replicas,
                # Immutable on a live Deployment: always upstream's.
                selector=meta.LabelSelectorArgs(
                    match_labels=deployment["spec"]["selector"]["matchLabels"]
                ),
                template=core.PodTemplateSpecArgs(
                    metadata=meta.ObjectMetaArgs(
                        labels=_labels(template.get("metadata") or {}),
                        annotations=(template.get("metadata") or {}).get("annotations"),
                    ),
                    spec=controller_pod_spec(m, s, node_selector),
                ),
            ),
            # The controller starts only once its CRDs and permissions exist.
            opts=child.merge(
                pulumi.ResourceOptions(depends_on=[self.namespace, *self.crds.values(), *access])
            ),
        )
        self.ready = [self.controller]

    def _unexpanded(self, name: str, m: ReleaseManifest, child: pulumi.ResourceOptions) -> None:
        assert m.url is not None  # an unavailable manifest is always a remote one
        # One step the provider expands at deploy time. It is protected and retained: its CRDs
        # must never be deleted when the typed install later takes over. The file's first object
        # is the agent-sandbox-system Namespace, so no typed Namespace is registered beside it
        # (two resources must never manage one object); the typed install adopts it later.
        self.unexpanded = k8s.yaml.v2.ConfigFile(
            f"{name}-manifest",
            file=m.url,
            opts=child.merge(pulumi.ResourceOptions(protect=True, retain_on_delete=True)),
        )
        self.ready = [self.unexpanded]
        pulumi.log.warn(
            f"{m.hint}. A deploy in this mode applies the upstream file as-is (not hardened, "
            "not digest-checked, no image mirror, no Pod Security labels on its namespace) and "
            "protects it.",
            resource=self,
        )


def control_plane_exports(
    control_plane: ControlPlane | None, manifest: ReleaseManifest | None
) -> dict[str, Any]:
    """Stack outputs of this layer (README "Stack outputs")."""
    cp = control_plane
    return {
        "agentSandboxVersion": cp.version if cp else None,
        "agentSandboxNamespace": c.AGENT_SANDBOX_NAMESPACE if cp else None,
        "controllerImage": cp.image if cp else None,
        # Digest of the manifest actually used: what to pin in controlPlane.sha256.
        "agentSandboxManifestSha256": manifest.sha256 if manifest else None,
    }
