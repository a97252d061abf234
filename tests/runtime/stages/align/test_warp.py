"""facert.stages.align.warp: the FFHQ template, the similarity estimate, the warp-crop and the tensors."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from testdata import GOLDEN_DATA

from facert.errors import InputError
from facert.models.registry import ModelSpec
from facert.stages.align.warp import (
    CROP_BORDER_BGR,
    FFHQ_TEMPLATE_512,
    align_faces,
    crop_scale,
    estimate_affine,
    face_template,
    from_tensor,
    to_tensor,
    warp_crop,
)
from facert.stages.faces import Face

CASES = GOLDEN_DATA / "blend" / "cases.json"


def _spec(
    color_order: str, input_range: tuple[float, float], output_range: tuple[float, float]
) -> ModelSpec:
    return ModelSpec(
        name="test",
        family="test",
        role="restorer",
        summary="",
        licence="",
        input_size=16,
        color_order=color_order,  # type: ignore[arg-type]
        input_range=input_range,
        output_range=output_range,
    )


def _similarity(angle_deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    angle = np.deg2rad(angle_deg)
    linear = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return np.hstack([linear, np.asarray(shift, dtype=np.float64)[:, None]])


def _apply(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ affine[:, :2].T + affine[:, 2]


def test_template_scales_with_size() -> None:
    np.testing.assert_array_equal(face_template(512), FFHQ_TEMPLATE_512.astype(np.float32))
    for size in (256, 1024, 384):
        # scaled in float64, then rounded once to float32: within half a float32 ulp of exact
        expected = FFHQ_TEMPLATE_512 * size / 512
        np.testing.assert_allclose(face_template(size), expected, rtol=6e-8, atol=0)
    assert face_template(128).dtype == np.float32 and face_template(128).shape == (5, 2)


@pytest.mark.parametrize(
    ("angle", "scale", "shift"),
    [
        (0.0, 1.0, (0.0, 0.0)),
        (17.0, 2.3, (-410.0, 95.5)),
        (-35.0, 0.4, (12.25, -300.0)),
        (170.0, 5.0, (9, 9)),
    ],
)
def test_affine_maps_landmarks_onto_template(angle: float, scale: float, shift: tuple) -> None:
    template = face_template(512).astype(np.float64)
    frame_to_crop = _similarity(angle, scale, shift)
    landmarks = _apply(cv2.invertAffineTransform(frame_to_crop), template)  # clean landmarks
    affine = estimate_affine(landmarks, face_template(512))
    assert affine.shape == (2, 3) and affine.dtype == np.float64
    # OpenCV estimates from float32 points: residuals stay far below 0.01 crop pixel
    np.testing.assert_allclose(_apply(affine, landmarks), template, atol=1e-2)
    np.testing.assert_allclose(affine, frame_to_crop, rtol=1e-4, atol=1e-2)
    assert crop_scale(affine) == pytest.approx(scale, rel=1e-5)  # float32 estimate


# A crop moved by 1/64 px changes a sample by at most 1/64 of the local step per pixel (under half a
# level wherever the image changes by less than 32 levels per pixel); it is half the 1/32-px grid
# OpenCV 4's warpAffine rounded coordinates to.
CROP_POINT_TOLERANCE = 1 / 64


def test_affine_matches_facexlib() -> None:
    """The committed affines are facexlib 0.3.0's own (OpenCV 5.0's float32 LMEDS estimate). What
    matters is where the crop lands, so both affines map the same frame points (the template's
    five points and the crop's corners, as facexlib's affine places them) and the results are
    compared in crop pixels, not matrix entries: another OpenCV build moves the entries by ~1e-5
    (5.1 vs 5.0: the points by 3e-5 px). Real regressions are far larger: RANSAC instead of LMEDS
    moves points by 9 px, landmarks off by 0.1 px by 0.2 px, a template 0.1% too large by 0.7 px."""
    facts = json.loads(CASES.read_text())
    template = face_template(512).astype(np.float64)
    corners = np.array([[0, 0], [511, 0], [0, 511], [511, 511]], np.float64)
    for case in facts["cases"]:
        for face in case["faces"]:
            expected = np.asarray(face["affine"])
            frame_points = _apply(
                cv2.invertAffineTransform(expected), np.vstack([template, corners])
            )
            affine = estimate_affine(np.asarray(face["landmarks"]), face_template(512))
            moved = np.linalg.norm(
                _apply(affine, frame_points) - _apply(expected, frame_points), axis=1
            )
            assert moved.max() <= CROP_POINT_TOLERANCE, (case["name"], moved.max())


def test_degenerate_landmarks_raise() -> None:
    with pytest.raises(InputError, match="degenerate"):
        estimate_affine(np.full((5, 2), 7.0), face_template(512))
    with pytest.raises(InputError, match="finite"):
        estimate_affine(np.full((5, 2), np.nan), face_template(512))
    with pytest.raises(ValueError, match="must both be"):
        estimate_affine(np.zeros((4, 2)), face_template(512))


def test_warp_crop_is_opencv_warp_with_facexlib_border(grace_hopper: np.ndarray) -> None:
    affine = _similarity(12.0, 1.7, (200.0, 150.0))  # crop (0, 0) comes from outside the frame
    crop = warp_crop(grace_hopper, affine, 512)
    direct = cv2.warpAffine(
        grace_hopper, affine, (512, 512), flags=cv2.INTER_LINEAR, borderValue=(135, 133, 132)
    )
    np.testing.assert_array_equal(crop, direct)
    assert crop.shape == (512, 512, 3) and crop.dtype == np.uint8
    np.testing.assert_array_equal(crop[0, 0], CROP_BORDER_BGR)  # (0, 0) maps outside the frame


def test_align_faces(grace_hopper: np.ndarray) -> None:
    landmarks = np.array(json.loads(CASES.read_text())["cases"][0]["faces"][0]["landmarks"])
    face = Face(
        box=np.array([170, 120, 360, 340], np.float32),
        score=1.0,
        landmarks=landmarks.astype(np.float32),
    )
    crops, affines = align_faces(grace_hopper, [face, face], 256)
    assert crops.shape == (2, 256, 256, 3) and crops.dtype == np.uint8 and len(affines) == 2
    expected = estimate_affine(face.landmarks, face_template(256))
    np.testing.assert_array_equal(affines[1], expected)
    np.testing.assert_array_equal(crops[0], warp_crop(grace_hopper, expected, 256))
    empty, none = align_faces(grace_hopper, [], 512)
    assert empty.shape == (0, 512, 512, 3) and none == []


@pytest.mark.parametrize("color_order", ["RGB", "BGR"])
@pytest.mark.parametrize("value_range", [(-1.0, 1.0), (0.0, 1.0)])
def test_tensor_round_trip_and_colour_order(color_order: str, value_range: tuple) -> None:
    spec = _spec(color_order, value_range, value_range)
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    crops[0, 0, 0] = (255, 0, 0)  # pure blue in BGR
    tensor = to_tensor(crops, spec)
    assert tensor.shape == (2, 3, 16, 16) and tensor.dtype == np.float32
    low, high = value_range
    blue_channel = 2 if color_order == "RGB" else 0
    assert tensor[0, blue_channel, 0, 0] == pytest.approx(high, abs=1e-6)  # float32 affine map
    assert tensor[0, 2 - blue_channel, 0, 0] == pytest.approx(low, abs=1e-6)
    assert tensor.min() >= low - 1e-6 and tensor.max() <= high + 1e-6
    np.testing.assert_array_equal(from_tensor(tensor, spec), crops)  # exact: errors << 0.5 level


def test_from_tensor_clips_and_rounds() -> None:
    spec = _spec("RGB", (-1.0, 1.0), (-1.0, 1.0))
    output = np.zeros((1, 3, 2, 2), np.float32)
    output[0, 0, 0, 0] = 3.0  # R above the range -> 255
    output[0, 1, 0, 0] = -7.0  # G below -> 0
    output[0, 2, 0, 0] = 1.0 / 255  # B: 127.5 + 0.5 -> 128 after rounding
    image = from_tensor(output, spec)
    assert image.shape == (1, 2, 2, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image[0, 0, 0], (128, 0, 255))  # BGR
    np.testing.assert_array_equal(image[0, 1, 1], (128, 128, 128))  # 0 -> 127.5 -> 128
