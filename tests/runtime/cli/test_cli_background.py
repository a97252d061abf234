"""``--background none|upscale|restore`` on the command line: enhance, video, camera and serve.

Runs the real pipeline (MTCNN + WIPA) from the cache `make models` fills, on a photo without faces
(grace_hopper.jpg's flag corner, faded and scratched), where the background is the whole output.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_runs import facert
from conftest import grace_hopper_path

from facert.cli.main import build_parser
from facert.cli.serve import serve_config
from facert.config import Settings
from facert.demo.degrade import degrade_noise_scratches_fading
from facert.models.artifacts import Artifact
from facert.models.exporting import ensure_artifact
from facert.models.registry import get_spec


@pytest.fixture(scope="module")
def flag(
    tmp_path_factory: pytest.TempPathFactory, mtcnn_artifact: Artifact, settings: Settings
) -> Path:
    ensure_artifact(get_spec("wipa"), settings.cache_dir)
    clean = np.ascontiguousarray(cv2.imread(str(grace_hopper_path()))[:200, :180])
    path = tmp_path_factory.mktemp("background") / "flag.png"
    cv2.imwrite(str(path), degrade_noise_scratches_fading(clean, 0))
    return path


def test_none_keeps_the_photo_exactly(
    flag: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """WIPA restores the whole photo by default; --background none keeps its pixels, and with
    --upscale 2 repeats each of them (nearest neighbour)."""
    photo = cv2.imread(str(flag))
    code, out, err = facert(
        capsys, "enhance", flag, "-o", tmp_path / "kept", "--model", "wipa", "--background", "none"
    )
    assert (code, err) == (0, "") and "1 without faces" in out
    assert np.array_equal(cv2.imread(str(tmp_path / "kept" / "flag.png")), photo)
    code, _, _ = facert(
        capsys, "enhance", flag, "-o", tmp_path / "big", "--model", "wipa",
        "--background", "none", "--upscale", "2",
    )  # fmt: skip
    big = cv2.imread(str(tmp_path / "big" / "flag.png"))
    assert code == 0 and big.shape == (400, 360, 3)
    assert np.array_equal(big, np.repeat(np.repeat(photo, 2, axis=0), 2, axis=1))
    code, _, _ = facert(
        capsys, "enhance", flag, "-o", tmp_path / "cubic", "--model", "wipa",
        "--background", "upscale", "--upscale", "2",
    )  # fmt: skip
    cubic = cv2.resize(photo, (360, 400), interpolation=cv2.INTER_CUBIC)
    assert code == 0 and np.array_equal(cv2.imread(str(tmp_path / "cubic" / "flag.png")), cubic)


def test_restore_with_a_learned_restorer_is_one_line_exit_2(
    flag: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = facert(
        capsys, "enhance", flag, "-o", tmp_path / "out", "--model", "gpen-bfr-512",
        "--background", "restore",
    )  # fmt: skip
    assert code == 2 and err.count("\n") == 1 and "Real-ESRGAN" in err
    assert not (tmp_path / "out").exists()


def test_an_unknown_background_is_bad_usage(
    flag: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = facert(capsys, "enhance", flag, "-o", tmp_path / "out", "--background", "blur")
    assert code == 2 and err.count("\n") == 1 and "--background" in err


@pytest.mark.parametrize("command", ["video", "camera", "serve"])
def test_every_front_end_takes_it(command: str, settings: Settings) -> None:
    required = {"video": ["in.mp4", "-o", "out.mp4"], "camera": ["--source", "0"], "serve": []}[
        command
    ]
    args = build_parser().parse_args([command, *required, "--background", "restore"])
    assert args.background == "restore"
    if command == "serve":
        assert serve_config(args, settings).background == "restore"
