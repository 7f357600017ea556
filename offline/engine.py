"""Run the real program under Pulumi's mock engine and record everything it registers.

Used by the tests and by the offline preview alike (DESIGN §4.1): ``preview=False`` so every
``apply`` runs, and a recording monitor that keeps each registration's parent, dependencies,
provider and resource options, not only its inputs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
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

from .cluster_state import ClusterSimulator, ClusterState, ObjectKey, ProviderFlags

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
    # What the mocked provider answered (its state), e.g. an autonamed ``name``.
    outputs: dict[str, Any] = field(default_factory=dict)

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
    # Creates the real Kubernetes provider would fail against the cluster the run started from
    # (offline/cluster_state.py), and objects that existed before and are now the stack's.
    failures: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    cluster: ClusterState = field(default_factory=ClusterState.fresh)
    created: dict[ObjectKey, str] = field(default_factory=dict)  # object -> resource URN

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

    def after_destroy(self) -> ClusterState:
        """The cluster once ``pulumi destroy`` ran: every object this stack created or adopted is
        gone unless its resource is ``retainOnDelete`` (CRDs, sandbox namespaces)."""
        by_urn = self.by_urn()
        left = self.cluster.copy()
        for key, urn in self.created.items():
            if not by_urn[urn].options.get("retainOnDelete"):
                left.objects.pop(key, None)
        return left


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


# ---------------------------------------------------------------------------------------------
# GCP provider behaviours the mocks reproduce (DESIGN §4.5: no kinder than pulumi-gcp 10.x).
# Each is written down once here, with its source, and tested in tests/offline/test_engine.py.
# ---------------------------------------------------------------------------------------------
# Autonaming. pulumi-gcp calls ``prov.SetAutonaming(255, "-")`` (provider/resources.go), which
# gives every resource with an input string ``name`` a default of ``<logical name>-<7 random
# hex>`` (pulumi-terraform-bridge pkg/tfbridge/info/autonaming.go: Randlen 7); the bridge skips
# that default only where the Terraform schema declares ConflictsWith (pkg/tfbridge/schema.go
# buildConflictsWith). pulumi-gcp's recorded test (provider/testdata/recorded/TestProviderUpgrade/
# cluster/7.2.1/grpc.json) shows it on NodePool: ``"__defaults":["name"]``,
# ``"name":"primarypreemptiblenodes-1339416"``. Types listed here have such a ``name``.
GCP_AUTONAMED_TYPES = frozenset(
    {
        "gcp:container/cluster:Cluster",
        "gcp:container/nodePool:NodePool",
        "gcp:compute/router:Router",
        "gcp:compute/routerNat:RouterNat",
    }
)
# terraform-provider-google(-beta) services/container/resource_container_node_pool.go:
# ``name``/``name_prefix`` have no ConflictsWith, so expandNodePool rejects the pair; name_prefix
# "is limited to 40" characters of pool name (schema ValidateFunc), which GKE enforces.
GKE_NODE_POOL_NAME_MAX = 40


def autoname(logical_name: str, seed: str) -> str:
    """``<logical>-<7 hex>`` as the bridge makes it; deterministic here (type + name seed)."""
    return f"{logical_name}-{hashlib.sha256(seed.encode()).hexdigest()[:7]}"


class ProviderRejectedError(Exception):
    """What the real provider would answer with an error at create time."""


def _gcp_node_pool(name: str, state: dict[str, Any]) -> None:
    """expandNodePool (resource_container_node_pool.go), as Terraform sends the pool to GKE."""
    if state.get("namePrefix"):
        # With autonaming, a pool that sets namePrefix always has a name too.
        raise ProviderRejectedError(
            f"gcp:container/nodePool:NodePool {name}: Cannot specify both name and name_prefix "
            "for a node_pool"
        )
    if len(state["name"]) > GKE_NODE_POOL_NAME_MAX:
        raise ProviderRejectedError(
            f"gcp:container/nodePool:NodePool {name}: name '{state['name']}' is longer than "
            f"GKE's {GKE_NODE_POOL_NAME_MAX} characters"
        )
    if state.get("initialNodeCount") and state.get("nodeCount"):
        raise ProviderRejectedError(
            f"Cannot set both initial_node_count and node_count on node pool {state['name']}"
        )
    # Unset, Terraform sends InitialNodeCount 0: the pool starts with no node at all.
    state["initialNodeCount"] = state.get("initialNodeCount") or state.get("nodeCount") or 0


class PlatformMocks(pulumi_mocks.Mocks):
    """Provider stand-ins: echo inputs, plus what the providers add or refuse (see above)."""

    def __init__(
        self,
        stack_references: Mapping[str, Mapping[str, Any]] | None = None,
        stack_reference_secrets: Mapping[str, set[str]] | None = None,
        gke_clusters: Mapping[str, Mapping[str, Any]] | None = None,
    ):
        self.stack_references = dict(stack_references or {})
        self.stack_reference_secrets = dict(stack_reference_secrets or {})
        # Existing GKE clusters (by name) that getCluster describes; see ``call``.
        self.gke_clusters = dict(gke_clusters or {})

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        t = args.typ
        resource_id = f"{args.name}-id"
        if t in GCP_AUTONAMED_TYPES and not state.get("name"):
            state["name"] = autoname(args.name, f"{t}::{args.name}")
        if t == "gcp:container/cluster:Cluster":
            state.update(endpoint=MOCK_ENDPOINT, masterAuth={"clusterCaCertificate": MOCK_CA})
            # The id Terraform sets (recorded Create response above): the same for a cluster
            # re-created under the same name.
            resource_id = (
                f"projects/{state.get('project')}/locations/{state.get('location')}/clusters/"
                f"{state['name']}"
            )
        elif t == "gcp:container/nodePool:NodePool":
            _gcp_node_pool(args.name, state)
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
        return resource_id, state

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        if args.token == "gcp:container/getCluster:getCluster":
            # An adopted cluster is known only through ``gke_clusters``: offline, nothing can
            # say whether it has Workload Identity, Gateway API or NetworkPolicy enforcement,
            # so an undescribed cluster is an error, as a cluster GKE does not know would be.
            name = str(args.args.get("name"))
            if name not in self.gke_clusters:
                raise ProviderRejectedError(
                    f"offline engine: no description of GKE cluster '{name}' (pass "
                    "gke_clusters to evaluate); the offline engine cannot read GKE"
                )
            return {
                "id": f"projects/{args.args.get('project')}/locations/"
                f"{args.args.get('location')}/clusters/{name}",
                "name": name,
                "endpoint": MOCK_ENDPOINT,
                "masterAuths": [{"clusterCaCertificate": MOCK_CA}],
                **self.gke_clusters[name],
            }, []
        return {}, []


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi_mocks.Mocks, cluster: ClusterState | None = None):
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.cluster = ClusterSimulator(cluster.copy() if cluster else ClusterState.fresh())
        self.providers: dict[str, ProviderFlags] = {}
        self.failures: list[str] = []
        self.adopted: list[str] = []
        self.created: dict[ObjectKey, str] = {}

    def _apply(self, reg: Registration, response: Any) -> None:
        """Replay the create against the cluster the run started from (cluster_state.py)."""
        if reg.type == "pulumi:providers:kubernetes":
            self.providers[f"{reg.urn}::{response.id}"] = ProviderFlags.from_inputs(reg.inputs)
        if not reg.is_kubernetes:
            return
        flags = self.providers.get(reg.provider, ProviderFlags())
        before = set(self.cluster.created)
        outcome = self.cluster.create(reg.type, reg.name, reg.inputs, flags)
        for key in set(self.cluster.created) - before:
            self.created[key] = reg.urn
        if outcome.failure:
            self.failures.append(outcome.failure)
        elif outcome.adopted:
            self.adopted.append(reg.name)

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            secrets: list[str] = []
            raw = json_format.MessageToDict(request.object)
            reg = Registration(
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
                    "replaceWith": list(request.replace_with),
                    "additionalSecretOutputs": list(request.additionalSecretOutputs),
                    "aliases": [json_format.MessageToDict(a) for a in request.aliases],
                    "customTimeouts": json_format.MessageToDict(request.customTimeouts),
                },
                outputs=_plain(json_format.MessageToDict(response.object), "", []),
            )
            self.registrations.append(reg)
            self._apply(reg, response)
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


class StackFileError(ValueError):
    """A stack or project file the Pulumi CLI itself would refuse to read."""


class _CliYamlLoader(yaml.SafeLoader):
    """Reads Pulumi.<stack>.yaml as the CLI does (Go's gopkg.in/yaml.v3, decoding into
    interface{}), not as PyYAML's YAML 1.1 does:

    - a key given twice in one mapping is an error ("mapping key ... already defined"), where
      PyYAML silently keeps the last one;
    - an unquoted timestamp stays the text written (yaml.v3 makes a time.Time only for a typed
      target), so ``shutdownTime: 2026-12-31T23:59:59Z`` reaches the program as a string;
    - only true/false are booleans: YAML 1.1's yes/no/on/off stay strings (yaml.v3 README:
      they are booleans only when decoded into a typed bool).
    """


_CliYamlLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_CliYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _unique_mapping(loader: _CliYamlLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise StackFileError(
                f"line {line}: key '{key}' is already given at line {seen[key]} of the same "
                "mapping; the Pulumi CLI refuses the file — keep one of them"
            )
        seen[key] = line
    return loader.construct_mapping(node, deep=True)


_CliYamlLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def load_yaml(path: Path) -> Any:
    """A Pulumi project or stack file, read with the CLI's rules (see _CliYamlLoader)."""
    try:
        return yaml.load(path.read_text(), Loader=_CliYamlLoader)
    except StackFileError as err:
        raise StackFileError(f"{path.name}: {err}") from None


def project_config(project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """Project-level config (Pulumi.yaml) every stack inherits, as the CLI hands it over."""
    merged: dict[str, Any] = {}
    project = load_yaml(project_dir / "Pulumi.yaml") or {}
    for key, spec in (project.get("config") or {}).items():
        # Unqualified keys belong to the project; a typed key's default applies like a value.
        full = key if ":" in key else f"{project.get('name', PROJECT)}:{key}"
        if isinstance(spec, dict) and "value" in spec:
            merged[full] = spec["value"]
        elif isinstance(spec, dict) and "default" in spec:
            merged[full] = spec["default"]
    return merged


def stack_file_config(doc: Any, name: str) -> dict[str, Any]:
    """The ``config:`` mapping of a stack file. As the CLI's config.ParseKey, every key names
    its namespace (``<namespace>:<name>``): in a stack file, unlike Pulumi.yaml, a bare key is
    an error."""
    config = (doc or {}).get("config") if isinstance(doc, dict) else None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise StackFileError(f"{name}: 'config' must be a mapping of <namespace>:<key> entries")
    bare = [str(k) for k in config if ":" not in str(k)]
    if bare:
        raise StackFileError(
            f"{name}: config key(s) {', '.join(bare)} have no namespace; the Pulumi CLI "
            f"refuses them — write {PROJECT}:{bare[0]} (keys are <namespace>:<name>)"
        )
    return dict(config)


def stack_config(stack: str, project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """The stack's config as the Pulumi CLI would hand it over: project values, then stack."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"no stack file {path.name} in {project_dir}")
    merged = project_config(project_dir)
    merged.update(stack_file_config(load_yaml(path), path.name))
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
    cluster: ClusterState | None = None,
    gke_clusters: Mapping[str, Mapping[str, Any]] | None = None,
) -> Plan:
    """Evaluate ``program`` (default: the project's __main__.py) with ``config``.

    ``cluster`` is what the Kubernetes cluster holds when the ``up`` starts (default: a fresh
    cluster); creates a real provider would fail against it end up in ``Plan.failures``.
    A settings error (pulumi.RunError) ends up in ``Plan.error``; anything else propagates.
    """
    monitor = RecordingMonitor(
        PlatformMocks(stack_references, stack_reference_secrets, gke_clusters), cluster
    )
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
    plan.failures, plan.adopted = list(monitor.failures), list(monitor.adopted)
    plan.cluster, plan.created = monitor.cluster.state, dict(monitor.created)
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
