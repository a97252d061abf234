"""facert.stages.blend.parse and the parse-mask paste: facexlib's ``use_parse=True`` paste-back.

Golden data: tests/golden/blend/*_parse_x{1,2}.png are facexlib 0.3.0's own output with
``use_parse=True`` on the blend cases (recipe/ says how), its ParseNet holding the deterministic
weights of export/harness/fill.py; ``*_parse_face<i>.png`` are the class maps facexlib's ParseNet
gave each restored face, through MASK_COLORMAP (0/255 at 512 px). The default tests start from
those maps (no network run); the slow test runs facert's own ParseNet export on the faces.

Tolerances: the contract is PSNR >= 40 dB over each face's box. What differs from facexlib: the
mask rides through the warp as 8-bit alpha (round(255 * mask), then a bilinear uint8 warp: 1 level
of alpha), and the blend rounds each term where facexlib truncates once (1 level on about half the
blended pixels); the blur runs in float32 (1e-6). Measured 52.2-54.7 dB and 5 levels at most; the
tests hold 45 dB (room for another OpenCV build's rounding of the recomputed inputs, as
test_paste.py explains) and 6 levels.
"""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from blend_cases import BLEND, CASES, case_inputs

from facert.demo.metrics import psnr
from facert.errors import UsageError
from facert.models.registry import get_spec
from facert.pipeline.frame import EnhanceOptions
from facert.stages.blend.parse import (
    BORDER,
    MASK_COLORMAP,
    FaceParser,
    check_mask,
    parse_inputs,
    soft_mask,
    soft_mask_of_levels,
)
from facert.stages.blend.paste import paste_faces

NAMES = ["grace_single", "grace_overlap", "astronaut_edge"]


@pytest.fixture(scope="module")
def photos(grace_hopper: np.ndarray, astronaut: np.ndarray) -> dict:
    return {"grace_hopper": grace_hopper, "astronaut": astronaut}


def _golden_masks(result: dict, size: int) -> list[np.ndarray]:
    return [
        soft_mask_of_levels(cv2.imread(str(BLEND / name), cv2.IMREAD_GRAYSCALE), size)
        for name in result["masks"]
    ]


def _check_against(ours: np.ndarray, background: np.ndarray, result: dict) -> float:
    x0, y0, x1, y1 = result["box"]
    reference = cv2.imread(str(BLEND / result["file"]))
    level = psnr(ours[y0:y1, x0:x1], reference)
    assert level >= 45.0
    assert np.abs(ours[y0:y1, x0:x1].astype(np.int16) - reference).max() <= 6
    outside = np.ones(background.shape[:2], dtype=bool)
    outside[y0:y1, x0:x1] = False
    np.testing.assert_array_equal(ours[outside], background[outside])  # untouched, exactly
    return level


@pytest.mark.parametrize("upscale", [1, 2])
@pytest.mark.parametrize("name", NAMES)
def test_matches_facexlib_from_its_class_maps(name: str, upscale: int, photos: dict) -> None:
    case = CASES[name]
    result = next(r for r in case["parse_results"] if r["upscale"] == upscale)
    background, restored, affines = case_inputs(case, photos, upscale)
    masks = _golden_masks(result, restored[0].shape[0])
    ours = paste_faces(background, restored, affines, upscale, masks=masks)
    _check_against(ours, background, result)


def test_the_golden_maps_are_not_trivial() -> None:
    # A map that kept every class (or none) would make the parse paste a hard-edged square (or
    # nothing). The deterministic weights drop 0.03-0.3 % of each face's pixels (background, neck,
    # cloth, hair classes), in clusters the blur turns into dips of the mask the test then checks.
    for name in NAMES:
        lowest = []
        for file in CASES[name]["parse_results"][0]["masks"]:
            levels = cv2.imread(str(BLEND / file), cv2.IMREAD_GRAYSCALE)
            assert set(np.unique(levels)) == {0, 255}
            assert 0.0001 < float((levels == 0).mean()) < 0.9999
            inner = soft_mask_of_levels(levels, 512)[BORDER:-BORDER, BORDER:-BORDER]
            lowest.append(float(inner.min()))
        assert min(lowest) < 0.95  # measured 0.82 to 0.93


def test_parse_and_square_differ(photos: dict) -> None:
    case = CASES["grace_single"]
    result = next(r for r in case["parse_results"] if r["upscale"] == 1)
    background, restored, affines = case_inputs(case, photos, 1)
    parsed = paste_faces(background, restored, affines, 1, masks=_golden_masks(result, 512))
    square = paste_faces(background, restored, affines, 1)
    x0, y0, x1, y1 = result["box"]
    assert psnr(parsed[y0:y1, x0:x1], square[y0:y1, x0:x1]) < 35.0  # the masks really differ


def test_soft_mask_shape_and_border() -> None:
    classes = np.full((512, 512), 1, dtype=np.int64)  # skin everywhere: kept
    classes[200:300, 200:300] = 17  # hair: dropped
    mask = soft_mask(classes, 512)
    assert mask.shape == (512, 512) and mask.dtype == np.float32
    assert float(mask.min()) == 0.0 and 0.99 < float(mask.max()) <= 1.0 + 1e-5  # float32 blur
    assert not mask[:BORDER].any() and not mask[:, -BORDER:].any()
    assert mask[250, 250] < 0.5 < mask[100, 100]  # the hole, blurred
    assert soft_mask(classes, 256).shape == (256, 256)
    assert [MASK_COLORMAP[c] for c in (0, 14, 16, 17, 18)] == [0] * 5


def test_parse_inputs_layout_and_range() -> None:
    faces = np.zeros((2, 256, 256, 3), dtype=np.uint8)
    faces[..., 2] = 255  # red in BGR
    planes = parse_inputs(faces)
    assert planes.shape == (2, 3, 512, 512) and planes.dtype == np.float32
    assert np.all(planes[:, 0] == 1.0) and np.all(planes[:, 1:] == -1.0)  # RGB, [-1, 1]


class _Engine:
    """Logits favouring class 1 (kept) inside a centred disc, class 17 (hair) outside."""

    def __init__(self) -> None:
        self.calls = 0

    def open(self) -> None: ...

    def close(self) -> None: ...

    def run(self, feeds: dict) -> dict:
        self.calls += 1
        size = feeds["image"].shape[-1]
        y, x = np.mgrid[:size, :size]
        inside = (x - size / 2) ** 2 + (y - size / 2) ** 2 < (size / 3) ** 2
        logits = np.zeros((len(feeds["image"]), 19, size, size), np.float32)
        logits[:, 1] = inside
        logits[:, 17] = ~inside
        return {"parsing": logits}


def test_face_parser_runs_its_engine_per_face() -> None:
    engine = _Engine()
    with FaceParser(get_spec("parsenet"), engine) as parser:  # type: ignore[arg-type]
        masks = parser.masks(np.zeros((2, 512, 512, 3), np.uint8))
        assert parser.masks(np.zeros((0, 512, 512, 3), np.uint8)) == []
    assert engine.calls == 2 and len(masks) == 2
    assert masks[0][256, 256] > 0.99 and masks[0][40, 40] < 0.01


def test_face_parser_refuses_other_roles() -> None:
    with pytest.raises(UsageError, match="not a face parser"):
        FaceParser(get_spec("ispl"), SimpleNamespace())  # type: ignore[arg-type]


def test_mask_option_is_checked() -> None:
    assert check_mask("parse") == "parse"
    with pytest.raises(UsageError, match="square, parse"):
        EnhanceOptions(mask="soft")  # type: ignore[arg-type]


def test_paste_needs_one_mask_per_face(photos: dict) -> None:
    background, restored, affines = case_inputs(CASES["grace_single"], photos, 1)
    with pytest.raises(ValueError, match="masks"):
        paste_faces(background, restored, affines, 1, masks=[])
