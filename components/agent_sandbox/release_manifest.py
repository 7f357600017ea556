"""Where the agent-sandbox release manifest comes from, and what the platform accepts in it.

Lookup order (first hit wins), all before any resource registers:

1. ``controlPlane.manifest``: a local path, a ``file://`` URL, or an ``http(s)://`` URL (downloaded
   once into the cache).
2. ``$AGENT_SANDBOX_MANIFEST_DIR``: ``<dir>/<version>/sandbox-with-extensions.yaml`` or
   ``<dir>/sandbox-with-extensions.yaml`` (air-gapped hosts, the test suite).
3. The cache: ``<controlPlane.cacheDir>/<version>/sandbox-with-extensions.yaml``.
4. The release asset of ``controlPlane.version``, downloaded into the cache — unless
   ``$AGENT_SANDBOX_OFFLINE`` forbids downloads; then the manifest is *unavailable* and the
   control plane previews as one unexpanded step.

``controlPlane.sha256`` is checked against whatever text was found; the parsed objects are checked
against the shapes the control plane knows how to turn into typed resources, so an unexpected
release is a clear error instead of a silently dropped field.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .. import constants as c
from ..settings import ControlPlaneSettings, SettingsError

DOWNLOAD_TIMEOUT_SECONDS = 60
_TRUE = ("1", "true", "yes", "on")


def release_url(version: str) -> str:
    return c.AGENT_SANDBOX_RELEASE_URL.format(version=version)


def offline(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get(c.AGENT_SANDBOX_OFFLINE_ENV, "").strip().lower() in _TRUE


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / c.PROJECT


def cache_root(settings: ControlPlaneSettings, env: Mapping[str, str] | None = None) -> Path:
    if settings.cache_dir:
        return Path(settings.cache_dir).expanduser()
    return default_cache_dir(env)


def cache_path(settings: ControlPlaneSettings, env: Mapping[str, str] | None = None) -> Path:
    """Where the release asset of ``settings.version`` is cached."""
    return cache_root(settings, env) / settings.version / c.AGENT_SANDBOX_MANIFEST_FILE


def _url_cache_path(settings: ControlPlaneSettings, url: str, env: Mapping[str, str]) -> Path:
    # A custom URL need not name the version: key its cache entry by the URL itself.
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return cache_root(settings, env) / "urls" / key / c.AGENT_SANDBOX_MANIFEST_FILE


def fetch_url(url: str) -> bytes:
    """Download ``url``. Module-level so tests can replace it; they never touch the network."""
    request = urllib.request.Request(url, headers={"User-Agent": c.PROJECT})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
        body: bytes = response.read()
    return body


def _fail(msg: str) -> SettingsError:
    return SettingsError(f"invalid stack settings:\n  - {msg}")


# ---------------------------------------------------------------------------------------------
# the result
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReleaseManifest:
    """The manifest of one release, or — when offline with nothing local — where to get it.

    ``objects`` is ``None`` when the manifest is unavailable; then ``url`` is what a deploy
    would fetch and ``hint`` says how to provide the file.
    """

    version: str
    source: str
    url: str | None
    sha256: str | None
    objects: tuple[dict[str, Any], ...] | None
    hint: str = ""

    @property
    def available(self) -> bool:
        return self.objects is not None

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects or () if o["kind"] == kind]

    @property
    def crds(self) -> list[dict[str, Any]]:
        return self.of_kind("CustomResourceDefinition")

    @property
    def controller(self) -> dict[str, Any]:
        (deployment,) = self.of_kind("Deployment")  # parse_manifest guarantees exactly one
        return deployment

    @property
    def controller_container(self) -> dict[str, Any]:
        containers = self.controller["spec"]["template"]["spec"]["containers"]
        found: dict[str, Any] = next(x for x in containers if x["name"] == c.CONTROLLER_NAME)
        return found

    @property
    def image_tag(self) -> str | None:
        """The controller image tag the manifest was rendered for (``None`` for a digest)."""
        image = str(self.controller_container.get("image", ""))
        name = image.rsplit("/", 1)[-1]
        if "@" in name or ":" not in name:
            return None
        return name.rsplit(":", 1)[1]


# ---------------------------------------------------------------------------------------------
# what the control plane can convert (see components/agent_sandbox/control_plane.py)
# ---------------------------------------------------------------------------------------------
# A shape maps a field to ANY (kept as is), to a nested shape, or to [shape] for a list of them.
ANY: None = None
Shape = dict[str, Any]

_META: Shape = {"name": ANY, "namespace": ANY, "labels": ANY, "annotations": ANY}
_PORT: Shape = {"name": ANY, "containerPort": ANY, "protocol": ANY}
_CONTAINER: Shape = {
    "name": ANY,
    "image": ANY,
    "imagePullPolicy": ANY,
    "command": ANY,
    "args": ANY,
    "env": [{"name": ANY, "value": ANY}],
    "ports": [_PORT],
    "volumeMounts": [{"name": ANY, "mountPath": ANY, "readOnly": ANY, "subPath": ANY}],
    # Replaced by the platform's hardening; accepted so a release that adds them still loads.
    "resources": ANY,
    "securityContext": ANY,
    "livenessProbe": ANY,
    "readinessProbe": ANY,
}
_VOLUME: Shape = {
    "name": ANY,
    "configMap": {"name": ANY, "optional": ANY, "defaultMode": ANY},
    "secret": {"secretName": ANY, "optional": ANY, "defaultMode": ANY},
    "emptyDir": {"medium": ANY, "sizeLimit": ANY},
}
SHAPES: dict[str, Shape] = {
    "Namespace": {"apiVersion": ANY, "kind": ANY, "metadata": _META},
    # A CRD's spec is data for the API server; it is passed through whole, never altered.
    "CustomResourceDefinition": {"apiVersion": ANY, "kind": ANY, "metadata": _META, "spec": ANY},
    "ServiceAccount": {"apiVersion": ANY, "kind": ANY, "metadata": _META},
    "ClusterRole": {
        "apiVersion": ANY,
        "kind": ANY,
        "metadata": _META,
        "rules": [
            {
                "apiGroups": ANY,
                "resources": ANY,
                "verbs": ANY,
                "resourceNames": ANY,
                "nonResourceURLs": ANY,
            }
        ],
    },
    "ClusterRoleBinding": {
        "apiVersion": ANY,
        "kind": ANY,
        "metadata": _META,
        "roleRef": {"apiGroup": ANY, "kind": ANY, "name": ANY},
        "subjects": [{"kind": ANY, "name": ANY, "namespace": ANY, "apiGroup": ANY}],
    },
    "Service": {
        "apiVersion": ANY,
        "kind": ANY,
        "metadata": _META,
        "spec": {
            "type": ANY,
            "selector": ANY,
            "ports": [
                {"name": ANY, "port": ANY, "protocol": ANY, "targetPort": ANY, "appProtocol": ANY}
            ],
        },
    },
    "Deployment": {
        "apiVersion": ANY,
        "kind": ANY,
        "metadata": _META,
        "spec": {
            "replicas": ANY,
            "selector": {"matchLabels": ANY},
            "template": {
                "metadata": {"labels": ANY, "annotations": ANY},
                "spec": {
                    "containers": [_CONTAINER],
                    "serviceAccountName": ANY,
                    "terminationGracePeriodSeconds": ANY,
                    "volumes": [_VOLUME],
                    # Replaced by the platform's hardening and placement.
                    "securityContext": ANY,
                    "nodeSelector": ANY,
                },
            },
        },
    },
}
# The API version each kind must have: the typed resource class is chosen by it.
API_VERSIONS = {
    "Namespace": "v1",
    "CustomResourceDefinition": "apiextensions.k8s.io/v1",
    "ServiceAccount": "v1",
    "ClusterRole": "rbac.authorization.k8s.io/v1",
    "ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
    "Service": "v1",
    "Deployment": "apps/v1",
}
CLUSTER_SCOPED = ("Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding")


def _unknown_fields(value: Any, shape: Any, path: str) -> list[str]:
    if shape is ANY or value is None:
        return []
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [f"{path} (expected a list)"]
        return [
            p for i, v in enumerate(value) for p in _unknown_fields(v, shape[0], f"{path}[{i}]")
        ]
    if not isinstance(value, dict):
        return [f"{path} (expected a mapping)"]
    out = []
    for key, sub in value.items():
        if key not in shape:
            out.append(f"{path}.{key}")
        else:
            out.extend(_unknown_fields(sub, shape[key], f"{path}.{key}"))
    return out


def parse_manifest(text: str, source: str) -> tuple[dict[str, Any], ...]:
    """The manifest's objects, checked against what the control plane can install faithfully."""
    where = f"the agent-sandbox manifest at {source}"
    fix = (
        "use the release's sandbox-with-extensions.yaml (controlPlane.manifest / "
        "controlPlane.version), or upgrade this platform for a release it does not know yet"
    )
    try:
        docs = [d for d in yaml.load_all(text, Loader=_LOADER) if d is not None]
    except yaml.YAMLError as err:
        raise _fail(f"{where} is not valid YAML ({err}); {fix}") from None
    problems: list[str] = []
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict) or not isinstance(doc.get("metadata"), dict):
            problems.append(f"document {i} is not a Kubernetes object")
            continue
        kind, name = doc.get("kind"), doc["metadata"].get("name")
        label = f"{kind} {name}"
        if kind not in SHAPES:
            problems.append(f"{label}: kind {kind} is not one the platform installs")
            continue
        if doc.get("apiVersion") != API_VERSIONS[kind]:
            problems.append(
                f"{label}: apiVersion {doc.get('apiVersion')} (expected {API_VERSIONS[kind]})"
            )
        ns = doc["metadata"].get("namespace")
        if kind in CLUSTER_SCOPED:
            if kind == "Namespace" and name != c.AGENT_SANDBOX_NAMESPACE:
                problems.append(f"{label}: only namespace {c.AGENT_SANDBOX_NAMESPACE} is expected")
        elif ns != c.AGENT_SANDBOX_NAMESPACE:
            problems.append(f"{label}: namespace {ns} (expected {c.AGENT_SANDBOX_NAMESPACE})")
        unknown = _unknown_fields(doc, SHAPES[kind], kind)
        if unknown:
            problems.append(f"{label}: fields the platform cannot carry over: {', '.join(unknown)}")
    crds = {d["metadata"]["name"] for d in docs if d.get("kind") == "CustomResourceDefinition"}
    missing = [n for n in c.AGENT_SANDBOX_CRDS if n not in crds]
    if missing:
        problems.append(f"CRD(s) missing: {', '.join(missing)}")
    deployments = [d for d in docs if d.get("kind") == "Deployment"]
    names = [d["metadata"].get("name") for d in deployments]
    if names != [c.CONTROLLER_NAME]:
        problems.append(f"expected exactly one Deployment {c.CONTROLLER_NAME}, found {names}")
    else:
        containers = deployments[0].get("spec", {}).get("template", {}).get("spec", {})
        if c.CONTROLLER_NAME not in [x.get("name") for x in containers.get("containers", [])]:
            problems.append(f"Deployment {c.CONTROLLER_NAME} has no container of that name")
    if problems:
        listed = "".join(f"\n      * {p}" for p in problems)
        raise _fail(f"{where} is not what the platform expects; {fix}:{listed}")
    return tuple(docs)


_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Parsed manifests by digest: tests and previews evaluate the same text many times.
_PARSED: dict[str, tuple[dict[str, Any], ...]] = {}


def _parsed(text: str, digest: str, source: str) -> tuple[dict[str, Any], ...]:
    if digest not in _PARSED:
        _PARSED[digest] = parse_manifest(text, source)
    return _PARSED[digest]


# ---------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------
def _download(url: str, setting: str) -> bytes:
    try:
        return fetch_url(url)
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise _fail(
            f"could not download the agent-sandbox manifest from {url} ({setting}): {err}; "
            "check the network, or point controlPlane.manifest at a local copy of "
            f"{c.AGENT_SANDBOX_MANIFEST_FILE}, or set {c.AGENT_SANDBOX_OFFLINE_ENV}=1 to "
            "preview without it"
        ) from None


def _store(path: Path, body: bytes) -> None:
    """Atomic write, so an interrupted download never leaves a truncated cache entry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(body)
    tmp.replace(path)


def _provide_hint(settings: ControlPlaneSettings, cached: Path) -> str:
    return (
        f"{c.AGENT_SANDBOX_OFFLINE_ENV} forbids downloads and no local copy of the agent-sandbox "
        f"{settings.version} manifest was found, so the control plane shows as one unexpanded "
        "step (no CRDs, no hardened controller). To see it in full, download "
        f"{release_url(settings.version)} and either set controlPlane.manifest to its path, "
        f"or copy it to {cached}, or set {c.AGENT_SANDBOX_MANIFEST_DIR_ENV} to its directory"
    )


@dataclass(frozen=True)
class _Found:
    body: bytes | None  # None: unavailable (offline, nothing local)
    source: str  # for messages
    url: str | None  # what a deploy could fetch
    cache_file: Path  # where a download is (or would be) cached
    downloaded: bool = False
    from_cache: bool = False


def _remote(
    settings: ControlPlaneSettings, url: str, cached: Path, setting: str, env: Mapping[str, str]
) -> _Found:
    if cached.is_file():
        body = cached.read_bytes()
        return _Found(body, f"{url} (cached at {cached})", url, cached, from_cache=True)
    if offline(env):
        return _Found(None, url, url, cached)
    return _Found(_download(url, setting), url, url, cached, downloaded=True)


def _locate(settings: ControlPlaneSettings, env: Mapping[str, str]) -> _Found:
    cached = cache_path(settings, env)
    manifest = settings.manifest
    if manifest is not None:
        parts = urllib.parse.urlsplit(manifest) if "://" in manifest else None
        if parts is not None and parts.scheme in ("http", "https"):
            return _remote(
                settings,
                manifest,
                _url_cache_path(settings, manifest, env),
                "controlPlane.manifest",
                env,
            )
        raw = urllib.request.url2pathname(parts.path) if parts is not None else manifest
        path = Path(raw).expanduser()
        if not path.is_file():
            raise _fail(
                f"controlPlane.manifest '{manifest}' does not exist (resolved to "
                f"{path.resolve()}); point it at a copy of {c.AGENT_SANDBOX_MANIFEST_FILE} "
                f"from {release_url(settings.version)}, or remove it to download that release"
            )
        return _Found(path.read_bytes(), str(path), None, cached)
    url = release_url(settings.version)
    lookup = env.get(c.AGENT_SANDBOX_MANIFEST_DIR_ENV)
    if lookup:
        base = Path(lookup).expanduser()
        for candidate in (
            base / settings.version / c.AGENT_SANDBOX_MANIFEST_FILE,
            base / c.AGENT_SANDBOX_MANIFEST_FILE,
        ):
            if candidate.is_file():
                return _Found(candidate.read_bytes(), str(candidate), url, cached)
        raise _fail(
            f"{c.AGENT_SANDBOX_MANIFEST_DIR_ENV} is set to {base}, but neither "
            f"{settings.version}/{c.AGENT_SANDBOX_MANIFEST_FILE} nor "
            f"{c.AGENT_SANDBOX_MANIFEST_FILE} is there; put the manifest there or unset it"
        )
    return _remote(settings, url, cached, "controlPlane.version", env)


def load_manifest(
    settings: ControlPlaneSettings, env: Mapping[str, str] | None = None
) -> ReleaseManifest:
    """Find, verify and parse the manifest of ``settings`` (see the module docstring)."""
    env = os.environ if env is None else env
    found = _locate(settings, env)
    if found.body is None:
        hint = _provide_hint(settings, cache_path(settings, env))
        return ReleaseManifest(settings.version, found.source, found.url, None, None, hint)
    digest = hashlib.sha256(found.body).hexdigest()
    expected = settings.sha256.lower() if settings.sha256 else None
    if expected is not None and digest != expected:
        stale = f" (or delete the stale cached copy {found.cache_file})" if found.from_cache else ""
        raise _fail(
            f"controlPlane.sha256 does not match the agent-sandbox manifest at {found.source}: "
            f"expected {expected}, actual {digest}. Nothing was deployed. If you trust this file "
            "(compare it with the release), set controlPlane.sha256 to the actual digest; "
            f"otherwise fix controlPlane.manifest / controlPlane.version{stale}"
        )
    try:
        text = found.body.decode("utf-8")
    except UnicodeDecodeError:
        raise _fail(f"the agent-sandbox manifest at {found.source} is not UTF-8 text") from None
    objects = _parsed(text, digest, found.source)
    if found.downloaded:
        _store(found.cache_file, found.body)  # only once it verified and parsed
    return ReleaseManifest(settings.version, found.source, found.url, digest, objects)
