"""Launch a program with cluster DNS stood in: the only thing of the cluster a router needs.

Usage: ``python cluster_dns.py <loopback-ip> <program> [args...]`` (the program is run as
``python -m <program>``, e.g. ``uvicorn``). Every name under ``.svc.<CLUSTER_DOMAIN>`` (the
router resolves ``<sandbox>.<namespace>.svc.<domain>``) resolves to ``<loopback-ip>``; any other
name resolves as usual, so a test that reached the network would still fail. Nothing else of
the program is touched: the router runs its own code with the environment it was given.
"""

from __future__ import annotations

import os
import runpy
import socket
import sys

_real_getaddrinfo = socket.getaddrinfo


def install(address: str, domain: str) -> None:
    suffix = f".svc.{domain}".lower()

    def getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and name.lower().rstrip(".").endswith(suffix):
            host = address
        return _real_getaddrinfo(host, port, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo


if __name__ == "__main__":
    address, program, *rest = sys.argv[1:]
    install(address, os.environ.get("CLUSTER_DOMAIN") or "cluster.local")
    sys.argv = [program, *rest]
    runpy.run_module(program, run_name="__main__", alter_sys=True)
