"""``facert detect``: the JSON contract of docs/design.md, the options, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import grace_hopper_path

from facert.cli.main import main
from facert.models.artifacts import Artifact
from facert.stages.detect.mtcnn import MtcnnDetector


@pytest.fixture(autouse=True)
def _exported(mtcnn_artifact: Artifact) -> None:
    """Every test here runs the CLI on the cached export."""


def detect_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict]:
    assert main(["detect", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_contract(capsys: pytest.CaptureFixture[str], mtcnn_artifact: Artifact) -> None:
    faces = detect_json(capsys, str(grace_hopper_path()))
    assert len(faces) == 1 and set(faces[0]) == {"box", "score", "landmarks"}
    assert len(faces[0]["box"]) == 4 and np.array(faces[0]["landmarks"]).shape == (5, 2)
    with MtcnnDetector.from_artifact(mtcnn_artifact) as detector:
        (face,) = detector.detect(cv2.imread(str(grace_hopper_path())))
    assert faces == [face.to_json()]  # same numbers as the library, rounded by Face.to_json


@pytest.fixture(scope="module")
def two_face_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """grace_hopper at the left of a 1200x600 frame, a quarter-size copy at its centre."""
    photo = cv2.imread(str(grace_hopper_path()))
    frame = np.full((600, 1200, 3), 128, np.uint8)
    frame[:, :512] = photo
    frame[225:375, 536:664] = cv2.resize(photo, (128, 150), interpolation=cv2.INTER_AREA)
    path = tmp_path_factory.mktemp("detect") / "two.png"
    cv2.imwrite(str(path), frame)
    return path


def test_selection_and_options(capsys: pytest.CaptureFixture[str], two_face_file: Path) -> None:
    both = detect_json(capsys, str(two_face_file))
    assert len(both) == 2
    (largest,) = detect_json(capsys, str(two_face_file), "--largest")
    (centre,) = detect_json(capsys, str(two_face_file), "--only-center-face")
    assert largest["box"][2] < 512 and 536 < (centre["box"][0] + centre["box"][2]) / 2 < 664
    assert len(detect_json(capsys, str(two_face_file), "--min-face", "100")) == 1
    assert detect_json(capsys, str(two_face_file), "--thresholds", "0.6", "0.7", "1") == []


def test_table(capsys: pytest.CaptureFixture[str], two_face_file: Path) -> None:
    assert main(["detect", str(two_face_file)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{two_face_file}: 1200x600, 2 faces" and len(lines) == 4


def test_bad_images_fail_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not a picture")
    assert main(["detect", str(junk), "--json"]) == 1
    assert capsys.readouterr().err == f"facert: error: {junk}: not an image file (unknown format)\n"
    monkeypatch.setenv("FACERT_MAX_PIXELS", "1000")
    assert main(["detect", str(grace_hopper_path()), "--json"]) == 1
    assert "over the limit of 1,000" in capsys.readouterr().err
    assert main(["detect", str(grace_hopper_path()), "--largest", "--only-center-face"]) == 2
