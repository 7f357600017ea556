"""The real client against the real programs, on loopback, configured from the rendered plan.

One session-wide "cluster" for tests/clients: the upstream sandbox router and python runtime
(``$AGENT_SANDBOX_UPSTREAM/agent-sandbox/programs``) run under uvicorn, as their images' CMDs
do, with the environment, ports and token the platform renders for them; the agent-sandbox SDK
(a dev dependency) talks to them. Stood in, and only these: cluster DNS for the sandbox's
Service name (``cluster_dns.py``), the Kubernetes API calls the SDK makes
(``fake_kube_api.py``), and the Service/port-forward in front of the router (a free loopback
port instead of 8080). Everything binds to loopback; every wait has a deadline; the processes
are stopped when the session ends.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import run

from components import constants as c
from offline.engine import Plan, Registration
from offline.validate import upstream_dir

from .fake_kube_api import FakeKubeApi, kubeconfig

HERE = Path(__file__).resolve().parent
STARTUP_DEADLINE_S = 20.0

# The dev stack with its timeouts scaled down so long-session behaviour shows in seconds:
# 180 s of request timeout (the load balancer's old backend timeout) becomes 2 s; the router's
# keep-alive becomes 7 s (uvicorn's own default is 5 s). The gateway is off in this variant:
# its keep-alive check (> the load balancer's 600 s) would refuse 7 s, and nothing here
# stands in for a load balancer.
SCALED = {
    "router": {"proxyTimeoutSeconds": 2, "keepAliveTimeoutSeconds": 7},
    "gateway": {"enabled": False},
}


@dataclass(frozen=True)
class Rendered:
    """What the plan says about the router and the python sandbox."""

    plan: Plan
    router_env: dict[str, str]
    token: str
    sandbox_namespace: str
    warm_pools: dict[str, set[str]]
    runtime_port: int
    runtime_env: dict[str, str]


def _container(reg: Registration) -> dict[str, Any]:
    containers = reg.inputs["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, containers
    return dict(containers[0])


def _secret_value(plan: Plan, namespace: str, name: str, key: str) -> str:
    for reg in plan.by_type("kubernetes:core/v1:Secret"):
        meta = reg.inputs["metadata"]
        if meta.get("name") == name and meta.get("namespace") == namespace:
            return str(reg.inputs["stringData"][key])
    raise LookupError(f"no Secret {namespace}/{name} in the plan")


def env_of(plan: Plan, reg: Registration) -> dict[str, str]:
    """A container's environment as the kubelet would set it (secretKeyRef resolved)."""
    namespace = reg.inputs["metadata"]["namespace"]
    out: dict[str, str] = {}
    for var in _container(reg).get("env") or []:
        if "value" in var:
            out[var["name"]] = str(var["value"])
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            out[var["name"]] = _secret_value(plan, namespace, ref["name"], ref["key"])
    return out


def render(**sections: Any) -> Rendered:
    plan = run("dev", **sections)
    assert plan.error is None, plan.error
    router = plan.one("kubernetes:apps/v1:Deployment", "-router-deployment")
    router_env = env_of(plan, router)
    token = router_env[c.ROUTER_ENV_AUTH_TOKEN]
    pools: dict[str, set[str]] = {}
    for reg in plan.by_type(c.SANDBOX_WARM_POOL_TYPE):
        meta = reg.inputs["metadata"]
        pools.setdefault(meta["namespace"], set()).add(meta["name"])
    template = next(
        r
        for r in plan.by_type(c.SANDBOX_TEMPLATE_TYPE)
        if r.inputs["metadata"]["name"] == "python-sandbox-template"
    )
    pod = template.inputs["spec"]["podTemplate"]["spec"]
    (container,) = pod["containers"]
    (port,) = [int(p["containerPort"]) for p in container["ports"]]
    runtime_env = {v["name"]: str(v["value"]) for v in container.get("env") or []}
    return Rendered(
        plan=plan,
        router_env=router_env,
        token=token,
        sandbox_namespace=template.inputs["metadata"]["namespace"],
        warm_pools=pools,
        runtime_port=port,
        runtime_env=runtime_env,
    )


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def loopback_address() -> str:
    """A random 127/8 address: runs on one machine (outside CI's namespace) collide less."""
    return f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not up within {STARTUP_DEADLINE_S}s:\n{log.read_text()[-3000:]}")


def _base_env() -> dict[str, str]:
    # A container gets only its own environment; keep what Python itself needs.
    keep = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR")
    return {k: v for k, v in os.environ.items() if k in keep}


@dataclass
class Cluster:
    rendered: Rendered
    router_url: str
    sandbox_ip: str
    workdir: Path
    kube: FakeKubeApi
    kubeconfig: Path


class Processes:
    """Processes this session started, stopped by their own pids at the end."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self, argv: list[str], cwd: Path, env: Mapping[str, str], log: Path
    ) -> subprocess.Popen[bytes]:
        out = log.open("wb")
        proc = subprocess.Popen(argv, cwd=cwd, env=dict(env), stdout=out, stderr=subprocess.STDOUT)
        out.close()
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def start_router(
    procs: Processes,
    rendered: Rendered,
    sandbox_ip: str,
    workdir: Path,
    name: str = "router",
    host: str = "127.0.0.1",
    port: int | None = None,
) -> str:
    """The router as its image runs it (``uvicorn sandbox_router:app``), with the rendered env."""
    port = port or free_port(host)
    programs = upstream_dir() / "agent-sandbox" / "programs"
    log = workdir / f"{name}.log"
    argv = [sys.executable, str(HERE / "cluster_dns.py"), sandbox_ip, "uvicorn"]
    argv += ["sandbox_router:app", "--host", host, "--port", str(port)]
    env = {**_base_env(), **rendered.router_env}
    proc = procs.start(argv, programs / "sandbox-router", env, log)
    url = f"http://{host}:{port}"
    _wait_http(f"{url}{c.ROUTER_HEALTH_PATH}", proc, log)
    return url


@pytest.fixture(scope="session")
def rendered() -> Rendered:
    return render(**SCALED)


@pytest.fixture(scope="session")
def processes() -> Iterator[Processes]:
    procs = Processes()
    try:
        yield procs
    finally:
        procs.stop()


@pytest.fixture(scope="session")
def cluster(
    rendered: Rendered, processes: Processes, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("cluster")
    programs = upstream_dir() / "agent-sandbox" / "programs"
    # One loopback address per session for "the sandbox pod": runs on one machine collide less.
    sandbox_ip = loopback_address()
    base_dir = workdir / "sandbox-app"
    base_dir.mkdir()

    # The python runtime as its image runs it (uvicorn main:app on the template's port).
    runtime_log = workdir / "runtime.log"
    argv = [sys.executable, "-m", "uvicorn", "main:app", "--host", sandbox_ip]
    runtime = processes.start(
        [*argv, "--port", str(rendered.runtime_port)],
        programs / "python-runtime-sandbox",
        {**_base_env(), **rendered.runtime_env, "SANDBOX_BASE_DIR": str(base_dir)},
        runtime_log,
    )
    _wait_http(f"http://{sandbox_ip}:{rendered.runtime_port}/", runtime, runtime_log)
    router_url = start_router(processes, rendered, sandbox_ip, workdir)

    kube = FakeKubeApi(warm_pools=rendered.warm_pools).start()
    config_file = workdir / "kubeconfig"
    config_file.write_text(kubeconfig(kube.url))
    try:
        yield Cluster(rendered, router_url, sandbox_ip, base_dir, kube, config_file)
    finally:
        kube.stop()
