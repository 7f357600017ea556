"""The agent-sandbox SDK (k8s-agent-sandbox, pinned in requirements-dev.txt) through the real
router to the real python runtime, with the token and settings the platform renders."""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import kubernetes
import kubernetes_asyncio
import pytest
from k8s_agent_sandbox import AsyncSandboxClient, SandboxClient
from k8s_agent_sandbox.exceptions import SandboxRequestError
from k8s_agent_sandbox.models import (
    SandboxConnectionConfig,
    SandboxDirectConnectionConfig,
    SandboxGatewayConnectionConfig,
)

from components import constants as c
from components.settings import GatewaySettings

from .conftest import Cluster, Processes, loopback_address, start_router

ROOT = Path(__file__).resolve().parents[2]


def recipe(path: Path, name: str) -> str:
    """The python block after ``<!-- client-recipe: <name> -->`` in a doc: the code users copy."""
    text = path.read_text()
    m = re.search(rf"<!-- client-recipe: {name} -->\s*```python\n(.*?)```", text, re.S)
    assert m, f"{path.name} has no client-recipe '{name}' block"
    return m.group(1)


def run_recipe(code: str, cluster: Cluster) -> str:
    """Run a recipe as a user's program: its own process, configured by environment only."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        # The README's variables: gatewayUrl / routerUrl / the port-forward, and the token.
        "ROUTER_URL": cluster.router_url,
        "ROUTER_AUTH_TOKEN": cluster.rendered.token,
        "KUBECONFIG": str(cluster.kubeconfig),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def sdk_client(cluster: Cluster, config: SandboxConnectionConfig) -> SandboxClient:
    api = kubernetes.config.new_client_from_config(config_file=str(cluster.kubeconfig))
    return SandboxClient(connection_config=config, api_client=api)


def test_no_token_is_refused(cluster: Cluster) -> None:
    headers = {
        "X-Sandbox-ID": "python-sandbox-warmpool-x",
        "X-Sandbox-Namespace": "agent-sandboxes",
    }
    assert httpx.get(cluster.router_url + "/", headers=headers, timeout=5).status_code == 401
    wrong = {**headers, "Authorization": "Bearer not-the-token"}
    assert httpx.get(cluster.router_url + "/", headers=wrong, timeout=5).status_code == 401
    # Probes and the load balancer's health check stay open.
    assert httpx.get(cluster.router_url + c.ROUTER_HEALTH_PATH, timeout=5).status_code == 200


def test_sdk_without_token_gets_401(cluster: Cluster) -> None:
    config = SandboxDirectConnectionConfig(api_url=cluster.router_url)
    with sdk_client(cluster, config) as client:
        sandbox = client.create_sandbox(
            warmpool="python-sandbox-warmpool", namespace="agent-sandboxes"
        )
        with pytest.raises(SandboxRequestError) as err:
            sandbox.commands.run("echo hi")
        assert err.value.status_code == 401


def test_readme_recipe_sync(cluster: Cluster) -> None:
    deleted = len(cluster.kube.deleted)
    out = run_recipe(recipe(ROOT / "README.md", "sync"), cluster)
    assert "hello from the sandbox" in out
    assert "streamed upload" in out
    # The upload reached the sandbox's disk through the router, and the claim was released.
    assert (cluster.workdir / "notes" / "input.txt").read_bytes() == b"streamed upload"
    assert len(cluster.kube.deleted) == deleted + 1
    assert cluster.kube.unexpected == []


def test_docs_recipe_async(cluster: Cluster) -> None:
    out = run_recipe(recipe(ROOT / "docs" / "clients.md", "async"), cluster)
    assert "hello from the async sandbox" in out
    assert "async streamed upload" in out
    assert (cluster.workdir / "notes" / "async.txt").read_bytes() == b"async streamed upload"
    assert cluster.kube.unexpected == []


def test_old_session_header_workaround_fails(cluster: Cluster) -> None:
    """Evidence for the issue's claim: the README's former recipe (a header on
    ``sandbox.connector.session``) works for plain requests, gets 401 on a streamed upload
    (sent on another session) and does not exist on the async client."""
    config = SandboxDirectConnectionConfig(api_url=cluster.router_url)
    auth = f"Bearer {cluster.rendered.token}"
    with sdk_client(cluster, config) as client:
        sandbox = client.create_sandbox(
            warmpool="python-sandbox-warmpool", namespace="agent-sandboxes"
        )
        sandbox.connector.session.headers["Authorization"] = auth
        assert sandbox.commands.run("echo ok").stdout.strip() == "ok"
        with pytest.raises(SandboxRequestError) as err:
            sandbox.files.write("old.txt", io.BytesIO(b"streamed"))
        assert err.value.status_code == 401

    async def async_client() -> None:
        api = await kubernetes_asyncio.config.new_client_from_config(
            config_file=str(cluster.kubeconfig)
        )
        async with AsyncSandboxClient(connection_config=config, api_client=api) as client:
            sandbox = await client.create_sandbox(
                warmpool="python-sandbox-warmpool", namespace="agent-sandboxes"
            )
            with pytest.raises(AttributeError):
                sandbox.connector.session  # noqa: B018
        await api.close()

    # Not asyncio.run: it leaves no current event loop behind, which the Pulumi mock engine
    # of later tests relies on.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(async_client())
    finally:
        loop.close()


def test_sdk_gateway_mode_cannot_send_the_token(cluster: Cluster, processes: Processes) -> None:
    """Evidence for docs/clients.md: the SDK's gateway mode finds the Gateway's address and
    dials plain http://<address> (port 80), but has no way to add the token: 401. The load
    balancer is stood in for by a router listening on that address's port 80."""
    address = loopback_address()
    try:
        start_router(
            processes,
            cluster.rendered,
            cluster.sandbox_ip,
            cluster.workdir.parent,
            "lb",
            address,
            80,
        )
    except RuntimeError as err:  # uvicorn could not bind :80 (not root)
        pytest.skip(f"port 80 is not available here (CI runs as root): {err}"[:200])
    name, namespace = GatewaySettings().name, c.AGENT_SANDBOX_NAMESPACE
    cluster.kube.gateways[(namespace, name)] = address
    config = SandboxGatewayConnectionConfig(gateway_name=name, gateway_namespace=namespace)
    with sdk_client(cluster, config) as client:
        sandbox = client.create_sandbox(
            warmpool="python-sandbox-warmpool", namespace="agent-sandboxes"
        )
        with pytest.raises(SandboxRequestError) as err:
            sandbox.commands.run("echo hi")
        assert err.value.status_code == 401
        assert sandbox.connector.strategy.connect() == f"http://{address}"
