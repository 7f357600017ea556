from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from offline.engine import Plan, evaluate_stack  # noqa: E402
from offline.validate import upstream_dir  # noqa: E402

# Tests never download: the shared v1.0 rendering stands in for the agent-sandbox release asset
# (looked up before the cache), and downloads are forbidden. Set outright so a developer's own
# environment cannot make the suite reach the network.
os.environ["AGENT_SANDBOX_MANIFEST_DIR"] = str(upstream_dir() / "agent-sandbox")
os.environ["AGENT_SANDBOX_OFFLINE"] = "1"

STACKS = sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml"))
_PLANS: dict[str, Plan] = {}


def plan_for(stack: str) -> Plan:
    """Each committed stack is evaluated once per test session."""
    if stack not in _PLANS:
        _PLANS[stack] = evaluate_stack(stack)
    return _PLANS[stack]


@pytest.fixture(scope="session")
def upstream() -> Path:
    # Fails (does not skip) when ../shared/upstream is missing: CI must have it.
    return upstream_dir()


@pytest.fixture(scope="session")
def dev_plan() -> Plan:
    plan = plan_for("dev")
    assert plan.error is None, plan.error
    return plan


@pytest.fixture(scope="session")
def local_plan() -> Plan:
    plan = plan_for("local")
    assert plan.error is None, plan.error
    return plan
