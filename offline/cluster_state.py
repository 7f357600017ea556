"""The Kubernetes objects that already exist when ``pulumi up`` starts, and what the real
pulumi-kubernetes provider (>= 4.29, pinned 4.34.2) does when the program creates one of them.

A mock that starts every ``up`` from an empty cluster proves only the hope (docs/operations.md,
"Offline proof"). The provider's behaviour, from its source (pulumi/pulumi-kubernetes
``provider/pkg/await/await.go``, ``Creation``; CHANGELOG 4.29.0, PR #4278) and the Kubernetes
API server:

- **AlreadyExists.** A create is a client-side ``Create`` unless the provider sets
  ``upsertExistingObjects``: an object of the same kind, namespace and name fails the create
  ("The resource already exists in the cluster").
- **Conflict.** With ``upsertExistingObjects`` the create is a server-side apply *without force*
  unless the provider sets ``enablePatchForce`` (or the object carries
  ``pulumi.com/patchForce: "true"``): a field we set to a value another field manager (kubectl,
  Helm, an earlier stack) set differently is a conflict. We treat every field of an existing
  object as another manager's: a new stack never shares a field manager with the old one.
- **Immutable fields.** Force does not help: the API server refuses a change to an immutable
  field (e.g. a DaemonSet's ``spec.selector``) with "field is immutable".
- **Two resources, one object.** Two registrations of the same object fail the second create,
  or, with upsert, leave two owners fighting over it; either way it is refused here.

Objects that exist before an ``up`` and that the program creates are *adopted*: from then on the
stack owns them, and ``pulumi destroy`` deletes them unless they are ``retainOnDelete``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# (group, kind, namespace, name); namespace "" for cluster-scoped kinds.
ObjectKey = tuple[str, str, str, str]

CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "RuntimeClass",
        "PriorityClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "APIService",
        "GatewayClass",
    }
)
# What every cluster holds before anything is installed.
FRESH_CLUSTER_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# Fields the API server never lets an update change ((group, kind) -> dotted paths).
IMMUTABLE_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("apps", "Deployment"): ("spec.selector",),
    ("apps", "DaemonSet"): ("spec.selector",),
    ("apps", "ReplicaSet"): ("spec.selector",),
    ("apps", "StatefulSet"): ("spec.selector", "spec.serviceName", "spec.volumeClaimTemplates"),
    ("batch", "Job"): ("spec.selector", "spec.template"),
    ("rbac.authorization.k8s.io", "RoleBinding"): ("roleRef",),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): ("roleRef",),
    ("node.k8s.io", "RuntimeClass"): ("handler",),
    ("storage.k8s.io", "StorageClass"): ("provisioner", "parameters", "reclaimPolicy"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): ("spec.scope", "spec.group"),
    # The Sandbox CRD's CEL rule (agents.x-k8s.io_sandboxes.yaml).
    ("agents.x-k8s.io", "Sandbox"): ("spec.volumeClaimTemplates",),
}
# Fields the API server or controllers own and that never conflict with what we set.
_SERVER_FIELDS = ("status", "metadata.managedFields", "metadata.resourceVersion", "metadata.uid")
PATCH_FORCE_ANNOTATION = "pulumi.com/patchForce"


def group_kind(type_token: str) -> tuple[str, str]:
    """``kubernetes:apps/v1:Deployment`` -> ("apps", "Deployment"); core -> ("", kind)."""
    _, api, kind = type_token.split(":")
    group = api.rsplit("/", 1)[0] if "/" in api else ""
    return ("" if group == "core" else group), kind


def _group_of(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def object_key(
    group: str, kind: str, metadata: Mapping[str, Any], default_namespace: str = "default"
) -> ObjectKey | None:
    """The object's identity, or None when Pulumi auto-names it (a fresh random suffix)."""
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        return None
    ns = "" if kind in CLUSTER_SCOPED_KINDS else str(metadata.get("namespace") or default_namespace)
    return (group, kind, ns, name)


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


def _by_name(items: list[Any]) -> dict[str, Any] | None:
    """Lists of named entries (containers, env, ports, volumes) merge by name under SSA."""
    if items and all(isinstance(i, Mapping) and isinstance(i.get("name"), str) for i in items):
        return {str(i["name"]): i for i in items}
    return None


def conflicts(ours: Any, theirs: Any, path: str = "") -> list[str]:
    """Paths of fields we set to a value the existing object holds differently."""
    if path in _SERVER_FIELDS or theirs is None:
        return []
    if isinstance(ours, Mapping) and isinstance(theirs, Mapping):
        return [
            p
            for k, v in ours.items()
            for p in conflicts(v, theirs.get(k), f"{path}.{k}" if path else str(k))
        ]
    if isinstance(ours, list) and isinstance(theirs, list):
        mine, old = _by_name(ours), _by_name(theirs)
        if mine is not None and old is not None:
            return [p for n, v in mine.items() for p in conflicts(v, old.get(n), f"{path}[{n}]")]
    return [] if _same(ours, theirs) else [path]


def _same(a: Any, b: Any) -> bool:
    # Numbers cross the wire as doubles, and quantities/ports may be written as strings.
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return bool(a == b)


@dataclass
class ClusterState:
    """Objects in the cluster, by identity, with their last applied content."""

    objects: dict[ObjectKey, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def fresh(cls) -> ClusterState:
        """A new cluster: only the namespaces Kubernetes creates itself."""
        state = cls()
        for ns in FRESH_CLUSTER_NAMESPACES:
            state.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        return state

    @classmethod
    def with_objects(cls, manifests: Iterable[Mapping[str, Any]]) -> ClusterState:
        """A fresh cluster plus ``manifests`` (e.g. a kubectl or Helm install)."""
        state = cls.fresh()
        for m in manifests:
            state.add(m)
        return state

    def add(self, manifest: Mapping[str, Any]) -> None:
        key = object_key(
            _group_of(str(manifest["apiVersion"])), str(manifest["kind"]), manifest["metadata"]
        )
        if key is not None:
            self.objects[key] = copy.deepcopy(dict(manifest))

    def copy(self) -> ClusterState:
        return ClusterState(copy.deepcopy(self.objects))


@dataclass
class CreateOutcome:
    failure: str | None = None
    adopted: bool = False


@dataclass
class ProviderFlags:
    upsert: bool = False
    force: bool = False
    default_namespace: str = "default"

    @classmethod
    def from_inputs(cls, inputs: Mapping[str, Any]) -> ProviderFlags:
        return cls(
            upsert=_truthy(inputs.get("upsertExistingObjects")),
            force=_truthy(inputs.get("enablePatchForce")),
            default_namespace=str(inputs.get("namespace") or "default"),
        )


@dataclass
class ClusterSimulator:
    """Applies one ``up``'s creates to a cluster state, the way the provider would."""

    state: ClusterState
    created: dict[ObjectKey, str] = field(default_factory=dict)  # key -> resource name

    def create(
        self, type_token: str, resource: str, inputs: Mapping[str, Any], flags: ProviderFlags
    ) -> CreateOutcome:
        group, kind = group_kind(type_token)
        metadata = inputs.get("metadata") or {}
        # Patch resources (NamespacePatch, ...) always server-side apply onto an existing object
        # and own only the fields they set (await.go: kinds.IsPatchResource).
        patch = kind.endswith("Patch") and kind != "Patch"
        if patch:
            kind = kind.removesuffix("Patch")
            flags = ProviderFlags(True, flags.force, flags.default_namespace)
        key = object_key(group, kind, metadata, flags.default_namespace)
        if key is None:
            return CreateOutcome()
        where = f"{kind} {key[2] + '/' if key[2] else ''}{key[3]}"
        if patch:
            if key not in self.state.objects:
                return CreateOutcome(f"{resource}: {where} does not exist, nothing to patch")
            outcome = self._upsert(key, group, kind, where, resource, inputs, flags, metadata)
            return CreateOutcome(outcome.failure)  # a patch never owns the object
        if key in self.created:
            return CreateOutcome(
                f"{resource}: {where} is already managed by resource {self.created[key]} of this "
                "stack; two resources must never manage one object"
            )
        self.created[key] = resource
        existing = self.state.objects.get(key)
        manifest = {"apiVersion": inputs.get("apiVersion"), "kind": kind, **dict(inputs)}
        if existing is None:
            self.state.objects[key] = manifest
            return CreateOutcome()
        if not flags.upsert:
            return CreateOutcome(
                f"{resource}: {where} already exists (AlreadyExists: pulumi-kubernetes >= 4.29 "
                "creates client-side unless the provider sets upsertExistingObjects)"
            )
        return self._upsert(key, group, kind, where, resource, inputs, flags, metadata)

    def _upsert(
        self,
        key: ObjectKey,
        group: str,
        kind: str,
        where: str,
        resource: str,
        inputs: Mapping[str, Any],
        flags: ProviderFlags,
        metadata: Mapping[str, Any],
    ) -> CreateOutcome:
        """Server-side apply onto the existing object: immutable fields, then conflicts."""
        existing = self.state.objects[key]
        changed = [
            p
            for p in IMMUTABLE_FIELDS.get((group, kind), ())
            if _get(inputs, p) is not None
            and _get(existing, p) is not None
            and not _same(_get(inputs, p), _get(existing, p))
        ]
        if changed:
            return CreateOutcome(
                f"{resource}: {where} exists with a different {', '.join(changed)}, which the "
                "API server never lets an update change (field is immutable)"
            )
        forced = flags.force or _truthy(
            (metadata.get("annotations") or {}).get(PATCH_FORCE_ANNOTATION)
        )
        if not forced:
            clash = [p for p in conflicts(dict(inputs), existing) if p not in ("apiVersion",)]
            if clash:
                return CreateOutcome(
                    f"{resource}: {where} exists and server-side apply without force conflicts "
                    f"on {', '.join(clash[:5])} (set enablePatchForce on the provider)"
                )
        self.state.objects[key] = _merged(existing, dict(inputs))
        return CreateOutcome(adopted=True)


def _merged(base: Any, applied: Any) -> Any:
    """The object after a server-side apply: the applied fields over the existing ones."""
    if isinstance(base, Mapping) and isinstance(applied, Mapping):
        out = dict(base)
        for k, v in applied.items():
            out[k] = _merged(base.get(k), v)
        return out
    return copy.deepcopy(applied)
