"""Long sessions through the real router, with the rendered timeouts scaled down (conftest
SCALED): a WebSocket outlives the per-request timeout that used to be the load balancer's
backend timeout, and the router's server keep-alive is the rendered one, not uvicorn's 5 s."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from websockets.sync.client import connect
from websockets.sync.server import Server, ServerConnection, serve

from components import constants as c

from .conftest import Cluster, free_port

UVICORN_DEFAULT_KEEP_ALIVE_S = 5  # uvicorn's --timeout-keep-alive default


@dataclass
class IdleConnection:
    conn: http.client.HTTPConnection
    sock: object
    opened: float


@pytest.fixture(scope="module")
def idle_connection(cluster: Cluster) -> Iterator[IdleConnection]:
    """A keep-alive connection opened before the WebSocket test, so that both waits overlap."""
    host, port = cluster.router_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", c.ROUTER_HEALTH_PATH)
        assert conn.getresponse().read() and conn.sock is not None
        yield IdleConnection(conn, conn.sock, time.monotonic())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def echo_port(cluster: Cluster) -> Iterator[int]:
    """A WebSocket app in the sandbox (as the VS Code sandbox serves one); the python runtime
    has no WebSocket endpoint."""

    def echo(ws: ServerConnection) -> None:
        for message in ws:
            ws.send(message)

    port = free_port(cluster.sandbox_ip)
    server: Server = serve(echo, cluster.sandbox_ip, port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_websocket_outlives_the_request_timeout(
    cluster: Cluster, echo_port: int, idle_connection: IdleConnection
) -> None:
    env = cluster.rendered.router_env
    old_limit = float(env[c.ROUTER_ENV_PROXY_TIMEOUT])  # the gateway's former timeoutSec
    assert float(env[c.ROUTER_ENV_WS_MAX_LIFETIME]) > old_limit
    headers = {
        "Authorization": f"Bearer {cluster.rendered.token}",
        "X-Sandbox-ID": "vscode-sandbox",
        "X-Sandbox-Namespace": cluster.rendered.sandbox_namespace,
        "X-Sandbox-Port": str(echo_port),
    }
    url = cluster.router_url.replace("http://", "ws://") + "/session"
    with connect(url, additional_headers=headers, open_timeout=10) as ws:
        opened = time.monotonic()
        ws.send("first")
        assert ws.recv(timeout=5) == "first"
        time.sleep(old_limit + 1.5)
        ws.send("after the old limit")
        assert ws.recv(timeout=5) == "after the old limit"
        assert time.monotonic() - opened > old_limit


def test_router_keep_alive_is_the_rendered_one(
    cluster: Cluster, idle_connection: IdleConnection
) -> None:
    keep_alive = float(cluster.rendered.router_env[c.ROUTER_ENV_KEEP_ALIVE])
    assert keep_alive > UVICORN_DEFAULT_KEEP_ALIVE_S + 1  # scaled so the difference shows
    # Idle past uvicorn's default, within ours (the WebSocket test used most of the wait).
    idle_for = UVICORN_DEFAULT_KEEP_ALIVE_S + 0.5
    time.sleep(max(0.0, idle_connection.opened + idle_for - time.monotonic()))
    conn = idle_connection.conn
    conn.request("GET", c.ROUTER_HEALTH_PATH)  # on the same connection, or it raises
    assert conn.getresponse().status == 200
    assert conn.sock is idle_connection.sock, "the router closed the idle connection"
