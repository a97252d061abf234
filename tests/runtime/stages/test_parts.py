"""DFDNet's part boxes: the official 68-point rule, dlib's landmarks, the 5-point fallback."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from testdata import GOLDEN_DATA, ROOT

from facert.errors import UsageError
from facert.models.registry import ExtraInput, get_spec
from facert.stages import parts
from facert.stages.align.warp import face_template

GOLDEN = GOLDEN_DATA / "dfdnet" / "golden.npz"
FACE = ROOT / "tests" / "data" / "faces" / "grace_hopper_512.png"


def test_the_official_rule_on_the_golden_landmarks() -> None:
    golden = np.load(GOLDEN)
    # The boxes the golden recipe computed with a transcription of the official get_part_location.
    assert np.array_equal(parts.boxes_from_68(golden["landmarks"]), golden["boxes"])
    # L = max(extent / 2, 16): a part squeezed to one point still gets a 32 px box.
    dot = np.tile([[100.4, 200.6]], (68, 1))
    assert parts.boxes_from_68(dot)[2].tolist() == [85, 185, 116, 216]


@pytest.mark.skipif(not parts.dlib_available(), reason="needs the landmarks extra (dlib)")
def test_dlib_gives_the_golden_landmarks_on_the_aligned_face() -> None:
    crop = cv2.imread(str(FACE))
    golden = np.load(GOLDEN)
    # The golden landmarks were dlib's on this crop (written with 3 decimals, whole pixels).
    assert np.array_equal(parts.landmarks_68(crop), golden["landmarks"])
    boxes = parts.part_boxes(crop[None], face_template(512)[None], "68")
    assert boxes.dtype == np.float32 and np.array_equal(boxes[0], golden["boxes"])


def test_five_point_boxes_follow_their_landmarks_and_stay_near_the_68_point_ones() -> None:
    template = face_template(512).astype(np.float64)
    boxes = parts.boxes_from_5(template)
    golden = np.load(GOLDEN)["boxes"]
    assert np.abs(boxes - golden).max() <= 20  # the leave-one-out fit's worst eye is 20 px
    shifted = template.copy()
    shifted[3:] += (4.0, 10.0)  # both mouth corners 4 px right, 10 down
    moved = parts.boxes_from_5(shifted) - boxes
    assert moved[3].tolist() == [4, 10, 4, 10] and not moved[:3].any()
    assert np.array_equal(parts.boxes_from_5(template / 2, size=256), boxes)


def test_methods_and_extra_inputs() -> None:
    crop = np.zeros((1, 512, 512, 3), np.uint8)
    five = face_template(512)[None]
    assert parts.resolve_method("5") == "5"
    assert parts.resolve_method("auto") == ("68" if parts.dlib_available() else "5")
    with pytest.raises(UsageError, match="box method"):
        parts.resolve_method("fan")
    extras = parts.extra_inputs(get_spec("dfdnet"), crop, five, "5")
    assert list(extras) == ["boxes"] and extras["boxes"].shape == (1, 4, 4)
    assert np.array_equal(extras["boxes"][0], parts.boxes_from_5(five[0]))
    spec = get_spec("dfdnet")
    other = type(spec)(**{**spec.__dict__, "extra_inputs": (ExtraInput("parsing", (19,), "x"),)})
    with pytest.raises(UsageError, match="cannot compute the extra input 'parsing'"):
        parts.extra_inputs(other, crop, five)
