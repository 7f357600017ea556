"""The sandbox router and the Gateway in front of it."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import (
    Field,
    model_validator,
)

from .. import constants as c
from .base import Dns1123Name, ResourceSettings, _Model
from .k8s_rules import ImageRef
from .reference import describe_pattern


class RouterSettings(_Model):
    enabled: bool = True
    # Upstream publishes only a staging image; pin a digest (image@sha256:...) in production.
    image: ImageRef = c.ROUTER_DEFAULT_IMAGE
    replicas: int = Field(2, ge=1, le=20)
    # Running without ROUTER_AUTH_TOKEN must be asked for explicitly.
    allow_unauthenticated: bool = False
    proxy_timeout_seconds: int = Field(180, ge=1, le=3600)
    # 0 disables either limit (the router's README and its _get_positive_float_env(allow_zero)).
    websocket_idle_timeout_seconds: int = Field(3600, ge=0)
    websocket_max_lifetime_seconds: int = Field(86400, ge=0)
    websocket_max_message_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    # 0 disables the per-client cap: behind the gateway every client shares the load
    # balancer's address unless trustedProxyCidrs names the proxies (upstream's advice).
    websocket_max_connections_per_client: int = Field(0, ge=0)
    trusted_proxy_cidrs: list[str] = []
    # uvicorn's keep-alive for idle client connections. Behind a GCP load balancer it must
    # outlast the load balancer's fixed 600 s backend keep-alive (checked with the gateway).
    keep_alive_timeout_seconds: int = Field(620, ge=1, le=86400)
    # Namespaces whose pods may call the router directly (in-cluster SDK clients); the
    # router's NetworkPolicy admits only these and the gateway's load balancer.
    client_namespaces: list[Dns1123Name] = []
    # Ports the router may open on sandbox pods (its NetworkPolicy's egress), besides the
    # ports this stack's own sandboxes declare.
    sandbox_ports: list[Annotated[int, Field(ge=1, le=65535)]] = [c.SANDBOX_DEFAULT_RUNTIME_PORT]
    resources: ResourceSettings = ResourceSettings(
        requests={"cpu": "100m", "memory": "128Mi"}, limits={"cpu": "1", "memory": "512Mi"}
    )

    @property
    def image_pinned(self) -> bool:
        return "@sha256:" in self.image

    @model_validator(mode="after")
    def _cidrs(self) -> RouterSettings:
        for cidr in self.trusted_proxy_cidrs:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(
                    f"router.trustedProxyCidrs entry '{cidr}' is not a CIDR; write it like "
                    "10.128.0.0/14"
                ) from None
        reserved = [n for n in self.client_namespaces if n in c.RESERVED_NAMESPACES]
        if reserved:
            raise ValueError(
                f"router.clientNamespaces lists {', '.join(reserved)}: system namespaces do "
                "not run SDK clients; list the namespaces where your agents run"
            )
        return self


class HttpsSettings(_Model):
    # Exactly one: a Kubernetes TLS Secret in the gateway namespace, or a Compute Engine
    # pre-shared SSL certificate name.
    certificate_secret: Dns1123Name | None = None
    pre_shared_certificate: str | None = None

    @model_validator(mode="after")
    def _one(self) -> HttpsSettings:
        if bool(self.certificate_secret) == bool(self.pre_shared_certificate):
            raise ValueError(
                "gateway.https needs exactly one of certificateSecret (a kubernetes.io/tls "
                f"Secret in {c.AGENT_SANDBOX_NAMESPACE}) or preSharedCertificate (a Compute "
                "Engine SSL certificate name); set one of them, not both"
            )
        return self


# Gateway API's listener/route hostname: lower-case DNS name, optionally a leading wildcard.
GATEWAY_HOSTNAME = describe_pattern(
    r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    "a lower-case DNS name, optionally starting with '*.' (e.g. sandboxes.example.com)",
)


class GatewaySettings(_Model):
    enabled: bool = True
    class_name: str = c.GATEWAY_DEFAULT_CLASS
    name: Dns1123Name = "sandbox-gateway"
    hostname: Annotated[str, Field(pattern=GATEWAY_HOSTNAME, max_length=253)] | None = None
    https: HttpsSettings | None = None
    # Backend timeout at the load balancer. None: the router's timeout (GCP's default is 30 s).
    timeout_sec: int | None = Field(None, ge=1, le=86400)

    @model_validator(mode="after")
    def _class(self) -> GatewaySettings:
        if self.class_name not in c.GATEWAY_CLASSES:
            raise ValueError(
                f"gateway.className '{self.class_name}' is not a GKE gateway class; use one of "
                f"{', '.join(c.GATEWAY_CLASSES)}"
            )
        return self
