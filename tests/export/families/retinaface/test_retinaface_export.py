"""RetinaFace export and detector (facert.export.families.retinaface, facert.stages.detect.retinaface)
on the recipe's deterministic weights: ONNX Runtime against facexlib's golden numbers, the
detector's decoding and suppression against facexlib's ``detect_faces`` rows, the scaled copy of
large frames, and ``--detector retinaface-mnet`` through the CLI.

Tolerances as tests/export/families/retinaface/test_retinaface_port.py: head outputs within 1e-4
of their largest magnitude, detections the same rows (tests/retinaface_weights.py); except the
ResNet-50 graph in ONNX Runtime, 2e-4: ONNX Runtime's convolutions (BatchNorm folded) round
otherwise than torch's, and through 53 layers of random weights that reached 1.02e-4 (astronaut,
box offsets; grace_hopper 8e-5); the torch port itself stays within 5e-5.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from conftest import grace_hopper_path
from retinaface_weights import as_rows, assert_rows_close, golden, write_checkpoint

from facert.backends import engine_for
from facert.cli.main import main
from facert.models.artifacts import Artifact, check_artifact
from facert.models.registry import get_spec
from facert.stages.detect.retinaface import (
    RetinafaceDetector,
    RetinafaceOptions,
    detection_scale,
    network_input,
)

HEAD_TOLERANCE = 1e-4
R50_GRAPH_TOLERANCE = 2e-4
FILES = {"mnet": "detection_mobilenet0.25_Final.pth", "r50": "detection_Resnet50_Final.pth"}


def exported(variant: str, cache: Path) -> Artifact:
    """The export of the recipe's weights for ``variant``, the only one in ``cache``."""
    from facert.models.exporting import export

    spec = get_spec(f"retinaface-{variant}")
    source = write_checkpoint(variant, cache / FILES[variant])
    return check_artifact(spec, export(spec, cache, weights=source))


@pytest.fixture(scope="module")
def mnet_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("retinaface-cache")
    exported("mnet", cache)
    return cache


@pytest.fixture(scope="module")
def mnet_artifact(mnet_cache: Path) -> Artifact:
    from facert.models.artifacts import find_artifact

    return find_artifact(mnet_cache, get_spec("retinaface-mnet"))


def check_graph(
    artifact: Artifact, key: str, image: np.ndarray, every: int, tolerance: float = HEAD_TOLERANCE
) -> None:
    blob = network_input(image, 1.0)
    with engine_for(artifact.path("model.onnx")) as engine:
        outputs = engine.run({"image": blob})
    for name in ("loc", "conf", "landmarks"):
        reference = golden()[f"{key}_{name}"]
        scale = max(1.0, float(np.abs(reference).max()))
        difference = np.abs(outputs[name][:, ::every] - reference).max() / scale
        assert difference <= tolerance, (key, name)


def check_detections(artifact: Artifact, key: str, image: np.ndarray) -> None:
    """At the image's own size (nothing scaled) and the recipe's lowered threshold, the faces
    are facexlib's rows."""
    threshold = float(golden()[f"{key}_threshold"])
    options = RetinafaceOptions(min_face_size=16, detect_side=0, score_threshold=threshold)
    with RetinafaceDetector.from_artifact(artifact, options) as detector:
        rows = as_rows(detector.detect(image))
    expected = golden()[f"{key}_dets"]
    assert_rows_close(rows, expected, key)


def test_the_export_folds_batchnorm_frees_the_size_and_records_parity(
    mnet_artifact: Artifact,
) -> None:
    import onnx

    model = onnx.load(str(mnet_artifact.path("model.onnx")))
    assert not [n for n in model.graph.node if n.op_type == "BatchNormalization"]
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]
    parity = mnet_artifact.manifest["parity"]
    assert max(v for k, v in parity.items() if k.endswith("_max_rel_diff")) <= HEAD_TOLERANCE
    assert mnet_artifact.manifest["source"]["official"] is False


def test_onnx_runtime_and_the_detector_match_facexlib_on_small_inputs(
    mnet_artifact: Artifact,
) -> None:
    for name in ("grace_hopper_small", "astronaut_small"):
        image = golden()[name]
        check_graph(mnet_artifact, f"mnet_{name}", image, 1)
        check_detections(mnet_artifact, f"mnet_{name}", image)


def test_a_large_frame_is_detected_on_a_scaled_copy(
    mnet_artifact: Artifact, grace_hopper: np.ndarray
) -> None:
    """A 1024 x 1200 frame with min_face_size 40 is seen at max(640 / 1200, 16 / 40) = 0.533:
    the faces are those of the same area-resized copy at its own size, mapped back by the
    copy's exact size ratio."""
    frame = cv2.resize(grace_hopper, (1024, 1200), interpolation=cv2.INTER_CUBIC)
    options = RetinafaceOptions(min_face_size=40, score_threshold=0.9)
    scale = detection_scale(1200, 1024, options)
    assert scale == pytest.approx(640 / 1200)
    size = (round(1024 * scale), round(1200 * scale))
    copy = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    whole = RetinafaceOptions(min_face_size=16, detect_side=0, score_threshold=0.9)
    with RetinafaceDetector.from_artifact(mnet_artifact, options) as detector:
        ours = as_rows(detector.detect(frame))
    with RetinafaceDetector.from_artifact(mnet_artifact, whole) as detector:
        theirs = as_rows(detector.detect(copy))
    assert len(ours) >= 1 and ours.shape == theirs.shape
    back = np.array([1024 / size[0], 1200 / size[1]], np.float32)
    theirs[:, :4] *= np.tile(back, 2)
    theirs[:, 5:] *= np.tile(back, 5)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-3)


def test_cli_and_api_detect_with_retinaface(
    mnet_cache: Path,
    mnet_artifact: Artifact,
    grace_hopper: np.ndarray,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--detector retinaface-mnet` finds the cache's only export (the recipe's weights, logged as
    unofficial) and prints what the Python API finds with the defaults (0.97, NMS 0.4)."""
    from facert.config import load_settings
    from facert.stages.detect import open_detector

    monkeypatch.setenv("FACERT_CACHE", str(mnet_cache))
    path = str(grace_hopper_path())
    assert main(["detect", path, "--json", "--detector", "retinaface-mnet"]) == 0
    printed = json.loads(capsys.readouterr().out)
    with open_detector(load_settings(), "retinaface-mnet", min_face_size=20) as detector:
        faces = detector.detect(grace_hopper)
    assert len(printed) == len(faces) >= 1
    for shown, face in zip(printed, faces, strict=True):
        assert shown["box"] == pytest.approx(face.box.tolist(), abs=0.01)  # JSON: 2 decimals
        assert np.array(shown["landmarks"]).shape == (5, 2) and shown["score"] > 0.97


@pytest.mark.slow
def test_resnet50_export_matches_facexlib_on_the_sample_photos(
    tmp_path: Path, grace_hopper: np.ndarray, astronaut: np.ndarray
) -> None:
    artifact = exported("r50", tmp_path)
    for name, image in (("grace_hopper", grace_hopper), ("astronaut", astronaut)):
        check_graph(artifact, f"r50_{name}", image, 4, R50_GRAPH_TOLERANCE)
        check_detections(artifact, f"r50_{name}", image)
    small = golden()["grace_hopper_small"]
    check_graph(artifact, "r50_grace_hopper_small", small, 1, R50_GRAPH_TOLERANCE)


@pytest.mark.slow
def test_mobilenet_export_matches_facexlib_on_the_sample_photos(
    mnet_artifact: Artifact, grace_hopper: np.ndarray, astronaut: np.ndarray
) -> None:
    for name, image in (("grace_hopper", grace_hopper), ("astronaut", astronaut)):
        check_graph(mnet_artifact, f"mnet_{name}", image, 4)
        check_detections(mnet_artifact, f"mnet_{name}", image)
