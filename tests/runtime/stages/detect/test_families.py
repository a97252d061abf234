"""Detectors by family: the explicit family table, names checked before anything opens, and
``--detector NAME`` on ``facert detect`` and ``facert enhance`` (facert.stages.detect, facert.cli)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import grace_hopper_path

from facert.cli.main import main
from facert.config import Settings
from facert.errors import UsageError
from facert.models.artifacts import Artifact
from facert.models.registry import list_specs
from facert.stages.detect import FAMILIES, detector_builder, detector_spec, open_detector
from facert.stages.detect.mtcnn import MtcnnDetector


def test_the_family_table_opens_mtcnn_and_names_what_exists(
    settings: Settings, mtcnn_artifact: Artifact, astronaut: np.ndarray
) -> None:
    assert list(FAMILIES) == ["mtcnn", "yunet", "retinaface"]
    assert [s.name for s in list_specs("detector")] == [
        "mtcnn",
        "retinaface-r50",
        "retinaface-mnet",
        "yunet",
    ]
    detector = open_detector(settings, "mtcnn", min_face_size=40)
    try:
        assert isinstance(detector, MtcnnDetector) and len(detector.detect(astronaut)) == 1
    finally:
        detector.close()
    with pytest.raises(UsageError) as info:
        detector_builder("facebox")
    assert (
        str(info.value)
        == "no detector runtime for family 'facebox'; families: mtcnn, retinaface, yunet"
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "facebox",
            "unknown detector 'facebox'; detectors: mtcnn, retinaface-r50, retinaface-mnet, yunet",
        ),
        (
            "ispl",
            "model 'ispl' is a restorer, not a detector; detectors: mtcnn, retinaface-r50, retinaface-mnet, yunet",
        ),
    ],
)
def test_a_wrong_detector_name_is_bad_usage(name: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        detector_spec(name)
    assert str(info.value) == message and info.value.exit_code == 2


@pytest.mark.parametrize(
    ("name", "message"),
    [("facebox", "unknown detector 'facebox'"), ("gfpgan-1.4", "is a restorer, not a detector")],
)
def test_cli_wrong_detector_exits_2_in_one_line_before_reading_or_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, message: str
) -> None:
    # The image does not exist: the detector name is checked first.
    assert main(["detect", str(tmp_path / "none.png"), "--detector", name]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    out = tmp_path / "out"
    assert main(["enhance", str(grace_hopper_path()), "-o", str(out), "--detector", name]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and message in captured.err and captured.err.count("\n") == 1
    assert not out.exists()


def test_cli_detector_option_names_the_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mtcnn_artifact: Artifact
) -> None:
    assert main(["detect", str(grace_hopper_path()), "--json"]) == 0
    default = capsys.readouterr().out
    assert main(["detect", str(grace_hopper_path()), "--json", "--detector", "mtcnn"]) == 0
    assert capsys.readouterr().out == default
    small = tmp_path / "small.png"  # a quarter of the pixels: WIPA restores it in a fraction
    cv2.imwrite(str(small), cv2.resize(cv2.imread(str(grace_hopper_path())), (256, 300)))
    code = main(
        [
            "enhance",
            str(small),
            "-o",
            str(tmp_path / "out"),
            "--model",
            "wipa",
            "--detector",
            "mtcnn",
        ]
    )
    assert code == 0 and "1 image, 1 face restored" in capsys.readouterr().out
    assert (tmp_path / "out" / "small.png").is_file()
