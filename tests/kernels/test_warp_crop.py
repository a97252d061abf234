"""The warp-crop kernel's arithmetic (pixels.cuh, compiled for the CPU) against the runtime's CPU
path, its specification: ``to_tensor(warp_crop(frame, affine, S, border), spec)``.

Tolerance: 1e-3 on tensor values, i.e. the same uint8 level (one level is 2/255 = 7.8e-3 in
[-1, 1], 3.9e-3 in [0, 1]); the values are then bit-identical, as both sides map the level with the
same float32 operations. Against OpenCV's own warp kernel (Intel IPP off) every value matches. The
x86 OpenCV wheels hand constant-border warps to IPP, which rounds the last bits of the sample
position differently: there a value lying within about 1e-3 of a half level rounds the other way
(measured: 96 of 3.7 million values, one level each), so that comparison allows one level on at
most 1e-4 of the values. Crop sizes are multiples of 32 (OpenCV's SIMD body covers every column);
its scalar tail groups the position's arithmetic differently, see test_crop_width_off_the_simd_body.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from kernel_host import HostKernels, compiler, opencv_ipp

from facert.kernels.plan import warp_plan
from facert.models.registry import ModelSpec
from facert.stages.align.warp import to_tensor, warp_crop

SIZE = 64
SPEC = ModelSpec(
    name="kernel-test", family="test", role="restorer", summary="", licence="", input_size=SIZE
)
BGR_UNIT = dataclasses.replace(SPEC, color_order="BGR", input_range=(0.0, 1.0))


@pytest.fixture(scope="module")
def kernels() -> HostKernels:
    if compiler() is None:
        pytest.skip("no host C++ compiler (g++) to build the kernels' host twin")
    return HostKernels()


def random_affines(rng: np.random.Generator, count: int, size: int = SIZE) -> list[np.ndarray]:
    """Similarities frame -> crop: any rotation, crop scale 0.1 to 8, shifted up to a crop off."""
    affines = []
    for _ in range(count):
        angle = rng.uniform(-np.pi, np.pi)
        scale = np.exp(rng.uniform(np.log(0.1), np.log(8.0)))
        cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
        shift = rng.uniform(-size, size, 2)
        affines.append(np.array([[cos, -sin, shift[0]], [sin, cos, shift[1]]]))
    return affines


def pitched_frame(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Random (H, W, 3) uint8 pixels as a view into wider rows (pitch > 3 W)."""
    rows = rng.integers(0, 256, (height, width + 5, 3), dtype=np.uint8)
    return rows[:, 2 : 2 + width]


def compare(
    kernels: HostKernels, spec: ModelSpec, border: str, dtype: type, seed: int, size: int = SIZE
) -> tuple[int, int, float]:
    """(values, values off by more than 1e-3, largest difference) over 40 random frames x 3 faces."""
    rng = np.random.default_rng(seed)
    spec = dataclasses.replace(spec, input_size=size)
    total = wrong = 0
    largest = 0.0
    for _ in range(40):
        frame = pitched_frame(rng, *rng.integers(16, 200, 2))
        affines = random_affines(rng, 3, size)
        crops = np.stack(
            [warp_crop(np.ascontiguousarray(frame), a, size, border=border) for a in affines]
        )  # type: ignore[arg-type]
        expected = to_tensor(crops, spec).astype(dtype)
        out = np.empty((3, 3, size, size), dtype)
        kernels.warp_crop(frame, warp_plan(affines, spec, border), out)  # type: ignore[arg-type]
        difference = np.abs(out.astype(np.float64) - expected)
        total += difference.size
        wrong += int(np.count_nonzero(difference > 1e-3))
        largest = max(largest, float(difference.max()))
    return total, wrong, largest


@pytest.mark.parametrize("border", ["constant", "reflect101"])
@pytest.mark.parametrize("spec", [SPEC, BGR_UNIT], ids=["rgb-1to1", "bgr-0to1"])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_matches_opencv_warp(
    kernels: HostKernels, border: str, spec: ModelSpec, dtype: type
) -> None:
    """Every value equals the CPU path's (fp16: its float32 values rounded to half)."""
    with opencv_ipp(False):
        total, wrong, largest = compare(kernels, spec, border, dtype, seed=1)
    assert wrong == 0, f"{wrong} of {total} values differ, by up to {largest}"


def test_against_opencv_with_ipp(kernels: HostKernels) -> None:
    """With IPP (the default on x86 wheels) a constant-border value may round one level apart."""
    with opencv_ipp(True):
        total, wrong, largest = compare(kernels, SPEC, "constant", np.float32, seed=2)
    assert largest <= 2 / 255 + 1e-6  # one level in [-1, 1]
    assert wrong <= 1e-4 * total, f"{wrong} of {total} values one level apart"


def test_crop_width_off_the_simd_body(kernels: HostKernels) -> None:
    """A width OpenCV finishes in scalar code (72 = 64 + 8): one level at most, rarely."""
    with opencv_ipp(False):
        total, wrong, largest = compare(kernels, SPEC, "reflect101", np.float32, seed=3, size=72)
    assert largest <= 2 / 255 + 1e-6
    assert wrong <= 1e-3 * total, f"{wrong} of {total} values one level apart"


def test_off_frame_crop_is_the_border(kernels: HostKernels) -> None:
    """A crop wholly outside the frame is the border colour, exactly."""
    frame = np.full((40, 50, 3), 7, np.uint8)
    affine = np.array([[1.0, 0.0, 500.0], [0.0, 1.0, 500.0]])
    out = np.empty((1, 3, SIZE, SIZE), np.float32)
    kernels.warp_crop(frame, warp_plan([affine], BGR_UNIT), out)
    border = np.float32(np.array([135, 133, 132], np.float32) * np.float32(1 / 255))
    assert np.array_equal(out[0, :, 0, 0], border)
    assert np.all(out == out[:, :, :1, :1])


def test_far_off_frame_reflection(kernels: HostKernels) -> None:
    """Reflect101 many frame widths away from the frame folds back as OpenCV's loop does."""
    rng = np.random.default_rng(4)
    frame = pitched_frame(rng, 23, 37)
    affines = [
        np.array([[0.9, 0.2, 3000.0], [-0.2, 0.9, -2500.0]]),
        np.array([[2.0, 0.0, -900.0], [0.0, 2.0, 700.0]]),
    ]
    with opencv_ipp(False):
        crops = np.stack(
            [warp_crop(np.ascontiguousarray(frame), a, SIZE, border="reflect101") for a in affines]
        )
    out = np.empty((2, 3, SIZE, SIZE), np.float32)
    kernels.warp_crop(frame, warp_plan(affines, SPEC, "reflect101"), out)
    assert np.abs(out - to_tensor(crops, SPEC)).max() <= 1e-3
