"""Section 10 of the foundation issue: `facert enhance` over the real degraded photos in
../shared/data/real-inputs (old, multi-face, low resolution), with ISPL and with WIPA.

The face counts are what a person sees in each photo (checked by eye on the outputs: every frontal
face; the back of a head in codeformer-whole/03.jpg is not a face) and equal what facenet-pytorch's
own MTCNN finds (tests/golden/mtcnn/golden.json). Skips without ../shared.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facert.cli.main import main
from facert.config import Settings
from facert.models.artifacts import Artifact
from facert.models.exporting import ensure_artifact
from facert.models.registry import get_spec
from facert.stages.detect.mtcnn import MtcnnDetector
from facert.stages.restore.frame import FrameRestorer

WHOLE_FACES = {  # photo -> faces a person sees
    "codeformer-whole/00.jpg": 4,
    "codeformer-whole/01.jpg": 4,
    "codeformer-whole/02.png": 4,
    "codeformer-whole/03.jpg": 1,
    "gfpgan-whole/00.jpg": 2,
    "gfpgan-whole/10045.png": 3,
    "gfpgan-whole/Blake_Lively.jpg": 2,
}


@pytest.fixture(scope="module", autouse=True)
def _exported(mtcnn_artifact: Artifact, settings: Settings) -> None:
    for name in ("wipa", "ispl"):
        ensure_artifact(get_spec(name), settings.cache_dir)


def _run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> str:
    code = main(["enhance", *map(str, args)])
    captured = capsys.readouterr()
    assert (code, captured.err) == (0, ""), captured.err
    return captured.out


@pytest.mark.parametrize("model", ["ispl", "wipa"])
def test_whole_photos(
    shared_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    model: str,
    mtcnn_artifact: Artifact,
    settings: Settings,
) -> None:
    inputs = shared_dir / "data" / "real-inputs"
    artifact = ensure_artifact(get_spec(model), settings.cache_dir)
    frame = FrameRestorer.from_artifact(artifact).open() if artifact.spec.frame_stage else None
    try:
        for name, count in WHOLE_FACES.items():
            out = _run(capsys, inputs / name, "-o", tmp_path, "--model", model)
            assert out.startswith(f"1 image, {count} face{'s' * (count > 1)} restored"), (name, out)
            original = cv2.imread(str(inputs / name))
            restored = cv2.imread(str(tmp_path / Path(name).name))
            assert restored.shape == original.shape
            if name.endswith(".png"):  # lossless: every pixel away from the faces is untouched
                # (by the faces: a frame stage, WIPA's, restores the whole photo first)
                expected = original if frame is None else frame.restore(original)
                far = np.ones(original.shape[:2], bool)
                with MtcnnDetector.from_artifact(mtcnn_artifact) as detector:
                    for face in detector.detect(original):
                        x1, y1, x2, y2 = face.box
                        w, h = x2 - x1, y2 - y1  # the paste box reaches ~1.3 box sizes around it
                        far[
                            max(0, int(y1 - h)) : int(y2 + h), max(0, int(x1 - w)) : int(x2 + w)
                        ] = 0
                assert far.any() and np.array_equal(restored[far], expected[far]), name
                assert not np.array_equal(restored[~far], expected[~far]), name
    finally:
        if frame is not None:
            frame.close()


@pytest.mark.slow
@pytest.mark.parametrize("model", ["ispl", "wipa"])
def test_every_real_photo(
    shared_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str
) -> None:
    """All 31 photos, whole and aligned crops: one face per crop."""
    out = _run(capsys, shared_dir / "data" / "real-inputs", "-o", tmp_path, "--model", model)
    faces = sum(WHOLE_FACES.values()) + 24
    assert out.startswith(f"31 images, {faces} faces restored, 0 without faces, 0 failures")
