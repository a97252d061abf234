"""The blend kernel's arithmetic (pixels.cuh, compiled for the CPU) against the runtime's CPU path,
its specification: ``paste_faces(background, from_tensor(output, spec), affines, upscale)``.

Tolerance: one level (1/255 of the range) per value. Where OpenCV's own warp kernel runs (Intel IPP
off) the frames are identical but for about 1 value in 30 million: the erosion factor on the
crop's outermost pixels is float64 on the CPU and float32 in the kernel's tables, and a face level
times it can fall within 1e-5 of a half. The x86 OpenCV wheels hand the 4-channel warps to IPP,
which rounds the last bits of the sample position differently (measured: about 1 value in 100,000
one level apart); the test allows one level on at most 1e-4 of the values either way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import cv2
import numpy as np
import pytest
from kernel_host import HostKernels, compiler, opencv_ipp

from facert.kernels.plan import blend_plan
from facert.models.registry import ModelSpec
from facert.stages.align.warp import from_tensor
from facert.stages.blend.paste import paste_faces, paste_path, upscale_background

SIZE = 96
SPEC = ModelSpec(
    name="kernel-test", family="test", role="restorer", summary="", licence="", input_size=SIZE
)
BGR_UNIT = dataclasses.replace(SPEC, color_order="BGR", output_range=(0.0, 1.0))
FRAME = (240, 320)  # height, width


@pytest.fixture(scope="module")
def kernels() -> HostKernels:
    if compiler() is None:
        pytest.skip("no host C++ compiler (g++) to build the kernels' host twin")
    return HostKernels()


def textured_frame(rng: np.random.Generator) -> np.ndarray:
    small = rng.integers(0, 256, (FRAME[0] // 6, FRAME[1] // 6, 3), dtype=np.uint8)
    return cv2.resize(small, FRAME[::-1], interpolation=cv2.INTER_CUBIC)


def network_output(rng: np.random.Generator, count: int, spec: ModelSpec) -> np.ndarray:
    """(N, 3, S, S) float32 smooth values spilling 5% past the spec's output range each side."""
    low, high = spec.output_range
    noise = rng.uniform(0.0, 1.0, (SIZE // 4, SIZE // 4, 3 * count)).astype(np.float32)
    smooth = cv2.resize(noise, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
    values = low + (high - low) * (smooth * 1.1 - 0.05)
    return np.ascontiguousarray(values.transpose(2, 0, 1).reshape(count, 3, SIZE, SIZE))


def face_affine(centre: Sequence[float], crop_per_pixel: float, angle: float) -> np.ndarray:
    """Frame -> crop similarity putting the crop's centre at ``centre`` (frame pixels)."""
    cos, sin = np.cos(angle) * crop_per_pixel, np.sin(angle) * crop_per_pixel
    affine = np.array([[cos, -sin, 0.0], [sin, cos, 0.0]])
    affine[:, 2] = SIZE / 2 - affine[:, :2] @ np.asarray(centre, dtype=np.float64)
    return affine


def random_faces(rng: np.random.Generator, count: int) -> list[np.ndarray]:
    """Faces anywhere on (or just off) the frame, 15 to 300 pixels wide, overlapping at times."""
    return [
        face_affine(
            rng.uniform((-30.0, -30.0), (FRAME[1] + 30.0, FRAME[0] + 30.0)),
            np.exp(rng.uniform(np.log(SIZE / 300), np.log(SIZE / 15))),
            rng.uniform(-0.6, 0.6),
        )
        for _ in range(count)
    ]


def blend_both(
    kernels: HostKernels,
    frame: np.ndarray,
    output: np.ndarray,
    affines: list[np.ndarray],
    spec: ModelSpec,
    upscale: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(CPU path's frame, kernel's frame) for the same faces; the kernel's blends into a view of
    wider rows (a pitched frame)."""
    background = upscale_background(frame, upscale)
    expected = paste_faces(
        background, list(from_tensor(output.astype(np.float32), spec)), affines, upscale
    )
    height, width = background.shape[:2]
    rows = np.zeros((height, width + 3, 3), np.uint8)
    pitched = rows[:, 1 : 1 + width]
    pitched[...] = background
    kernels.blend(pitched, output, blend_plan(affines, spec, (height, width), upscale))
    assert not rows[:, 0].any() and not rows[:, -2:].any()  # nothing written outside the frame
    return expected, np.ascontiguousarray(pitched)


def check(expected: np.ndarray, actual: np.ndarray) -> None:
    difference = np.abs(expected.astype(np.int16) - actual)
    assert difference.max() <= 1
    assert np.count_nonzero(difference) <= 1e-4 * difference.size + 1


@pytest.mark.parametrize("upscale", [1.0, 2.0])
@pytest.mark.parametrize("ipp", [False, True], ids=["opencv", "ipp"])
def test_random_faces(kernels: HostKernels, upscale: float, ipp: bool) -> None:
    """Faces of every path (profiles, box: small or cut by the edge, none: off the frame), 1 to 4
    per frame, later ones over earlier ones."""
    rng = np.random.default_rng(int(upscale) + 10 * ipp)
    paths: set[str] = set()
    with opencv_ipp(ipp):
        for trial in range(12):
            affines = random_faces(rng, 1 + trial % 4)
            if trial % 4 == 0:  # make sure of a face over the frame, another off it
                affines += [face_affine((160, 120), SIZE / 100, 0.3), face_affine((-99, 9), 1, 0)]
            output = network_output(rng, len(affines), SPEC)
            expected, actual = blend_both(
                kernels, textured_frame(rng), output, affines, SPEC, upscale
            )
            check(expected, actual)
            shape = (int(FRAME[0] * upscale), int(FRAME[1] * upscale))
            paths.update(paste_path(a, SIZE, upscale, shape) for a in affines)
    assert paths == {"profiles", "box", "none"}


@pytest.mark.parametrize("spec", [SPEC, BGR_UNIT], ids=["rgb-1to1", "bgr-0to1"])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_overlapping_faces(kernels: HostKernels, spec: ModelSpec, dtype: type) -> None:
    """Three faces over one another (a large one, a small one inside it, one cut by the edge):
    both colour orders and output ranges; fp16 faces as the CPU path sees them (widened)."""
    rng = np.random.default_rng(7)
    affines = [
        face_affine((150, 120), SIZE / 120, 0.2),
        face_affine((160, 110), SIZE / 40, -0.3),
        face_affine((10, 130), SIZE / 120, 0.1),
    ]
    output = network_output(rng, 3, spec).astype(dtype)
    with opencv_ipp(False):
        expected, actual = blend_both(kernels, textured_frame(rng), output, affines, spec, 1.0)
    assert [paste_path(a, SIZE, 1.0, (*FRAME, 3)) for a in affines] == ["profiles", "box", "box"]
    check(expected, actual)


def test_colour_hook(kernels: HostKernels) -> None:
    """Per-face gain and bias act on the face's BGR levels before the paste."""
    rng = np.random.default_rng(8)
    affines = [face_affine((100, 90), SIZE / 120, 0.0), face_affine((150, 90), SIZE / 60, 0.4)]
    output = network_output(rng, 2, SPEC)
    frame = textured_frame(rng)
    colour = [(np.array([1.1, 0.9, 1.0]), np.array([-5.0, 3.0, 0.5])), (np.ones(3), np.zeros(3))]
    levels = from_tensor(output, SPEC).astype(np.float32)
    gain, bias = (np.float32(part) for part in colour[0])
    levels[0] = np.clip(np.rint(levels[0] * gain + bias), 0, 255)
    with opencv_ipp(False):
        expected = paste_faces(frame, list(levels.astype(np.uint8)), affines, 1.0)
        actual = frame.copy()
        kernels.blend(actual, output, blend_plan(affines, SPEC, FRAME, 1.0, colour))
    check(expected, actual)
    assert not np.array_equal(
        actual, paste_faces(frame, list(from_tensor(output, SPEC)), affines, 1.0)
    )


def test_only_the_tiles_change(kernels: HostKernels) -> None:
    """The kernel runs over the tiles of the face boxes only: with no faces nothing changes, and
    a face's pixels outside its tiles (none, by construction) are never visited."""
    rng = np.random.default_rng(9)
    frame = textured_frame(rng)
    plan = blend_plan([], SPEC, FRAME)
    assert plan.tiles.shape == (0, 2) and plan.tables.size >= 1
    before = frame.copy()
    kernels.blend(frame, np.zeros((0, 3, SIZE, SIZE), np.float32), plan)
    assert np.array_equal(frame, before)
    plan = blend_plan([face_affine((40, 40), SIZE / 30, 0.0)], SPEC, FRAME)
    x0, y0, x1, y1 = plan.face_params[0, 1:5].astype(int)
    assert plan.tiles.min(axis=0).tolist() == [x0 // 16 * 16, y0 // 16 * 16]
    assert np.all(plan.tiles < [x1, y1])


def test_full_size_faces_at_1080p(kernels: HostKernels) -> None:
    """Two 512 faces (256 and 512 frame pixels wide, rotated, overlapping) in a 1080p frame, as
    the CPU path runs by default (IPP on)."""
    rng = np.random.default_rng(11)
    spec = dataclasses.replace(SPEC, input_size=512)
    small = rng.integers(0, 256, (135, 240, 3), dtype=np.uint8)
    frame = cv2.resize(small, (1920, 1080), interpolation=cv2.INTER_CUBIC)
    affines = []
    for centre, crop_per_pixel, angle in (((900, 500), 1.0, 0.17), ((1100, 600), 2.0, -0.3)):
        cos, sin = np.cos(angle) * crop_per_pixel, np.sin(angle) * crop_per_pixel
        affine = np.array([[cos, -sin, 0.0], [sin, cos, 0.0]])
        affine[:, 2] = 256 - affine[:, :2] @ np.asarray(centre, np.float64)
        affines.append(affine)
    noise = rng.uniform(-1.05, 1.05, (64, 64, 6)).astype(np.float32)
    output = cv2.resize(noise, (512, 512), interpolation=cv2.INTER_CUBIC)
    output = np.ascontiguousarray(output.transpose(2, 0, 1).reshape(2, 3, 512, 512))
    expected = paste_faces(frame, list(from_tensor(output, spec)), affines, 1.0)
    actual = frame.copy()
    kernels.blend(actual, output, blend_plan(affines, spec, frame.shape[:2]))
    assert [paste_path(a, 512, 1.0, frame.shape) for a in affines] == ["profiles", "profiles"]
    assert np.count_nonzero(np.any(actual != frame, axis=2)) > 250_000  # both faces pasted
    check(expected, actual)
