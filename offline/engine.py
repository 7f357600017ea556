"""Run the real program under Pulumi's mock engine and record everything it registers.

Used by the tests and by the offline preview alike (DESIGN §4.1): ``preview=False`` so every
``apply`` runs, and a recording monitor that keeps each registration's parent, dependencies,
provider and resource options, not only its inputs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import runpy
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.config import set_all_config
from pulumi.runtime.settings import ROOT, SETTINGS
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT = "agent-sandbox-platform"

_SIG = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

MOCK_CA = "bW9jay1jYQ=="  # base64("mock-ca")
MOCK_ENDPOINT = "192.0.2.10"  # TEST-NET-1: never routable
MOCK_GATEWAY_ADDRESS = "192.0.2.20"  # TEST-NET-1: never routable


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    dependencies: list[str]
    inputs: dict[str, Any]
    secret_paths: list[str]
    options: dict[str, Any]

    @property
    def is_kubernetes(self) -> bool:
        return self.custom and self.type.startswith("kubernetes:") and not self.is_provider

    @property
    def is_provider(self) -> bool:
        return self.type.startswith("pulumi:providers:")


@dataclass
class Plan:
    stack: str
    registrations: list[Registration] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    def by_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def one(self, type_: str, name_suffix: str = "") -> Registration:
        found = [r for r in self.by_type(type_) if r.name.endswith(name_suffix)]
        if len(found) != 1:
            names = [r.name for r in self.by_type(type_)]
            raise LookupError(f"expected one {type_} named *{name_suffix}, found {names}")
        return found[0]

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.registrations}

    def kubernetes(self) -> list[Registration]:
        return [r for r in self.registrations if r.is_kubernetes]


def _plain(value: Any, path: str, secrets: list[str]) -> Any:
    """Wire-format JSON -> plain values; secrets unwrapped but their paths remembered."""
    if isinstance(value, dict):
        sig = value.get(_SIG)
        if sig == _SECRET_SIG:
            secrets.append(path)
            return _plain(value.get("value"), path, secrets)
        if sig == _RESOURCE_SIG:
            return value.get("urn")
        if sig == _OUTPUT_SIG:
            if value.get("secret"):
                secrets.append(path)
            return _plain(value.get("value"), path, secrets)
        return {k: _plain(v, f"{path}.{k}" if path else k, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, f"{path}[{i}]", secrets) for i, v in enumerate(value)]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf Struct numbers are doubles
    if value == _UNKNOWN:
        return "<unknown>"
    return value


class PlatformMocks(pulumi_mocks.Mocks):
    """Provider stand-ins: echo inputs, plus the few outputs the program reads back."""

    def __init__(
        self,
        stack_references: Mapping[str, Mapping[str, Any]] | None = None,
        stack_reference_secrets: Mapping[str, set[str]] | None = None,
    ):
        self.stack_references = dict(stack_references or {})
        self.stack_reference_secrets = dict(stack_reference_secrets or {})

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        t = args.typ
        if t == "gcp:container/cluster:Cluster":
            state.update(endpoint=MOCK_ENDPOINT, masterAuth={"clusterCaCertificate": MOCK_CA})
        elif t == "gcp:container/nodePool:NodePool":
            state.setdefault("name", f"{state.get('namePrefix', args.name)}mock")
        elif t == "gcp:serviceaccount/account:Account":
            state["email"] = f"{state['accountId']}@{state.get('project')}.iam.gserviceaccount.com"
        elif t == "gcp:compute/globalAddress:GlobalAddress":
            # pulumi-gcp auto-names `name` (logical name + random suffix); GCP picks the IP.
            state.setdefault("name", f"{args.name}-a1b2c3d")
            state["address"] = MOCK_GATEWAY_ADDRESS
        elif t == "random:index/randomPassword:RandomPassword":
            state["result"] = "mock-random-password-value"
        elif t == "pulumi:pulumi:StackReference":
            ref = state.get("name", args.name)
            if ref not in self.stack_references:
                raise KeyError(f"no mocked outputs for stack reference '{ref}'")
            state["outputs"] = dict(self.stack_references[ref])
            state["secretOutputNames"] = sorted(self.stack_reference_secrets.get(ref, ()))
        return f"{args.name}-id", state

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        if args.token == "gcp:container/getCluster:getCluster":
            name = args.args.get("name")
            return {
                "id": f"projects/{args.args.get('project')}/locations/"
                f"{args.args.get('location')}/clusters/{name}",
                "name": name,
                "endpoint": MOCK_ENDPOINT,
                "masterAuths": [{"clusterCaCertificate": MOCK_CA}],
            }, []
        return {}, []


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi_mocks.Mocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            secrets: list[str] = []
            raw = json_format.MessageToDict(request.object)
            self.registrations.append(
                Registration(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    custom=bool(request.custom),
                    parent=request.parent,
                    provider=request.provider,
                    dependencies=list(request.dependencies),
                    inputs=_plain(raw, "", secrets),
                    secret_paths=secrets,
                    options={
                        "protect": bool(request.protect),
                        "retainOnDelete": bool(request.retainOnDelete),
                        "deleteBeforeReplace": bool(request.deleteBeforeReplace),
                        "replaceOnChanges": list(request.replaceOnChanges),
                        "ignoreChanges": list(request.ignoreChanges),
                        "deletedWith": request.deletedWith,
                        "additionalSecretOutputs": list(request.additionalSecretOutputs),
                        "aliases": [json_format.MessageToDict(a) for a in request.aliases],
                    },
                )
            )
        return response

    def ReadResource(self, request: Any) -> Any:  # noqa: N802
        response = super().ReadResource(request)
        self.registrations.append(
            Registration(
                urn=response.urn,
                type=request.type,
                name=request.name,
                custom=True,
                parent=request.parent,
                provider=request.provider,
                dependencies=list(request.dependencies),
                inputs={},
                secret_paths=[],
                options={"read": True},
            )
        )
        return response


class _WarningCatcher(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def project_config(project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """Project-level config (Pulumi.yaml) every stack inherits, as the CLI hands it over."""
    merged: dict[str, Any] = {}
    project = yaml.safe_load((project_dir / "Pulumi.yaml").read_text()) or {}
    for key, spec in (project.get("config") or {}).items():
        # Unqualified keys belong to the project; a typed key's default applies like a value.
        full = key if ":" in key else f"{project.get('name', PROJECT)}:{key}"
        if isinstance(spec, dict) and "value" in spec:
            merged[full] = spec["value"]
        elif isinstance(spec, dict) and "default" in spec:
            merged[full] = spec["default"]
    return merged


def stack_config(stack: str, project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """The stack's config as the Pulumi CLI would hand it over: project values, then stack."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"no stack file {path.name} in {project_dir}")
    merged = project_config(project_dir)
    merged.update((yaml.safe_load(path.read_text()) or {}).get("config") or {})
    return merged


def _wire(config: Mapping[str, Any]) -> dict[str, str]:
    """Config values travel as strings; structured ones JSON-encoded (as the CLI does)."""
    out = {}
    for key, value in config.items():
        if isinstance(value, str):
            out[key] = value
        else:
            out[key] = json.dumps(value)
    return out


def evaluate(
    config: Mapping[str, Any],
    stack: str = "offline",
    program: Callable[[], None] | Path | None = None,
    stack_references: Mapping[str, Mapping[str, Any]] | None = None,
    stack_reference_secrets: Mapping[str, set[str]] | None = None,
) -> Plan:
    """Evaluate ``program`` (default: the project's __main__.py) with ``config``.

    A settings error (pulumi.RunError) ends up in ``Plan.error``; anything else propagates.
    """
    monitor = RecordingMonitor(PlatformMocks(stack_references, stack_reference_secrets))
    catcher = _WarningCatcher()
    logger = logging.getLogger(f"offline.{stack}")
    logger.handlers[:] = [catcher]
    logger.propagate = False
    set_all_config(_wire(config))
    ROOT.set(None)  # a fresh root Stack per evaluation, so outputs never leak between stacks
    pulumi_mocks.set_mocks(
        monitor.mocks, project=PROJECT, stack=stack, preview=False, logger=logger, monitor=monitor
    )
    plan = Plan(stack=stack)
    main = program if program is not None else PROJECT_DIR / "__main__.py"

    def run() -> None:
        if isinstance(main, Path):
            if str(main.parent) not in sys.path:
                sys.path.insert(0, str(main.parent))
            runpy.run_path(str(main), run_name="__main__")
        else:
            main()

    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    try:
        _sync_await(run_pulumi_func(run))
    except pulumi.RunError as err:
        plan.error = str(err)
    root = pulumi.runtime.get_root_resource()
    exported = dict(getattr(root, "outputs", {}) or {})
    if plan.error is None:
        plan.outputs, plan.secret_outputs = _resolve_outputs(exported)
    plan.registrations = list(monitor.registrations)
    plan.warnings = list(catcher.messages)
    return plan


def _resolve_outputs(exported: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    async def resolve() -> tuple[dict[str, Any], set[str]]:
        values: dict[str, Any] = {}
        secret: set[str] = set()
        for key, value in exported.items():
            out = pulumi.Output.from_input(value)
            values[key] = await out.future()
            if await out.is_secret():
                secret.add(key)
        return values, secret

    return _sync_await(asyncio.ensure_future(resolve()))


def referenced_platform_stack(config: Mapping[str, Any]) -> str | None:
    """A tenant stack's ``tenant.platformStack`` (e.g. ``my-org/agent-sandbox-platform/dev``)."""
    tenant = config.get(f"{PROJECT}:tenant")
    if isinstance(tenant, str):
        tenant = json.loads(tenant)
    return tenant.get("platformStack") if isinstance(tenant, dict) else None


def platform_references(
    config: Mapping[str, Any], stack: str, project_dir: Path = PROJECT_DIR
) -> dict[str, Any]:
    """``evaluate`` keyword arguments that answer a tenant's StackReference with the real outputs
    of its platform stack (evaluated first) when that stack's file is in the repo; else {}."""
    ref = referenced_platform_stack(config)
    if not ref:
        return {}
    short = ref.split("/")[-1]
    if short == stack or not (project_dir / f"Pulumi.{short}.yaml").exists():
        return {}
    platform = evaluate_stack(short, project_dir)
    if platform.error is not None:
        return {}
    return {
        "stack_references": {ref: platform.outputs},
        "stack_reference_secrets": {ref: platform.secret_outputs},
    }


def evaluate_stack(stack: str, project_dir: Path = PROJECT_DIR, **kwargs: Any) -> Plan:
    """Evaluate a committed stack (a tenant against its platform stack, see above)."""
    config = stack_config(stack, project_dir)
    if "stack_references" not in kwargs:
        kwargs.update(platform_references(config, stack, project_dir))
    return evaluate(config, stack=stack, **kwargs)
