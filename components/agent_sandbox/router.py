"""The sandbox router: the one entry point clients use to reach sandboxes (Kata pods cannot be
port-forwarded). It lives where the SDKs and upstream's default sandbox NetworkPolicy expect it —
Service ``sandbox-router-svc:8080`` in ``agent-sandbox-system``, pods labelled
``app: sandbox-router`` — and requires a bearer token unless the stack explicitly opts out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from .. import constants as c
from ..isolation.pod_security import platform_container_security_context, resource_requirements
from ..settings import PlatformSettings, RouterSettings

core = k8s.core.v1
meta = k8s.meta.v1
net = k8s.networking.v1

# Rotating the token (pulumi up --replace on the RandomPassword) changes this annotation and
# so rolls the pods: env vars from a Secret are read only at container start.
TOKEN_CHECKSUM_ANNOTATION = "agent-sandbox.dev/auth-token-sha256"


@dataclass(frozen=True)
class RouterArgs:
    settings: RouterSettings
    # The namespace the SDKs look in; pass the control plane's Namespace name (an Output) so the
    # router waits for the namespace without waiting for anything else.
    namespace: pulumi.Input[str] = c.AGENT_SANDBOX_NAMESPACE
    # Pins the router to the system pool where there is one (GKE create mode).
    node_selector: Mapping[str, str] = field(default_factory=dict)
    # Who may call the router and what it may call; None registers no NetworkPolicy.
    network: RouterNetwork | None = None


@dataclass(frozen=True)
class RouterNetwork:
    """The router's NetworkPolicy: ingress only from the gateway's load balancer and the SDK
    client namespaces; egress only to cluster DNS and to sandbox pods, on sandbox ports, in
    the sandbox namespaces. That also bounds what ``X-Sandbox-Pod-IP`` / ``X-Sandbox-Namespace``
    can make the router dial: nothing but a sandbox pod."""

    sandbox_namespaces: Sequence[str]
    sandbox_ports: Sequence[int]
    client_namespaces: Sequence[str] = ()
    # Load-balancer source ranges; empty when there is no gateway.
    ingress_cidrs: Sequence[str] = ()


def router_network(s: PlatformSettings) -> RouterNetwork:
    """The router's network reach on a platform (or all-in-one) stack."""
    ports = {*s.router.sandbox_ports}
    for _, _, w in s.sandboxes.workloads:
        ports.update(p.container_port for p in w.ports)
    cidrs: list[str] = []
    if s.gateway.enabled:
        # Health checks always come from Google's prober ranges; the global class's proxies
        # too, the regional classes' from the proxy-only subnet (router.trustedProxyCidrs).
        cidrs = [*c.GCP_LB_SOURCE_CIDRS]
        if s.gateway.class_name in c.GATEWAY_REGIONAL_CLASSES:
            cidrs += s.router.trusted_proxy_cidrs
    return RouterNetwork(
        sandbox_namespaces=s.sandbox_namespaces,
        sandbox_ports=sorted(ports),
        # The platform's own list plus each declared tenant's client namespace.
        client_namespaces=list(
            dict.fromkeys(
                [
                    *s.router.client_namespaces,
                    *(t.client_namespace for t in s.tenants if t.client_namespace),
                ]
            )
        ),
        ingress_cidrs=cidrs,
    )


def _namespace(name: str) -> meta.LabelSelectorArgs:
    return meta.LabelSelectorArgs(match_labels={c.NAMESPACE_NAME_LABEL: name})


def network_policy_spec(network: RouterNetwork) -> net.NetworkPolicySpecArgs:
    router_port = [net.NetworkPolicyPortArgs(protocol="TCP", port=c.ROUTER_PORT)]
    sources = [
        net.NetworkPolicyPeerArgs(ip_block=net.IPBlockArgs(cidr=cidr))
        for cidr in network.ingress_cidrs
    ] + [
        net.NetworkPolicyPeerArgs(namespace_selector=_namespace(ns))
        for ns in network.client_namespaces
    ]
    sandbox_pods = meta.LabelSelectorArgs(
        match_expressions=[
            meta.LabelSelectorRequirementArgs(key=c.SANDBOX_POD_LABEL, operator="Exists")
        ]
    )
    return net.NetworkPolicySpecArgs(
        pod_selector=meta.LabelSelectorArgs(match_labels=dict(c.ROUTER_APP_LABEL)),
        policy_types=["Ingress", "Egress"],
        # No source, no rule: an empty "from" would admit everyone.
        ingress=[net.NetworkPolicyIngressRuleArgs(from_=sources, ports=router_port)]
        if sources
        else [],
        egress=[
            net.NetworkPolicyEgressRuleArgs(
                to=[
                    net.NetworkPolicyPeerArgs(
                        namespace_selector=_namespace(c.KUBE_SYSTEM_NAMESPACE),
                        pod_selector=meta.LabelSelectorArgs(match_labels=dict(c.KUBE_DNS_LABEL)),
                    )
                ],
                ports=[
                    net.NetworkPolicyPortArgs(protocol=proto, port=c.DNS_PORT)
                    for proto in ("UDP", "TCP")
                ],
            ),
            net.NetworkPolicyEgressRuleArgs(
                to=[
                    net.NetworkPolicyPeerArgs(
                        namespace_selector=_namespace(ns), pod_selector=sandbox_pods
                    )
                    for ns in network.sandbox_namespaces
                ],
                ports=[
                    net.NetworkPolicyPortArgs(protocol="TCP", port=port)
                    for port in network.sandbox_ports
                ],
            ),
        ],
    )


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Router(pulumi.ComponentResource):
    """Router Deployment + Service + PodDisruptionBudget, its identity and its auth token."""

    service_name: pulumi.Output[str]
    namespace: pulumi.Output[str]
    port: int
    url: pulumi.Output[str]
    # Secret; None when router.allowUnauthenticated is true.
    auth_token: pulumi.Output[str] | None
    auth_secret_name: pulumi.Output[str] | None
    client_namespaces: tuple[str, ...]

    def __init__(
        self, name: str, args: RouterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(c.type_token("router", "Router"), name, None, opts)
        s = args.settings
        child = pulumi.ResourceOptions(parent=self)
        # Fixed names (the SDK contract) cannot be created before the old object is deleted.
        fixed_name = child.merge(pulumi.ResourceOptions(delete_before_replace=True))
        labels = {**c.COMMON_LABELS, c.COMPONENT_LABEL: "sandbox-router"}
        pod_labels = {**labels, **c.ROUTER_APP_LABEL}

        def metadata(object_name: str) -> meta.ObjectMetaArgs:
            return meta.ObjectMetaArgs(name=object_name, namespace=args.namespace, labels=labels)

        sa = core.ServiceAccount(
            f"{name}-sa",
            metadata=metadata(c.ROUTER_SERVICE_ACCOUNT_NAME),
            # The router proxies by DNS name; it never talks to the Kubernetes API.
            automount_service_account_token=False,
            opts=child,
        )

        env = [
            core.EnvVarArgs(name=c.ROUTER_ENV_PROXY_TIMEOUT, value=str(s.proxy_timeout_seconds)),
            core.EnvVarArgs(
                name=c.ROUTER_ENV_WS_IDLE_TIMEOUT, value=str(s.websocket_idle_timeout_seconds)
            ),
            core.EnvVarArgs(
                name=c.ROUTER_ENV_WS_MAX_LIFETIME, value=str(s.websocket_max_lifetime_seconds)
            ),
            core.EnvVarArgs(
                name=c.ROUTER_ENV_WS_MAX_MESSAGE_BYTES, value=str(s.websocket_max_message_bytes)
            ),
            core.EnvVarArgs(
                name=c.ROUTER_ENV_WS_MAX_CONNECTIONS_PER_CLIENT,
                value=str(s.websocket_max_connections_per_client),
            ),
            core.EnvVarArgs(name=c.ROUTER_ENV_KEEP_ALIVE, value=str(s.keep_alive_timeout_seconds)),
            core.EnvVarArgs(
                name=c.ROUTER_ENV_ALLOW_UNAUTHENTICATED,
                value="true" if s.allow_unauthenticated else "false",
            ),
        ]
        if s.trusted_proxy_cidrs:
            env.append(
                core.EnvVarArgs(
                    name=c.ROUTER_ENV_TRUSTED_PROXY_CIDRS, value=",".join(s.trusted_proxy_cidrs)
                )
            )

        annotations: dict[str, pulumi.Input[str]] = {}
        self.auth_token = None
        self.auth_secret_name = None
        if not s.allow_unauthenticated:
            password = random.RandomPassword(
                f"{name}-token",
                length=c.ROUTER_AUTH_TOKEN_LENGTH,
                # Header-safe: no characters a client would have to quote or escape.
                special=False,
                opts=child,
            )
            # Explicitly secret: the wrapper must hold even where the engine's
            # additionalSecretOutputs handling does not run (mocks, previews).
            self.auth_token = pulumi.Output.secret(password.result)
            secret = core.Secret(
                f"{name}-auth",
                metadata=metadata(c.ROUTER_AUTH_SECRET_NAME),
                type="Opaque",
                string_data={c.ROUTER_AUTH_SECRET_KEY: self.auth_token},
                opts=fixed_name,
            )
            self.auth_secret_name = secret.metadata.apply(lambda m: m.name or "")
            env.append(
                core.EnvVarArgs(
                    name=c.ROUTER_ENV_AUTH_TOKEN,
                    value_from=core.EnvVarSourceArgs(
                        secret_key_ref=core.SecretKeySelectorArgs(
                            name=self.auth_secret_name, key=c.ROUTER_AUTH_SECRET_KEY
                        )
                    ),
                )
            )
            annotations[TOKEN_CHECKSUM_ANNOTATION] = self.auth_token.apply(_sha256)

        probe = core.ProbeArgs
        http_get = core.HTTPGetActionArgs(path=c.ROUTER_HEALTH_PATH, port=c.ROUTER_PORT_NAME)
        container = core.ContainerArgs(
            name=c.ROUTER_CONTAINER_NAME,
            image=s.image,
            # A mutable tag must be re-pulled to mean what it says; a digest never changes.
            image_pull_policy="IfNotPresent" if s.image_pinned else "Always",
            ports=[
                core.ContainerPortArgs(
                    name=c.ROUTER_PORT_NAME, container_port=c.ROUTER_PORT, protocol="TCP"
                )
            ],
            env=env,
            readiness_probe=probe(
                http_get=http_get, initial_delay_seconds=5, period_seconds=5, failure_threshold=3
            ),
            liveness_probe=probe(
                http_get=http_get, initial_delay_seconds=10, period_seconds=10, failure_threshold=3
            ),
            resources=resource_requirements(s.resources),
            security_context=platform_container_security_context(c.ROUTER_RUN_AS_USER),
            # Python needs a writable temp dir; the root filesystem stays read-only.
            volume_mounts=[core.VolumeMountArgs(name="tmp", mount_path="/tmp")],
        )

        selector = dict(c.ROUTER_APP_LABEL)
        spread = [
            # Hard on nodes (one node never holds every replica while another is free)...
            core.TopologySpreadConstraintArgs(
                max_skew=1,
                topology_key="kubernetes.io/hostname",
                when_unsatisfiable="DoNotSchedule",
                label_selector=meta.LabelSelectorArgs(match_labels=selector),
            ),
            # ...soft on zones (a zonal cluster has one).
            core.TopologySpreadConstraintArgs(
                max_skew=1,
                topology_key="topology.kubernetes.io/zone",
                when_unsatisfiable="ScheduleAnyway",
                label_selector=meta.LabelSelectorArgs(match_labels=selector),
            ),
        ]
        # Never on the sandbox pool, even on clusters where no system-pool label exists (its
        # taint already keeps the router off; this holds if someone adds a toleration).
        keep_off_sandbox_pool = core.AffinityArgs(
            node_affinity=core.NodeAffinityArgs(
                required_during_scheduling_ignored_during_execution=core.NodeSelectorArgs(
                    node_selector_terms=[
                        core.NodeSelectorTermArgs(
                            match_expressions=[
                                core.NodeSelectorRequirementArgs(
                                    key=c.SANDBOX_POOL_LABEL,
                                    operator="NotIn",
                                    values=[c.SANDBOX_POOL_LABEL_VALUE],
                                )
                            ]
                        )
                    ]
                )
            )
        )

        k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=metadata(c.ROUTER_DEPLOYMENT_NAME),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=s.replicas,
                selector=meta.LabelSelectorArgs(match_labels=selector),
                # Keep full serving capacity during a rollout.
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                        max_unavailable=0, max_surge=1
                    ),
                ),
                template=core.PodTemplateSpecArgs(
                    metadata=meta.ObjectMetaArgs(labels=pod_labels, annotations=annotations),
                    spec=core.PodSpecArgs(
                        service_account_name=sa.metadata.apply(lambda m: m.name or ""),
                        automount_service_account_token=False,
                        enable_service_links=False,
                        node_selector=dict(args.node_selector) or None,
                        affinity=keep_off_sandbox_pool,
                        topology_spread_constraints=spread,
                        security_context=core.PodSecurityContextArgs(
                            run_as_non_root=True,
                            run_as_user=c.ROUTER_RUN_AS_USER,
                            run_as_group=c.ROUTER_RUN_AS_USER,
                            fs_group=c.ROUTER_RUN_AS_USER,
                            seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
                        ),
                        containers=[container],
                        volumes=[
                            core.VolumeArgs(
                                name="tmp",
                                empty_dir=core.EmptyDirVolumeSourceArgs(size_limit="64Mi"),
                            )
                        ],
                    ),
                ),
            ),
            opts=fixed_name,
        )

        service = core.Service(
            f"{name}-service",
            metadata=metadata(c.ROUTER_SERVICE_NAME),
            spec=core.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector,
                ports=[
                    core.ServicePortArgs(
                        name=c.ROUTER_PORT_NAME,
                        port=c.ROUTER_PORT,
                        target_port=c.ROUTER_PORT_NAME,
                        protocol="TCP",
                    )
                ],
            ),
            opts=fixed_name,
        )

        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=metadata(c.ROUTER_DEPLOYMENT_NAME),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                # One at a time: a drain never takes every replica, yet never blocks forever
                # (minAvailable: 1 would, with a single replica).
                max_unavailable=1,
                selector=meta.LabelSelectorArgs(match_labels=selector),
            ),
            opts=fixed_name,
        )

        if args.network is not None:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-network",
                metadata=metadata(c.ROUTER_NETWORK_POLICY_NAME),
                spec=network_policy_spec(args.network),
                opts=child,
            )

        self.client_namespaces = tuple(args.network.client_namespaces) if args.network else ()
        self.service_name = service.metadata.apply(lambda m: m.name or "")
        self.namespace = service.metadata.apply(lambda m: m.namespace or "")
        self.port = c.ROUTER_PORT
        self.url = self.namespace.apply(c.router_url)
        self.register_outputs(
            {
                "serviceName": self.service_name,
                "namespace": self.namespace,
                "port": self.port,
                "url": self.url,
                "authToken": self.auth_token,
                "authSecretName": self.auth_secret_name,
            }
        )


def router_exports(router: Router | None) -> dict[str, Any]:
    """Stack outputs for the SDK's connection modes; stable keys, None when there is no router.

    ``routerAuthToken`` is a Pulumi secret: ``pulumi stack output routerAuthToken --show-secrets``.
    """
    return {
        "routerServiceName": router.service_name if router else None,
        "routerNamespace": router.namespace if router else None,
        "routerUrl": router.url if router else None,
        "routerPort": router.port if router else None,
        "sandboxPort": c.SANDBOX_DEFAULT_RUNTIME_PORT,
        "routerAuthToken": router.auth_token if router else None,
        "routerAuthSecretName": router.auth_secret_name if router else None,
        "routerClientNamespaces": list(router.client_namespaces) if router else None,
    }
