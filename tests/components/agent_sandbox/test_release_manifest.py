"""Where the agent-sandbox manifest comes from: local path, URL, lookup directory, cache, release
download (always faked here: these tests never touch the network), digest check and parsing."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.agent_sandbox import release_manifest as rm
from components.settings import ControlPlaneSettings, SettingsError, parse_settings

FILE = "sandbox-with-extensions.yaml"
RELEASE = "https://github.com/kubernetes-sigs/agent-sandbox/releases/download/{}/" + FILE
CRDS = {
    "sandboxes.agents.x-k8s.io",
    "sandboxtemplates.extensions.agents.x-k8s.io",
    "sandboxclaims.extensions.agents.x-k8s.io",
    "sandboxwarmpools.extensions.agents.x-k8s.io",
}


@pytest.fixture(scope="module")
def shared(upstream: Path) -> Path:
    return upstream / "agent-sandbox" / FILE


@pytest.fixture(scope="module")
def upstream_objects(shared: Path) -> list[dict[str, Any]]:
    """The shared rendering's objects, parsed here independently of the code under test."""
    return [d for d in yaml.load_all(shared.read_text(), Loader=yaml.CSafeLoader) if d]


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any download attempt is recorded and fails the test."""
    calls: list[str] = []

    def refuse(url: str) -> bytes:
        calls.append(url)
        raise AssertionError(f"unexpected download of {url}")

    monkeypatch.setattr(rm, "fetch_url", refuse)
    return calls


@pytest.fixture()
def fake_release(monkeypatch: pytest.MonkeyPatch, shared: Path) -> list[str]:
    """The release server, serving the shared rendering for any URL."""
    calls: list[str] = []

    def serve(url: str) -> bytes:
        calls.append(url)
        return shared.read_bytes()

    monkeypatch.setattr(rm, "fetch_url", serve)
    return calls


def cp(**kw: Any) -> ControlPlaneSettings:
    return ControlPlaneSettings.model_validate(kw)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- sources ----------------------------------------------------------------------------------
def test_local_manifest_is_read_and_parsed(
    shared: Path, upstream_objects: list[dict[str, Any]], no_network: list[str]
) -> None:
    m = rm.load_manifest(cp(manifest=str(shared)), env={})
    assert m.available and m.source == str(shared)
    assert m.sha256 == sha(shared)
    assert list(m.objects or ()) == upstream_objects  # every object, unaltered
    assert {o["metadata"]["name"] for o in m.crds} == CRDS
    assert m.controller["metadata"]["name"] == "agent-sandbox-controller"
    assert m.image_tag == "v1.0.3"


def test_file_url_is_local_and_allowed_offline(shared: Path, no_network: list[str]) -> None:
    m = rm.load_manifest(cp(manifest=shared.as_uri()), env={"AGENT_SANDBOX_OFFLINE": "1"})
    assert m.available and m.sha256 == sha(shared)


def test_missing_local_manifest_names_the_setting(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(SettingsError) as err:
        rm.load_manifest(cp(manifest=str(missing)), env={})
    assert "controlPlane.manifest" in str(err.value) and str(missing) in str(err.value)
    assert RELEASE.format("v1.0.3") in str(err.value)  # where to get it


def test_release_is_downloaded_once_into_the_version_cache(
    tmp_path: Path, shared: Path, fake_release: list[str]
) -> None:
    settings = cp(version="v1.0.3", cacheDir=str(tmp_path))
    first = rm.load_manifest(settings, env={})
    assert fake_release == [RELEASE.format("v1.0.3")]
    cached = tmp_path / "v1.0.3" / FILE
    assert cached.read_bytes() == shared.read_bytes()
    second = rm.load_manifest(settings, env={})
    assert fake_release == [RELEASE.format("v1.0.3")], "the cache must spare a second download"
    assert first.objects == second.objects and str(cached) in second.source


def test_default_cache_is_under_the_user_cache_dir(tmp_path: Path) -> None:
    assert rm.cache_path(cp(version="v1.0.4"), env={"XDG_CACHE_HOME": str(tmp_path)}) == (
        tmp_path / "agent-sandbox-platform" / "v1.0.4" / FILE
    )
    assert rm.default_cache_dir(env={}) == Path.home() / ".cache" / "agent-sandbox-platform"


def test_preseeded_cache_works_offline(tmp_path: Path, shared: Path, no_network: list[str]) -> None:
    (tmp_path / "v1.0.3").mkdir()
    (tmp_path / "v1.0.3" / FILE).write_bytes(shared.read_bytes())
    m = rm.load_manifest(cp(cacheDir=str(tmp_path)), env={"AGENT_SANDBOX_OFFLINE": "1"})
    assert m.available and m.sha256 == sha(shared)


def test_download_through_urllib_with_a_file_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared: Path
) -> None:
    # The real fetch function, pointed at a local file:// "release server".
    monkeypatch.setattr(rm.c, "AGENT_SANDBOX_RELEASE_URL", shared.as_uri())
    m = rm.load_manifest(cp(cacheDir=str(tmp_path)), env={})
    assert m.sha256 == sha(shared)
    assert (tmp_path / "v1.0.3" / FILE).read_bytes() == shared.read_bytes()


def test_https_manifest_url_is_cached_by_url(
    tmp_path: Path, shared: Path, fake_release: list[str]
) -> None:
    url = "https://mirror.example.com/agent-sandbox/v1.0.3/sandbox-with-extensions.yaml"
    settings = cp(manifest=url, cacheDir=str(tmp_path))
    rm.load_manifest(settings, env={})
    rm.load_manifest(settings, env={})
    assert fake_release == [url]
    (entry,) = (tmp_path / "urls").glob(f"*/{FILE}")
    assert entry.read_bytes() == shared.read_bytes()


def test_lookup_dir_prefers_the_versioned_copy(
    tmp_path: Path, shared: Path, no_network: list[str]
) -> None:
    flat = tmp_path / FILE
    flat.write_bytes(shared.read_bytes())
    m = rm.load_manifest(cp(), env={"AGENT_SANDBOX_MANIFEST_DIR": str(tmp_path)})
    assert m.source == str(flat)
    versioned = tmp_path / "v1.0.3" / FILE
    versioned.parent.mkdir()
    versioned.write_bytes(shared.read_bytes())
    m = rm.load_manifest(cp(), env={"AGENT_SANDBOX_MANIFEST_DIR": str(tmp_path)})
    assert m.source == str(versioned)
    # controlPlane.manifest still wins over the lookup directory.
    other = tmp_path / "other.yaml"
    other.write_bytes(shared.read_bytes())
    m = rm.load_manifest(cp(manifest=str(other)), env={"AGENT_SANDBOX_MANIFEST_DIR": str(tmp_path)})
    assert m.source == str(other)


def test_lookup_dir_without_the_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="AGENT_SANDBOX_MANIFEST_DIR"):
        rm.load_manifest(cp(), env={"AGENT_SANDBOX_MANIFEST_DIR": str(tmp_path)})


def test_offline_without_a_local_copy_is_unavailable_not_an_error(
    tmp_path: Path, no_network: list[str]
) -> None:
    m = rm.load_manifest(
        cp(version="v1.0.4", cacheDir=str(tmp_path)), env={"AGENT_SANDBOX_OFFLINE": "1"}
    )
    assert not m.available and m.objects is None
    assert m.url == RELEASE.format("v1.0.4")
    # Says exactly how to provide the manifest.
    assert "controlPlane.manifest" in m.hint
    assert str(tmp_path / "v1.0.4" / FILE) in m.hint
    assert m.url in m.hint
    assert no_network == []


def test_failed_download_says_how_to_work_offline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def down(url: str) -> bytes:
        raise OSError("network is unreachable")

    monkeypatch.setattr(rm, "fetch_url", down)
    with pytest.raises(SettingsError) as err:
        rm.load_manifest(cp(cacheDir=str(tmp_path)), env={})
    msg = str(err.value)
    assert RELEASE.format("v1.0.3") in msg and "network is unreachable" in msg
    assert "controlPlane.manifest" in msg and "AGENT_SANDBOX_OFFLINE=1" in msg
    assert not (tmp_path / "v1.0.3").exists()


# --- digest -----------------------------------------------------------------------------------
def test_matching_sha256_passes_in_any_case(shared: Path) -> None:
    digest = sha(shared)
    assert rm.load_manifest(cp(manifest=str(shared), sha256=digest.upper()), env={}).available


def test_wrong_sha256_names_the_setting_and_both_digests(shared: Path) -> None:
    wrong = "0" * 64
    with pytest.raises(SettingsError) as err:
        rm.load_manifest(cp(manifest=str(shared), sha256=wrong), env={})
    msg = str(err.value)
    assert "controlPlane.sha256" in msg
    assert f"expected {wrong}" in msg and f"actual {sha(shared)}" in msg


def test_a_download_that_fails_the_digest_is_not_cached(
    tmp_path: Path, fake_release: list[str]
) -> None:
    with pytest.raises(SettingsError, match=r"controlPlane\.sha256"):
        rm.load_manifest(cp(cacheDir=str(tmp_path), sha256="a" * 64), env={})
    assert not (tmp_path / "v1.0.3" / FILE).exists()


def test_a_tampered_cache_fails_the_digest(tmp_path: Path, shared: Path) -> None:
    cached = tmp_path / "v1.0.3" / FILE
    cached.parent.mkdir()
    cached.write_bytes(shared.read_bytes() + b"\n# tampered\n")
    with pytest.raises(SettingsError) as err:
        rm.load_manifest(cp(cacheDir=str(tmp_path), sha256=sha(shared)), env={})
    assert str(cached) in str(err.value)  # the stale file to delete


# --- what the platform accepts ------------------------------------------------------------------
@pytest.fixture()
def objects(upstream_objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return copy.deepcopy(upstream_objects)


def render(objects: list[dict[str, Any]]) -> str:
    return yaml.dump_all(objects, Dumper=yaml.CSafeDumper)


def test_unknown_kind_is_rejected(objects: list[dict[str, Any]]) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x", "namespace": "y"}}
    objects = [*objects, secret]
    with pytest.raises(SettingsError, match="kind Secret is not one the platform installs"):
        rm.parse_manifest(render(objects), "test")


def test_a_field_the_platform_would_drop_is_rejected(objects: list[dict[str, Any]]) -> None:
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["startupProbe"] = {}
    with pytest.raises(SettingsError) as err:
        rm.parse_manifest(render(objects), "test")
    assert "containers[0].startupProbe" in str(err.value)


def test_missing_crd_is_rejected(objects: list[dict[str, Any]]) -> None:
    gone = "sandboxwarmpools.extensions.agents.x-k8s.io"
    objects = [o for o in objects if o["metadata"]["name"] != gone]
    with pytest.raises(SettingsError) as err:
        rm.parse_manifest(render(objects), "test")
    assert f"CRD(s) missing: {gone}" in str(err.value)


def test_missing_controller_is_rejected(objects: list[dict[str, Any]]) -> None:
    objects = [o for o in objects if o["kind"] != "Deployment"]
    with pytest.raises(SettingsError, match="exactly one Deployment agent-sandbox-controller"):
        rm.parse_manifest(render(objects), "test")


def test_not_yaml_is_rejected() -> None:
    with pytest.raises(SettingsError, match="not valid YAML"):
        rm.parse_manifest("a: [unclosed", "test")


# --- settings -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"version": "1.0.3"}, "controlPlane.version '1.0.3' is not an agent-sandbox release tag"),
        ({"version": "latest"}, "use a tag such as v1.0.3"),
        ({"sha256": "abc"}, "controlPlane.sha256 'abc' is not a SHA-256 digest"),
        ({"manifest": "ftp://example.com/x.yaml"}, "controlPlane.manifest"),
        ({"imageRegistry": "https://mirror.example.com"}, "without scheme"),
        ({"imageRegistry": "mirror.example.com/"}, "controlPlane.imageRegistry"),
        ({"replicas": 0}, "controlPlane.replicas"),
        ({"cacheDirectory": "/tmp"}, "unknown setting"),
    ],
)
def test_bad_control_plane_settings_are_rejected(patch: dict[str, Any], expected: str) -> None:
    raw = {
        "cluster": {"mode": "kubeconfig", "kubeconfig": {"context": "kind"}},
        "gateway": {"enabled": False},
        "controlPlane": patch,
    }
    with pytest.raises(SettingsError) as err:
        parse_settings(raw)
    assert expected in str(err.value)


def test_good_control_plane_settings_are_accepted() -> None:
    s = cp(version="v1.1.0-rc.1", imageRegistry="mirror.example.com:5000/k8s", sha256="A" * 64)
    assert s.image_registry == "mirror.example.com:5000/k8s"
