"""The demo's paste-back case on a machine without ParseNet (a fresh one cannot download it): the
parse panel becomes square mask + colour correction, one line says what to fetch, and the colour
correction still removes most of the cast."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_runs import mtcnn_only_cache

from facert.config import Settings
from facert.demo.paste_case import color_cast, run_paste_case
from facert.models.cache import model_dir
from facert.models.registry import get_spec


@pytest.mark.slow  # MTCNN and ISPL on one photo: 3 s quiet, 18 s on a loaded 2-core machine
def test_without_parsenet_the_last_panel_is_square_and_one_line_says_why(
    tmp_path: Path, settings: Settings
) -> None:
    ispl = model_dir(settings.cache_dir, get_spec("ispl"))
    if not ispl.is_dir():
        pytest.skip("no ISPL export in the cache; run `make models`")
    cache = mtcnn_only_cache(tmp_path / "cache", settings)
    model_dir(cache, get_spec("ispl")).symlink_to(ispl, target_is_directory=True)
    result = run_paste_case(dataclasses.replace(settings, cache_dir=cache), tmp_path)
    assert result.note.count("\n") == 0 and "`facert models fetch parsenet`" in result.note
    assert result.panels[2].startswith("square mask + mean-std")
    # the cast moves the face by ~19 levels on average; mean-std brings it back to ~4
    assert result.face_errors[1] < 0.5 * result.face_errors[0]
    sheet = cv2.imread(str(result.file))
    assert sheet is not None and sheet.shape[1] == 3 * 512


def test_color_cast_is_the_documented_one() -> None:
    grey = np.full((1, 1, 3), 128, np.uint8)
    assert color_cast(grey).tolist() == [[[153, 133, 121]]]  # (128 + 24/0/-14 - 128) x 0.85 + 133
