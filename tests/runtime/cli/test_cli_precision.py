"""``facert enhance --precision`` and the FP16 graph an export may refuse, end to end through the CLI.

Two tiny CodeFormers registered like official models (tests/tiny_codeformer.py): the fill, whose
export keeps both graphs, and the same network made to overflow float16 (its generator's first
convolution multiplied by 1e5), whose export refuses the FP16 graph, installs the FP32 graph and says
so in one line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

import tiny_codeformer
from cli_runs import facert, mtcnn_only_cache, one_face_photo

from facert.backends.ort import OrtSession
from facert.config import Settings
from facert.io.files import sha256_of
from facert.models.artifacts import FP16_GRAPH, FP32_GRAPH, Artifact
from facert.models.cache import artifact_dir
from facert.models.registry import ModelSpec
from facert.models.specs import DEFAULT_DETECTOR
from facert.stages.align.warp import align_faces, from_tensor, to_tensor
from facert.stages.blend.paste import paste_faces
from facert.stages.detect import open_detector


@pytest.fixture(scope="module")
def cache(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings, mtcnn_artifact: Artifact
) -> Path:
    """A cache holding only the user's MTCNN export (linked in)."""
    return mtcnn_only_cache(tmp_path_factory.mktemp("cache"), settings)


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """grace_hopper.jpg at 256x300: one face."""
    return one_face_photo(tmp_path_factory.mktemp("photo") / "p.png")


def test_an_fp16_failure_installs_the_fp32_graph_and_says_so_in_one_line(
    tmp_path: Path,
    cache: Path,
    photo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    checkpoint = tiny_codeformer.write_checkpoint(tmp_path / "overflow.pth", overflow=True)
    spec = tiny_codeformer.register_for_test(monkeypatch, checkpoint)
    folder = artifact_dir(cache, spec, sha256_of(checkpoint))  # where enhance will look for it
    # In a process of its own, to read the CLI's stderr as a user sees it (pytest captures logging).
    export = ["--cache-dir", cache, "models", "export", spec.name, "--weights", checkpoint]
    command = [sys.executable, tiny_codeformer.__file__, *map(str, export), "-o", str(folder)]
    process = subprocess.run(command, capture_output=True, text=True, timeout=900)
    code, out, err = process.returncode, process.stdout, process.stderr
    assert code == 0 and out.strip() == str(folder), err
    reason = (
        "ONNX Runtime FP16 vs FP32 (fidelity=0.5): PSNR -inf dB on astronaut_512.png (at least 40 "
        "dB needed; not finite means float16 overflow)"
    )
    assert err.splitlines() == [
        f"facert: {spec.name}: FP16 graph refused, FP32 graph installed alone: {reason}"
    ]
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", FP32_GRAPH]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert list(manifest["files"]) == [FP32_GRAPH] and list(manifest["onnx"]) == [FP32_GRAPH]
    assert manifest["fp16_refused"] == reason
    for case in manifest["parity"]["cases"]:  # the FP32 graph passed its checks
        assert case["ort_fp32_vs_torch_max_abs"] <= 1e-4 * case["output_scale"]
        assert "ort_fp16_psnr_db" not in case

    code, out, _ = facert(capsys, "--cache-dir", cache, "models", "show", spec.name)
    assert code == 0 and "FP16 graph refused: ONNX Runtime FP16 vs FP32" in out

    enhance = ["--cache-dir", cache, "enhance", photo, "--model", spec.name]
    code, out, err = facert(capsys, *enhance, "-o", tmp_path / "auto")
    assert code == 0 and "1 face restored" in out, err  # auto: the FP32 graph
    code, out, err = facert(capsys, *enhance, "-o", tmp_path / "fp16", "--precision", "fp16")
    assert code == 2 and not (tmp_path / "fp16").exists()
    assert err.splitlines() == [
        f"facert: error: {folder}: no FP16 graph (the export refused it: {reason}); run with "
        "--precision fp32 or auto"
    ]


def run_fp16_graph(settings: Settings, folder: Path, photo: Path, spec: ModelSpec) -> np.ndarray:
    """The FP16 file's restoration of ``photo``, made here from the pipeline's parts: detect,
    align, the graph in ONNX Runtime (fidelity 0.5), paste back. (H, W, 3) uint8 BGR."""
    image = cv2.imread(str(photo))
    with open_detector(settings, DEFAULT_DETECTOR) as detector:
        faces = detector.detect(image)
    crops, affines = align_faces(image, faces, spec.input_size, spec.crop_border)
    with OrtSession(folder / FP16_GRAPH) as session:
        feed = {"image": to_tensor(crops, spec), "fidelity": np.full(len(crops), 0.5, np.float32)}
        restored = from_tensor(session.run(feed)["restored"], spec)
    return paste_faces(image.copy(), list(restored), affines, 1.0)


def test_precision_fp16_runs_the_fp16_graph(
    tmp_path: Path,
    cache: Path,
    photo: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    checkpoint = tiny_codeformer.write_checkpoint(tmp_path / "tiny.pth")
    spec = tiny_codeformer.register_for_test(monkeypatch, checkpoint)
    enhance = ["--cache-dir", cache, "enhance", photo, "--model", spec.name]
    enhance += ["--weights", checkpoint, "--backend", "ort"]  # the export's own graphs
    outputs = {}
    for precision in ("fp32", "fp16", "auto"):
        code, out, err = facert(
            capsys, *enhance, "-o", tmp_path / precision, "--precision", precision
        )
        assert code == 0 and "1 face restored" in out, err
        outputs[precision] = cv2.imread(str(tmp_path / precision / photo.name)).astype(np.int16)
    folder = artifact_dir(cache, spec, sha256_of(checkpoint))
    expected = run_fp16_graph(settings, folder, photo, spec).astype(np.int16)

    def differing(image: np.ndarray) -> int:
        return int(np.count_nonzero(np.abs(image - expected).max(axis=2)))

    # The FP16 graph's restoration differs from the FP32 graph's by a level on thousands of pixels
    # (5374 of 76800, at most 1 level, measured: >= 40 dB at export); the CLI's --precision fp16
    # output is the FP16 file's own (0 pixels measured; a tenth of that allows for a rounding flip
    # by another thread count).
    assert differing(outputs["fp32"]) > 0
    assert differing(outputs["fp16"]) * 10 < differing(outputs["fp32"])
    assert np.abs(outputs["fp16"] - expected).max() <= 1
    assert np.array_equal(outputs["auto"], outputs["fp32"])  # auto on ONNX Runtime: FP32


def test_precision_fp16_of_a_model_built_in_fp32_only_is_a_usage_error(
    tmp_path: Path, photo: Path, mtcnn_artifact: Artifact, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, _, err = facert(
        capsys, "enhance", photo, "--model", "ispl", "-o", out, "--precision", "fp16"
    )
    assert code == 2 and not out.exists()
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("facert: error: ")
    assert lines[0].endswith(
        ": no FP16 graph (ispl is built in FP32 only); run with --precision fp32 or auto"
    )
