"""Run the policy pack over a recorded :class:`~offline.engine.Plan`, the way the engine would.

The pack's own policies go into pulumi_policy's real analyzer servicer (the object
``PolicyPack()`` serves over gRPC); each registration becomes the ``AnalyzeRequest`` /
``AnalyzeStackRequest`` protobuf the engine sends (type, name, URN, properties as a protobuf
``Struct`` with secrets and unknowns marked, options, provider, parent, dependencies), so the
rules see props exactly as under ``pulumi preview --policy-pack policies``.

Config follows ``--policy-pack-config``: ``{"all": "<level>", "<policy>": "<level>" |
{"enforcementLevel": ..., <property>: ...}}``. As the CLI does, schema defaults are filled in
first, then the given config, and the result is validated against each policy's schema.

    violations = run_policies(plan)                      # defaults
    violations = run_policies(plan, {"all": "advisory"})
    if any(v.mandatory for v in violations): ...
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import jsonschema
import yaml
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import proto
from pulumi_policy.policy import _PolicyAnalyzerServicer

from policies import pack

from .engine import Plan, Registration

PACK_DIR = Path(pack.__file__).resolve().parent

_SIG = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # what the engine sends for unknowns

_LEVEL_NAMES = {
    proto.ADVISORY: "advisory",
    proto.MANDATORY: "mandatory",
    proto.REMEDIATE: "remediate",
    proto.DISABLED: "disabled",
}
_LEVELS = {name: value for value, name in _LEVEL_NAMES.items()}


class PolicyConfigError(ValueError):
    """The policy pack config does not match the pack's config schema."""


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement_level: str  # "mandatory" | "advisory"
    message: str
    urn: str = ""  # empty for a stack-wide violation
    type: str = ""
    name: str = ""

    @property
    def mandatory(self) -> bool:
        return self.enforcement_level == "mandatory"

    def __str__(self) -> str:
        where = f"{self.type} {self.name}" if self.urn else "stack"
        return f"[{self.enforcement_level}] {self.policy}: {where}: {self.message}"


def pack_version() -> str:
    """The version the CLI reports for the pack (PulumiPolicy.yaml's ``version``)."""
    meta = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text()) or {}
    return str(meta.get("version", "0.0.1"))


def analyzer() -> Any:
    """pulumi_policy's analyzer servicer over this pack's policies, as ``PolicyPack`` builds it."""
    return _PolicyAnalyzerServicer(
        pack.PACK_NAME,
        pack_version(),
        pack.policies(),
        pack.PACK_ENFORCEMENT_LEVEL,
        None,
        pack.PACK_DESCRIPTION,
    )


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a ``--policy-pack-config`` JSON file."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict):
        raise PolicyConfigError(f"{path}: the policy pack config must be a JSON object")
    return data


# The protobuf enum's value type (an int at run time).
Level: TypeAlias = "proto.EnforcementLevel.ValueType"


def reconcile_config(
    info: Any, config: Mapping[str, Any] | None
) -> dict[str, tuple[Level, dict[str, Any]]]:
    """policy name -> (enforcement level, properties), as the CLI computes them from the
    analyzer's info (schema defaults), then ``all``, then per-policy config."""
    result: dict[str, tuple[Level, dict[str, Any]]] = {}
    schemas: dict[str, dict[str, Any]] = {}
    for policy in info.policies:
        schema = json_format.MessageToDict(policy.configSchema)
        props = schema.get("properties", {})
        schemas[policy.name] = {"type": "object", "properties": props}
        if schema.get("required"):
            schemas[policy.name]["required"] = schema["required"]
        defaults = {k: copy.deepcopy(v["default"]) for k, v in props.items() if "default" in v}
        result[policy.name] = (policy.enforcementLevel, defaults)
    given = dict(config or {})
    unknown = sorted(set(given) - set(result) - {"all"})
    if unknown:
        raise PolicyConfigError(
            f"policy pack config names unknown policies {', '.join(unknown)}; the pack's "
            f"policies are {', '.join(result)}"
        )

    def split(key: str, value: Any) -> tuple[Level | None, dict[str, Any]]:
        if isinstance(value, str):
            value = {"enforcementLevel": value}
        if not isinstance(value, Mapping):
            raise PolicyConfigError(f"{key}: must be an enforcement level or an object")
        props = dict(value)
        level = props.pop("enforcementLevel", None)
        if level is None:
            return None, props
        if level not in _LEVELS:
            raise PolicyConfigError(
                f"{key}.enforcementLevel '{level}' is not one of {', '.join(_LEVELS)}"
            )
        return _LEVELS[level], props

    if "all" in given:
        level, props = split("all", given["all"])
        if props:
            raise PolicyConfigError(
                f"all: only enforcementLevel applies to every policy, not {', '.join(props)}; "
                "list properties under each policy that uses them"
            )
        if level is not None:
            result = {name: (level, props) for name, (_, props) in result.items()}
    for name, value in given.items():
        if name == "all":
            continue
        level, props = split(name, value)
        # The CLI ignores a misspelt property; here it is an error, so a typo cannot silently
        # leave a default in force.
        extra = sorted(set(props) - set(schemas[name]["properties"]))
        if extra:
            known = ", ".join(schemas[name]["properties"]) or "none"
            raise PolicyConfigError(
                f"{name}: unknown propert{'ies' if len(extra) > 1 else 'y'} "
                f"{', '.join(extra)}; its properties are: {known}"
            )
        old_level, old_props = result[name]
        result[name] = (old_level if level is None else level, {**old_props, **props})
    errors = []
    for name, (_, props) in result.items():
        validator = jsonschema.Draft7Validator(schemas[name])
        for err in validator.iter_errors(props):
            where = ".".join(str(p) for p in err.absolute_path)
            errors.append(f"{name}{'.' + where if where else ''}: {err.message}")
    if errors:
        raise PolicyConfigError("invalid policy pack config:\n  - " + "\n  - ".join(errors))
    return result


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(dict(value))
    return out


def _wire(value: Any, path: str, secrets: set[str]) -> Any:
    """Plain recorded inputs -> the engine's property JSON: secrets wrapped again (the recorder
    remembers their paths the same way), unknowns as the engine's sentinel."""
    if isinstance(value, dict):
        out: Any = {k: _wire(v, f"{path}.{k}" if path else k, secrets) for k, v in value.items()}
    elif isinstance(value, list):
        out = [_wire(v, f"{path}[{i}]", secrets) for i, v in enumerate(value)]
    elif value == "<unknown>":
        out = _UNKNOWN_STRING
    else:
        out = value
    if path in secrets:
        return {_SIG: _SECRET_SIG, "value": out}
    return out


def properties(reg: Registration) -> struct_pb2.Struct:
    return _struct(_wire(reg.inputs, "", set(reg.secret_paths)))


def _options(reg: Registration) -> Any:
    opts = reg.options
    return proto.AnalyzerResourceOptions(
        protect=bool(opts.get("protect", False)),
        ignoreChanges=list(opts.get("ignoreChanges", [])),
        deleteBeforeReplace=bool(opts.get("deleteBeforeReplace", False)),
        deleteBeforeReplaceDefined=bool(opts.get("deleteBeforeReplace", False)),
        additionalSecretOutputs=list(opts.get("additionalSecretOutputs", [])),
        aliases=[a["urn"] for a in opts.get("aliases", []) if isinstance(a, dict) and "urn" in a],
        parent=reg.parent,
    )


def _provider(reg: Registration, by_urn: Mapping[str, Registration]) -> Any:
    urn = reg.provider.rsplit("::", 1)[0] if reg.provider else ""
    provider = by_urn.get(urn)
    if provider is None:
        return None
    return proto.AnalyzerProviderResource(
        type=provider.type, properties=properties(provider), urn=provider.urn, name=provider.name
    )


def analyze_request(reg: Registration, by_urn: Mapping[str, Registration]) -> Any:
    provider = _provider(reg, by_urn)
    return proto.AnalyzeRequest(
        type=reg.type,
        properties=properties(reg),
        urn=reg.urn,
        name=reg.name,
        options=_options(reg),
        **({"provider": provider} if provider is not None else {}),
    )


def analyzer_resource(reg: Registration, by_urn: Mapping[str, Registration]) -> Any:
    provider = _provider(reg, by_urn)
    return proto.AnalyzerResource(
        type=reg.type,
        properties=properties(reg),
        urn=reg.urn,
        name=reg.name,
        options=_options(reg),
        parent=reg.parent,
        dependencies=list(reg.dependencies),
        **({"provider": provider} if provider is not None else {}),
    )


def run_policies(
    plan: Plan, config: Mapping[str, Any] | None = None, only: Iterable[str] | None = None
) -> list[Violation]:
    """Every violation the pack reports for ``plan``: one ``Analyze`` call per resource (not for
    providers, as the engine), then one ``AnalyzeStack`` over them all.

    ``only``: URNs to limit the per-resource analysis to (the stack policies still see every
    resource) — for checking one changed resource quickly.

    Raises PolicyConfigError when ``config`` does not fit the pack's schema, and ValueError when
    the plan is a settings error (nothing registered to check).
    """
    if plan.error is not None:
        raise ValueError(f"the stack did not evaluate, so there is nothing to check:\n{plan.error}")
    servicer = analyzer()
    info = servicer.GetAnalyzerInfo(None, None)
    reconciled = reconcile_config(info, config)
    servicer.Configure(
        proto.ConfigureAnalyzerRequest(
            policyConfig={
                name: proto.PolicyConfig(enforcementLevel=level, properties=_struct(props))
                for name, (level, props) in reconciled.items()
            }
        ),
        None,
    )
    by_urn = plan.by_urn()
    resources = [r for r in plan.registrations if not r.is_provider]
    diagnostics: list[tuple[Any, Registration | None]] = []
    wanted = None if only is None else set(only)
    for reg in resources:
        if wanted is not None and reg.urn not in wanted:
            continue
        response = servicer.Analyze(analyze_request(reg, by_urn), None)
        diagnostics.extend((d, reg) for d in response.diagnostics)
    stack = servicer.AnalyzeStack(
        proto.AnalyzeStackRequest(resources=[analyzer_resource(r, by_urn) for r in resources]),
        None,
    )
    diagnostics.extend((d, by_urn.get(d.urn)) for d in stack.diagnostics)
    out = []
    for diag, found in diagnostics:
        # The servicer prefixes the policy's description; keep only what is specific.
        message = diag.message.removeprefix(diag.description).strip() or diag.description
        out.append(
            Violation(
                policy=diag.policyName,
                enforcement_level=_LEVEL_NAMES.get(diag.enforcementLevel, "advisory"),
                message=message,
                urn=found.urn if found else diag.urn,
                type=found.type if found else "",
                name=found.name if found else "",
            )
        )
    return out


__all__ = ["PolicyConfigError", "Violation", "load_config", "run_policies"]
