"""GKE Gateway in front of the sandbox router: the production way in (SDK "gateway mode").

Everything lives in the router's namespace: GKE only honours HealthCheckPolicy and
GCPBackendPolicy in the Service's own namespace, and a route beside its backend needs no
ReferenceGrant (upstream's example puts them in ``default``, which breaks once the router moved).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from .. import constants as c
from ..settings import GatewaySettings

meta = k8s.meta.v1


@dataclass(frozen=True)
class GatewayArgs:
    settings: GatewaySettings
    # The router's own per-request timeout: the load balancer's backend timeout never undercuts
    # it (GCP's default of 30 s would cut long sandbox calls).
    router_timeout_seconds: int
    namespace: pulumi.Input[str]
    service_name: pulumi.Input[str]
    service_port: int = c.ROUTER_PORT
    # The router's WebSocket lifetime cap. GCP load balancers apply the backend timeout to a
    # WebSocket's whole life, so by default the backend timeout follows this cap, not the
    # per-request timeout (which the router itself enforces, answering 504).
    websocket_max_lifetime_seconds: int = 0
    # GCP project for the Gateway's static address (global class): clients then have a
    # stable http://<address> in the stack outputs.
    project: str | None = None


def backend_timeout(args: GatewayArgs) -> int:
    if args.settings.timeout_sec is not None:
        return args.settings.timeout_sec
    # A router without a lifetime cap (0) still gets one at the load balancer: a day.
    lifetime = args.websocket_max_lifetime_seconds or c.GATEWAY_DEFAULT_SESSION_SECONDS
    return max(args.router_timeout_seconds, lifetime)


def _listeners(s: GatewaySettings) -> list[dict[str, Any]]:
    # Routes only from this namespace, and only HTTPRoutes: nobody else can hang a route on
    # the router's public address.
    allowed = {
        "namespaces": {"from": "Same"},
        "kinds": [{"group": c.GATEWAY_API_GROUP, "kind": c.KIND_HTTP_ROUTE}],
    }
    listeners: list[dict[str, Any]] = [
        {
            "name": c.GATEWAY_HTTP_LISTENER,
            "protocol": "HTTP",
            "port": c.GATEWAY_HTTP_PORT,
            "allowedRoutes": allowed,
        }
    ]
    if s.https is not None:
        tls: dict[str, Any] = {"mode": "Terminate"}
        if s.https.certificate_secret:
            tls["certificateRefs"] = [
                {"group": "", "kind": "Secret", "name": s.https.certificate_secret}
            ]
        else:
            tls["options"] = {c.GKE_PRE_SHARED_CERTS_OPTION: s.https.pre_shared_certificate}
        listeners.append(
            {
                "name": c.GATEWAY_HTTPS_LISTENER,
                "protocol": "HTTPS",
                "port": c.GATEWAY_HTTPS_PORT,
                "tls": tls,
                "allowedRoutes": allowed,
            }
        )
    return listeners


def gateway_url(
    s: GatewaySettings, address: pulumi.Output[str] | None
) -> pulumi.Output[str] | None:
    """Where SDK clients send requests (direct mode's api_url). With hostnames on the routes,
    the load balancer answers 404 to any other Host, so clients must use the hostname; with
    HTTPS, :80 only redirects and the SDK refuses redirects, so only https:// works."""
    if s.hostname is not None:
        if s.hostname.startswith("*."):
            return None  # names no one host: the team picks the name under it
        scheme = "https" if s.https is not None else "http"
        return pulumi.Output.from_input(f"{scheme}://{s.hostname}")
    if s.https is None and address is not None:
        return address.apply(lambda ip: f"http://{ip}")
    return None


class Gateway(pulumi.ComponentResource):
    """Gateway + HTTPRoute(s) + HealthCheckPolicy + GCPBackendPolicy for the router Service,
    and the Gateway's static address where the class is global."""

    gateway_name: pulumi.Output[str]
    namespace: pulumi.Output[str]
    timeout_sec: int
    address: pulumi.Output[str] | None
    url: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(c.type_token("gateway", "Gateway"), name, None, opts)
        s = args.settings
        child = pulumi.ResourceOptions(parent=self)
        labels = {**c.COMMON_LABELS, c.COMPONENT_LABEL: "sandbox-gateway"}

        def metadata(object_name: str) -> meta.ObjectMetaArgs:
            return meta.ObjectMetaArgs(name=object_name, namespace=args.namespace, labels=labels)

        spec: dict[str, Any] = {"gatewayClassName": s.class_name, "listeners": _listeners(s)}
        self.address = None
        if args.project and s.class_name == c.GATEWAY_DEFAULT_CLASS:
            # A reserved address survives a re-created Gateway, and it is an output: the
            # Gateway's own status.addresses is not readable from a Pulumi CustomResource.
            reserved = gcp.compute.GlobalAddress(
                f"{name}-address",
                project=args.project,
                address_type="EXTERNAL",
                ip_version="IPV4",
                description="Static address of the sandbox router's Gateway",
                opts=child,
            )
            spec["addresses"] = [{"type": "NamedAddress", "value": reserved.name}]
            self.address = reserved.address
        gateway = k8s.apiextensions.CustomResource(
            f"{name}-gateway",
            api_version=c.GATEWAY_API_VERSION,
            kind=c.KIND_GATEWAY,
            metadata=metadata(s.name),
            spec=spec,
            opts=child,
        )
        # Custom resources have no typed outputs: the name/namespace we set, once it exists.
        self.gateway_name = gateway.id.apply(lambda _: s.name)
        self.namespace = pulumi.Output.all(gateway.id, args.namespace).apply(lambda v: str(v[1]))

        def parent(section: str | None) -> dict[str, Any]:
            ref: dict[str, Any] = {
                "group": c.GATEWAY_API_GROUP,
                "kind": c.KIND_GATEWAY,
                "name": self.gateway_name,
            }
            if section:
                ref["sectionName"] = section
            return ref

        hostnames = [s.hostname] if s.hostname else None
        # With HTTPS, the router (and the bearer token clients send) is served on 443 only;
        # port 80 just redirects.
        serving_listener = c.GATEWAY_HTTPS_LISTENER if s.https else None
        every_path = [{"path": {"type": "PathPrefix", "value": "/"}}]

        def route(role: str, route_name: str, listener: str | None, rule: dict[str, Any]) -> None:
            spec: dict[str, Any] = {
                "parentRefs": [parent(listener)],
                "rules": [{"matches": every_path, **rule}],
            }
            if hostnames:
                spec["hostnames"] = hostnames
            k8s.apiextensions.CustomResource(
                f"{name}-{role}",
                api_version=c.GATEWAY_API_VERSION,
                kind=c.KIND_HTTP_ROUTE,
                metadata=metadata(route_name),
                spec=spec,
                opts=child,
            )

        backend = {
            "group": "",
            "kind": "Service",
            "name": args.service_name,
            "port": args.service_port,
        }
        route("route", c.GATEWAY_ROUTE_NAME, serving_listener, {"backendRefs": [backend]})
        if s.https:
            redirect: dict[str, Any] = {
                "type": "RequestRedirect",
                "requestRedirect": {"scheme": "https", "statusCode": 301},
            }
            route(
                "https-redirect",
                c.GATEWAY_REDIRECT_ROUTE_NAME,
                c.GATEWAY_HTTP_LISTENER,
                {"filters": [redirect]},
            )

        # GKE policies attach to the Service and must sit in its namespace.
        target = {"group": "", "kind": "Service", "name": args.service_name}
        k8s.apiextensions.CustomResource(
            f"{name}-health-check",
            api_version=c.GKE_NETWORKING_API_VERSION,
            kind=c.KIND_HEALTH_CHECK_POLICY,
            metadata=metadata(c.HEALTH_CHECK_POLICY_NAME),
            spec={
                "targetRef": target,
                "default": {
                    "config": {
                        "type": "HTTP",
                        # The load balancer's default check (GET / on the serving port) fails
                        # on the router, which answers only proxied requests there.
                        "httpHealthCheck": {
                            "portSpecification": "USE_SERVING_PORT",
                            "requestPath": c.ROUTER_HEALTH_PATH,
                        },
                    }
                },
            },
            opts=child,
        )
        self.timeout_sec = backend_timeout(args)
        k8s.apiextensions.CustomResource(
            f"{name}-backend-policy",
            api_version=c.GKE_NETWORKING_API_VERSION,
            kind=c.KIND_GCP_BACKEND_POLICY,
            metadata=metadata(c.BACKEND_POLICY_NAME),
            spec={"targetRef": target, "default": {"timeoutSec": self.timeout_sec}},
            opts=child,
        )
        self.url = gateway_url(s, self.address)
        self.register_outputs(
            {
                "gatewayName": self.gateway_name,
                "namespace": self.namespace,
                "timeoutSec": self.timeout_sec,
                "address": self.address,
                "url": self.url,
            }
        )


def gateway_exports(gateway: Gateway | None) -> dict[str, Any]:
    """Stack outputs for the SDK's gateway mode; stable keys, None when there is no gateway."""
    return {
        "gatewayName": gateway.gateway_name if gateway else None,
        "gatewayNamespace": gateway.namespace if gateway else None,
        "gatewayTimeoutSec": gateway.timeout_sec if gateway else None,
        "gatewayAddress": gateway.address if gateway else None,
        "gatewayUrl": gateway.url if gateway else None,
    }
