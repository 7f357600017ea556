"""A stand-in for the Kubernetes API: only the calls the agent-sandbox SDK makes, answered as the
agent-sandbox controller would once a warm pool holds a ready sandbox.

It knows the warm pools the rendered plan declares (namespace -> pool names): a claim on any
other pool or namespace gets the controller's ``WarmPoolNotFound`` condition, so a recipe that
names the wrong pool fails here as it would on a cluster. Any request outside the SDK's calls is
answered 404 and recorded in ``unexpected`` (tests assert it stays empty). Sandboxes report no
``podIPs``: the router refuses loopback pod IPs, so routing goes by the Service DNS name, which
``cluster_dns.py`` stands in for.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

CLAIMS = re.compile(
    r"^/apis/extensions\.agents\.x-k8s\.io/v1beta1/namespaces/([^/]+)/sandboxclaims(?:/([^/]+))?$"
)
SANDBOX = re.compile(r"^/apis/agents\.x-k8s\.io/v1beta1/namespaces/([^/]+)/sandboxes/([^/]+)$")
GATEWAYS = re.compile(r"^/apis/gateway\.networking\.k8s\.io/v1/namespaces/([^/]+)/gateways$")


@dataclass
class FakeKubeApi:
    warm_pools: dict[str, set[str]]  # namespace -> warm pool names, from the rendered plan
    cluster_domain: str = "cluster.local"
    claims: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    sandboxes: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    deleted: list[tuple[str, str]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    # (namespace, name) -> status.addresses[0].value, as GKE reports a programmed Gateway.
    gateways: dict[tuple[str, str], str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeKubeApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _not_found(self) -> None:
                api.unexpected.append(f"{self.command} {self.path}")
                self._send(404, {"kind": "Status", "status": "Failure", "code": 404})

            def do_POST(self) -> None:
                path = urlparse(self.path).path
                m = CLAIMS.match(path)
                if not m or m.group(2):
                    return self._not_found()
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                self._send(201, api.create_claim(m.group(1), body))

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = parse_qs(url.query)
                watching = query.get("watch", [""])[0].lower() in ("true", "1")
                name = query.get("fieldSelector", [""])[0].removeprefix("metadata.name=")
                m = CLAIMS.match(url.path)
                g = GATEWAYS.match(url.path)
                if g and watching and (g.group(1), name) in api.gateways:
                    gateway = {
                        "apiVersion": "gateway.networking.k8s.io/v1",
                        "kind": "Gateway",
                        "metadata": {"name": name, "namespace": g.group(1)},
                        "status": {
                            "addresses": [
                                {"type": "IPAddress", "value": api.gateways[(g.group(1), name)]}
                            ]
                        },
                    }
                    return self._event(gateway)
                if m and not m.group(2) and watching:
                    claim = api.claims.get((m.group(1), name))
                    if claim is None:
                        return self._not_found()
                    return self._event(claim)
                m = SANDBOX.match(url.path)
                if m and (m.group(1), m.group(2)) in api.sandboxes:
                    return self._send(200, api.sandboxes[(m.group(1), m.group(2))])
                return self._not_found()

            def _event(self, obj: dict[str, Any]) -> None:
                # One ADDED event, then the watch ends (the SDK re-watches if it must).
                line = json.dumps({"type": "ADDED", "object": obj}).encode() + b"\n"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(line)))
                self.end_headers()
                self.wfile.write(line)

            def do_DELETE(self) -> None:
                path = urlparse(self.path).path
                m = CLAIMS.match(path)
                if not m or not m.group(2) or (m.group(1), m.group(2)) not in api.claims:
                    return self._not_found()
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with api._lock:
                    api.claims.pop((m.group(1), m.group(2)))
                    api.deleted.append((m.group(1), m.group(2)))
                self._send(200, {"kind": "Status", "status": "Success"})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def create_claim(self, namespace: str, claim: dict[str, Any]) -> dict[str, Any]:
        name = claim["metadata"]["name"]
        pool = claim["spec"]["warmPoolRef"]["name"]
        claim = {**claim, "metadata": {**claim["metadata"], "namespace": namespace}}
        claim["metadata"].update(uid=secrets.token_hex(8), resourceVersion="1")
        if pool not in self.warm_pools.get(namespace, set()):
            condition = {
                "type": "Ready",
                "status": "False",
                "reason": "WarmPoolNotFound",
                "message": f"warm pool {namespace}/{pool} not found",
            }
            claim["status"] = {"conditions": [condition]}
        else:
            # The controller adopts a warm sandbox: it keeps the pool's generated name.
            sandbox = f"{pool}-{secrets.token_hex(3)}"
            fqdn = f"{sandbox}.{namespace}.svc.{self.cluster_domain}"
            ready = {"type": "Ready", "status": "True", "reason": "SandboxReady"}
            claim["status"] = {"sandbox": {"name": sandbox}, "conditions": [ready]}
            with self._lock:
                self.sandboxes[(namespace, sandbox)] = {
                    "apiVersion": "agents.x-k8s.io/v1beta1",
                    "kind": "Sandbox",
                    "metadata": {"name": sandbox, "namespace": namespace},
                    "status": {"conditions": [ready], "serviceFQDN": fqdn},
                }
        with self._lock:
            self.claims[(namespace, name)] = claim
        return claim


def kubeconfig(api_url: str) -> str:
    """A kubeconfig for the fake API (plain HTTP on loopback, a dummy bearer token)."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": api_url}}],
            "users": [{"name": "client", "user": {"token": "fake-client-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "client"}}],
            "current-context": "fake",
        }
    )
