"""``facert enhance`` and ``facert models export`` with a learned restorer, end to end.

A tiny CodeFormer (tests/tiny_codeformer.py) is registered like an official model: its pinned sha256
is the tiny checkpoint's and its exporter runs the same harness as the official one. The CLI exports
it once into the cache, keyed by the checkpoint's sha256, reuses that export on the next run, and
takes the fidelity at run time.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

import tiny_codeformer
from cli_runs import facert, mtcnn_only_cache, one_face_photo

from facert.config import Settings
from facert.io.files import sha256_of
from facert.models.artifacts import Artifact
from facert.models.cache import artifact_dir, model_dir
from facert.models.registry import ModelSpec


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_codeformer.write_checkpoint(tmp_path_factory.mktemp("weights") / "tiny.pth")


@pytest.fixture
def spec(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> ModelSpec:
    return tiny_codeformer.register_for_test(monkeypatch, checkpoint)


@pytest.fixture
def cache(tmp_path: Path, settings: Settings, mtcnn_artifact: Artifact) -> Path:
    """An empty cache but for the user's MTCNN export (linked in)."""
    return mtcnn_only_cache(tmp_path / "cache", settings)


def test_enhance_exports_once_by_sha256_then_reuses_it_with_any_fidelity(
    tmp_path: Path,
    spec: ModelSpec,
    checkpoint: Path,
    cache: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    photo_path = one_face_photo(tmp_path / "p.png")
    photo = cv2.imread(str(photo_path))
    common = ["--cache-dir", cache, "enhance", photo_path, "--model", spec.name]
    common += ["--weights", checkpoint]

    code, out, err = facert(capsys, *common, "-o", tmp_path / "w0", "--fidelity", "0")
    assert code == 0, err
    assert "1 face restored" in out.splitlines()[-1]
    folder = artifact_dir(cache, spec, sha256_of(checkpoint))
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["source"]["sha256"] == sha256_of(checkpoint)
    assert manifest["source"]["official"] is True  # the pinned sha256: no notice, no mark
    assert not [r for r in caplog.records if "notice:" in r.getMessage()]
    assert manifest["checked_options"] == {"fidelity": [0.0, 0.5, 1.0]}
    assert {"model.onnx", "model.fp16.onnx"} <= set(manifest["files"])
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

    code, out, err = facert(capsys, *common, "-o", tmp_path / "w1", "--fidelity", "1")
    assert code == 0, err
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps  # not exported again
    # One export folder; besides it only the compiled artifacts `--backend auto` built and chose.
    exports = [p.name for p in model_dir(cache, spec).iterdir() if p.name != "compiled"]
    assert exports == [folder.name]
    code, out, _ = facert(capsys, "--cache-dir", cache, "models", "list")
    [row] = [line for line in out.splitlines() if line.startswith(f"{spec.name} ")]
    assert code == 0 and "1 export " in row and "unofficial" not in row

    low = cv2.imread(str(tmp_path / "w0" / "p.png")).astype(np.int16)
    high = cv2.imread(str(tmp_path / "w1" / "p.png")).astype(np.int16)
    changed = np.abs(low - high).max(axis=2) > 0
    assert changed.sum() > 1000  # the fidelity reaches the graph: the face differs (>1000 px)
    rows, cols = np.nonzero(changed)
    # Only the face changes: the differing pixels fit in a box well inside the photo.
    assert rows.max() - rows.min() < 200 and cols.max() - cols.min() < 200
    assert np.array_equal(low[:, :10], photo[:, :10].astype(np.int16))  # background untouched


def test_models_export_writes_both_graphs_and_the_manifest(
    tmp_path: Path, spec: ModelSpec, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "export"
    code, _, err = facert(
        capsys, "--cache-dir", tmp_path / "cache", "models", "export", spec.name,
        "--weights", checkpoint, "-o", out,
    )  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "model.fp16.onnx",
        "model.onnx",
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["opset"] >= 17 and manifest["precision_policy"] == list(spec.precision_policy)
    for case in manifest["parity"]["cases"]:
        assert case["ort_fp16_psnr_db"] >= 40.0 and case["torch_fp16"]["psnr_db"] >= 40.0
    assert not (tmp_path / "cache" / spec.name).exists()  # -o: nothing written into the cache
