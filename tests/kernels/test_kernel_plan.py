"""The launch plans (kernels/plan.py): the numbers the kernels get besides pointers."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from facert.kernels.plan import (
    BLEND_PARAMS,
    PATH_BOX,
    PATH_NONE,
    PATH_PROFILES,
    TILE,
    blend_plan,
    warp_plan,
)
from facert.models.registry import ModelSpec
from facert.stages.blend.paste import paste_path

SPEC = ModelSpec(
    name="kernel-test", family="test", role="restorer", summary="", licence="", input_size=128
)
PATHS = {PATH_NONE: "none", PATH_PROFILES: "profiles", PATH_BOX: "box"}


def similarity(centre: tuple[float, float], crop_per_pixel: float, angle: float) -> np.ndarray:
    cos, sin = np.cos(angle) * crop_per_pixel, np.sin(angle) * crop_per_pixel
    affine = np.array([[cos, -sin, 0.0], [sin, cos, 0.0]])
    affine[:, 2] = 64 - affine[:, :2] @ np.asarray(centre)
    return affine


def test_warp_plan() -> None:
    affines = [similarity((100, 80), 0.7, 0.3), similarity((10, 20), 3.0, -1.0)]
    plan = warp_plan(
        affines, dataclasses.replace(SPEC, color_order="BGR", input_range=(0, 1)), "reflect101"
    )
    assert plan.crop_to_frame.dtype == np.float32 and plan.crop_to_frame.shape == (2, 6)
    for matrix, affine in zip(plan.crop_to_frame, affines, strict=True):
        assert np.array_equal(matrix, cv2.invertAffineTransform(affine).astype(np.float32).ravel())
    assert (plan.size, plan.rgb, plan.border_mode) == (128, False, 1)
    assert (plan.scale, plan.offset) == (float(np.float32(1 / 255)), 0.0)
    assert warp_plan(affines, SPEC).border_bgr == (135.0, 133.0, 132.0)


@pytest.mark.parametrize("upscale", [1.0, 2.0])
def test_blend_plan_paths_boxes_and_tiles(upscale: float) -> None:
    """Each face takes paste.py's path; the tiles cover the union of the boxes and no more."""
    shape = (int(300 * upscale), int(400 * upscale))
    affines = [
        similarity((200, 150), 0.6, 0.2),  # large, inside: profiles
        similarity((210, 140), 4.0, 0.0),  # small: box
        similarity((5, 150), 0.8, 0.1),  # cut by the left edge: box
        similarity((-500, 150), 1.0, 0.0),  # off the frame: none
    ]
    plan = blend_plan(affines, SPEC, shape, upscale)
    assert plan.face_params.shape == (4, BLEND_PARAMS) and plan.face_params.dtype == np.float32
    paths = [PATHS[int(path)] for path in plan.face_params[:, 0]]
    assert paths == [paste_path(a, 128, upscale, (*shape, 3)) for a in affines]
    assert paths == ["profiles", "box", "box", "none"]
    covered = np.zeros(shape, bool)
    for face in plan.face_params[plan.face_params[:, 0] != PATH_NONE]:
        x0, y0, x1, y1 = face[1:5].astype(int)
        assert 0 <= x0 < x1 <= shape[1] and 0 <= y0 < y1 <= shape[0]
        covered[y0:y1, x0:x1] = True
    tiled = np.zeros(shape, bool)
    for x, y in plan.tiles:
        assert x % TILE == 0 and y % TILE == 0
        assert covered[y : y + TILE, x : x + TILE].any()  # no tile without a face pixel
        tiled[y : y + TILE, x : x + TILE] = True
    assert np.all(tiled[covered]) and len(np.unique(plan.tiles, axis=0)) == len(plan.tiles)


def test_blend_plan_tables() -> None:
    """Profiles faces carry 4 profiles of the canvas side, box faces erosion and alpha over the box;
    offsets are consecutive."""
    affines = [similarity((200, 150), 0.6, 0.2), similarity((210, 140), 4.0, 0.0)]
    plan = blend_plan(affines, SPEC, (300, 400))
    profiles, box = plan.face_params
    side = int(profiles[12])
    assert side == 128 + 2 * int(profiles[11]) and profiles[13] == 0
    assert box[13] == 4 * side
    width, height = int(box[3] - box[1]), int(box[4] - box[2])
    assert plan.tables.size == 4 * side + 2 * width * height
    alpha = plan.tables[int(box[13]) + width * height :]
    assert alpha.max() == 255 and np.array_equal(alpha, np.rint(alpha))
    assert np.all(plan.face_params[:, 14:17] == 1) and np.all(plan.face_params[:, 17:20] == 0)


def test_blend_plan_colour_needs_one_per_face() -> None:
    with pytest.raises(ValueError, match="2 colour corrections for 1 faces"):
        blend_plan(
            [similarity((200, 150), 0.6, 0.2)],
            SPEC,
            (300, 400),
            1.0,
            [(np.ones(3), np.zeros(3))] * 2,
        )
