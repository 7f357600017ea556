"""Real schema validation of rendered manifests (DESIGN §4.2).

Built-in kinds: ``kubernetes-validate`` in strict mode (unknown fields are errors). Custom
resources: the ``openAPIV3Schema`` of the real upstream CRDs, turned into JSON Schema. The
upstream folder is ``$AGENT_SANDBOX_UPSTREAM`` or ``../shared/upstream`` beside the checkout; when
it is missing validation fails loudly rather than skipping.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from referencing import Registry, Resource

from .engine import PROJECT_DIR

UPSTREAM_ENV = "AGENT_SANDBOX_UPSTREAM"
# The Kubernetes minor the built-in schemas are checked against (GKE REGULAR channel floor).
KUBERNETES_VERSION = "1.33.0"
CRD_DIRS = ("agent-sandbox/crds", "gateway-api/standard", "gke-gateway-policies/crds")


class UpstreamMissingError(RuntimeError):
    pass


def upstream_dir() -> Path:
    path = Path(os.environ.get(UPSTREAM_ENV) or PROJECT_DIR.parent / "shared" / "upstream")
    if not (path / "agent-sandbox" / "crds").is_dir():
        raise UpstreamMissingError(
            f"upstream data not found at {path}: set {UPSTREAM_ENV} to the shared/upstream folder "
            "(CI has it at ../shared/upstream beside the checkout)"
        )
    return path


_JUNCTORS = ("oneOf", "anyOf", "allOf", "not")


def to_json_schema(node: Any, in_junctor: bool = False) -> Any:
    """OpenAPI v3 (Kubernetes structural schema) -> JSON Schema, closing objects that declare
    their properties so an unknown field is an error, as the API server prunes/rejects it.

    Branches of oneOf/anyOf/allOf/not only validate values (a structural schema's fields are
    those outside them), so they are never closed: Gateway's ``spec.addresses`` items, for
    one, name ``value`` only in their outer schema."""
    if isinstance(node, list):
        return [to_json_schema(n, in_junctor) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: to_json_schema(v, in_junctor or k in _JUNCTORS)
        for k, v in node.items()
        if not k.startswith("x-kubernetes-")
    }
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if (
        "properties" in node
        and not in_junctor
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@lru_cache(maxsize=4)
def crd_schemas(root: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> JSON Schema, for every served version of every upstream CRD."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for sub in CRD_DIRS:
        for path in sorted((root / sub).glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                for version in spec["versions"]:
                    if not version.get("served", True):
                        continue
                    schema = to_json_schema(version["schema"]["openAPIV3Schema"])
                    key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                    schemas[key] = schema
    return schemas


@cache
def _custom_validator(root: Path, api_version: str, kind: str) -> Any:
    """One compiled validator per kind: compiling the schema per object is what costs."""
    schema = crd_schemas(root).get((api_version, kind))
    return None if schema is None else jsonschema.Draft7Validator(schema)


def validate_custom(manifest: dict[str, Any], root: Path | None = None) -> list[str]:
    key = (manifest["apiVersion"], manifest["kind"])
    validator = _custom_validator(root or upstream_dir(), *key)
    if validator is None:
        return [f"no upstream CRD schema for {key[0]} {key[1]}"]
    return [
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    ]


@cache
def _builtin_validator(api_version: str, kind: str) -> Any:
    """The strict kubernetes-validate schema of a kind, compiled once.

    ``kubernetes_validate.validate`` re-reads and re-parses its multi-megabyte definitions file
    for every object (~5 ms each: 10 s for a 1,000-sandbox stack); this resolves the same file
    the same way, once per kind. None when the library has no schema for the kind.
    """
    kv = kubernetes_validate.utils
    wanted = kv.major_minor(KUBERNETES_VERSION)
    version = [v for v in kv.all_versions() if kv.major_minor(v) <= wanted][-1]
    folder = f"kubernetes-json-schema/v{version}-local-strict"
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)  # rbac.authorization.k8s.io/v1
    try:
        schema = kv.schema_contents(f"{folder}/{kind.lower()}-{group}.json", KUBERNETES_VERSION)
    except FileNotFoundError:
        return None
    registry = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(_definitions(folder)) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


@lru_cache(maxsize=2)
def _definitions(folder: str) -> Any:
    return kubernetes_validate.utils.schema_contents(f"{folder}/_definitions.json", "")


def validate_builtin(manifest: dict[str, Any]) -> list[str]:
    validator = _builtin_validator(manifest["apiVersion"], manifest["kind"])
    if validator is None:
        return [
            f"no Kubernetes {KUBERNETES_VERSION} schema: {manifest['kind']} "
            f"{manifest['apiVersion']}"
        ]
    # The single most relevant error, as kubernetes_validate.validate reports it.
    err = jsonschema.exceptions.best_match(validator.iter_errors(manifest))
    if err is None:
        return []
    path = ".".join(str(p) for p in err.path) or "<root>"
    return [f"{path}: {err.message}"]


def validate_manifest(manifest: dict[str, Any]) -> list[str]:
    """Problems with one manifest; empty when it is valid."""
    if (manifest["apiVersion"], manifest["kind"]) in crd_schemas(upstream_dir()):
        return validate_custom(manifest)
    return validate_builtin(manifest)


def validate_all(manifests: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """``kind/namespace/name`` -> problems, for every invalid manifest."""
    problems: dict[str, list[str]] = {}
    for m in manifests:
        errs = validate_manifest(m)
        if errs:
            meta = m.get("metadata", {})
            problems[f"{m['kind']}/{meta.get('namespace', '-')}/{meta.get('name')}"] = errs
    return problems
