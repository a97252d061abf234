"""RetinaFace's NumPy side (facert.stages.detect.retinaface, retinaface_boxes): facexlib's anchors,
decoding and suppression on hand-made outputs, the scale of the detection copy, the options, and
`facert models fetch` offline. The network itself: tests/export/families/retinaface."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import numpy as np
import pytest

from facert.cli.main import main
from facert.errors import DownloadError
from facert.models.registry import get_spec
from facert.stages.detect.retinaface import (
    RetinafaceOptions,
    detection_scale,
    network_input,
)
from facert.stages.detect.retinaface_boxes import decode, priors, suppress


def test_priors_follow_facexlibs_priorbox() -> None:
    table = priors(640, 640)
    assert table.shape == (16_800, 4) and table.dtype == np.float32  # models.md section 7.7
    # Level 1 (stride 8), cell (0, 0): both sizes; then cell (0, 1); row 1 starts after 80 cells.
    np.testing.assert_array_equal(table[0], np.float32([4 / 640, 4 / 640, 16 / 640, 16 / 640]))
    np.testing.assert_array_equal(table[1], np.float32([4 / 640, 4 / 640, 32 / 640, 32 / 640]))
    np.testing.assert_array_equal(table[2, :2], np.float32([12 / 640, 4 / 640]))
    np.testing.assert_array_equal(table[160, :2], np.float32([4 / 640, 12 / 640]))
    # Level 3 (stride 32) starts after 2 * (80 * 80 + 40 * 40) anchors.
    np.testing.assert_array_equal(table[16_000], np.float32([16, 16, 256, 256]) / 640)
    # Odd sizes: ceil(H / s) x ceil(W / s) cells, normalised by the true size.
    odd = priors(157, 203)
    assert len(odd) == 2 * (20 * 26 + 10 * 13 + 5 * 7)
    np.testing.assert_allclose(odd[-1], [(6.5 * 32) / 203, (4.5 * 32) / 157, 512 / 203, 512 / 157])


def outputs(height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    anchors = len(priors(height, width))
    conf = np.zeros((1, anchors, 2), np.float32)
    conf[..., 0] = 1  # no face anywhere
    return np.zeros((1, anchors, 4), np.float32), conf, np.zeros((1, anchors, 10), np.float32)


def test_decode_moves_and_scales_the_anchor_as_facexlib() -> None:
    loc, conf, landmarks = outputs(64, 96)
    anchor = 2 * (3 * 12 + 5) + 1  # stride 8: row 3, column 5, second size (32 px)
    conf[0, anchor] = [0.1, 0.9]
    loc[0, anchor] = [1.0, -2.0, np.log(2.0) / 0.2, 0.0]
    landmarks[0, anchor] = np.arange(10) / 10
    conf[0, 0] = [0.5, 0.5]  # not above 0.5
    boxes, scores, marks = decode(loc, conf, landmarks, 64, 96, 0.5)
    assert scores.tolist() == [pytest.approx(0.9)]
    cx, cy = 5.5 * 8 + 1.0 * 0.1 * 32, 3.5 * 8 - 2.0 * 0.1 * 32
    np.testing.assert_allclose(boxes[0], [cx - 32, cy - 16, cx + 32, cy + 16], rtol=1e-6)
    expected = [5.5 * 8, 3.5 * 8] + (np.arange(10).reshape(5, 2) / 10) * 0.1 * 32
    np.testing.assert_allclose(marks[0], expected, rtol=1e-6)


def test_decode_refuses_outputs_of_another_size() -> None:
    with pytest.raises(Exception, match="have 128 anchors, not 504 for a 96x128 input"):
        decode(*outputs(64, 48), 128, 96, 0.5)


def test_suppression_is_torchvisions_nms() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30]], np.float32)
    scores = np.array([0.8, 0.9, 0.7], np.float32)
    assert suppress(boxes, scores, 0.4).tolist() == [1, 2]  # IoU 9/11 > 0.4
    assert suppress(boxes, scores, 0.9).tolist() == [1, 0, 2]
    assert suppress(boxes[:0], scores[:0], 0.4).tolist() == []


def test_the_detection_copy_keeps_the_smallest_face_at_sixteen_pixels() -> None:
    assert detection_scale(1080, 1920, RetinafaceOptions()) == 0.8  # 20 px faces -> 16 px
    assert detection_scale(1080, 1920, RetinafaceOptions(min_face_size=80)) == 640 / 1920
    assert detection_scale(300, 400, RetinafaceOptions(min_face_size=80)) == 1.0
    assert detection_scale(2160, 3840, RetinafaceOptions(min_face_size=40, detect_side=0)) == 1.0
    blob = network_input(np.full((33, 70, 3), (104, 117, 200), np.uint8), 1.0)
    assert blob.shape == (1, 3, 33, 70) and blob.dtype == np.float32
    np.testing.assert_array_equal(blob[0, :, 0, 0], [0, 0, 77])  # BGR minus (104, 117, 123)
    assert network_input(np.zeros((100, 200, 3), np.uint8), 0.5).shape == (1, 3, 50, 100)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_face_size": 0.5}, "min_face_size must be at least 1 pixel"),
        ({"detect_side": -1}, "detect_side must be 0 or a size"),
        ({"score_threshold": 1.5}, "score_threshold must lie in"),
        ({"nms_threshold": -0.1}, "nms_threshold must lie in"),
    ],
)
def test_bad_options_are_usage_errors(options: dict[str, float], message: str) -> None:
    with pytest.raises(Exception, match=message) as caught:
        RetinafaceOptions(**options)  # type: ignore[arg-type]
    assert caught.value.exit_code == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["retinaface-r50", "retinaface-mnet"])
def test_fetch_offline_says_url_target_and_sha256_in_one_line(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    monkeypatch.setenv("FACERT_CACHE", str(tmp_path))
    assert main(["models", "fetch", name]) == DownloadError.exit_code != 0
    error = capsys.readouterr().err.strip()
    weight = get_spec(name).weights[0]
    assert "\n" not in error and weight.url in error and weight.sha256 in error
    assert str(tmp_path / name / "weights" / weight.filename) in error
    assert weight.url.startswith("https://github.com/xinntao/facexlib/releases/download/v0.1.0/")
