"""The resize-normalise kernel's arithmetic (pixels.cuh, compiled for the CPU) against MTCNN's CPU
path, its specification: ``_normalise(resize_area(table, h, w))`` for the pyramid and
``_normalise(crop_area(table, windows, S))`` for the R-Net/O-Net crops (runtime/stages/detect).

Tolerance: none, the values are bit-identical in float32: both sum the bin's pixels exactly, convert
the sum to float32 and divide by rows then columns in float32, and MTCNN's (x - 127.5) / 128 equals
x / 128 - 127.5 / 128 rounded once (scaling by a power of two commutes with rounding). fp16 outputs
equal the float32 values rounded to half.
"""

from __future__ import annotations

import numpy as np
import pytest
from kernel_host import HostKernels, compiler

from facert.kernels.plan import resize_plan
from facert.stages.detect.area import crop_area, resize_area, summed_area_table
from facert.stages.detect.mtcnn import _normalise
from facert.stages.detect.mtcnn_boxes import crop_windows, level_size

SCALE, OFFSET = 1 / 128, -127.5 / 128  # MTCNN's normalisation


@pytest.fixture(scope="module")
def kernels() -> HostKernels:
    if compiler() is None:
        pytest.skip("no host C++ compiler (g++) to build the kernels' host twin")
    return HostKernels()


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    """(217, 301, 3) uint8 random pixels, a view into wider rows (a pitched frame)."""
    rows = np.random.default_rng(0).integers(0, 256, (217, 310, 3), dtype=np.uint8)
    return rows[:, 4:305]


@pytest.mark.parametrize("scale", [1.0, 0.709, 0.3, 0.05, 1.6])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_pyramid_level(kernels: HostKernels, frame: np.ndarray, scale: float, dtype: type) -> None:
    """A pyramid level (the whole frame, shrunk or enlarged), RGB planes as MTCNN feeds them."""
    height, width = level_size(*frame.shape[:2], scale)
    expected = _normalise(resize_area(summed_area_table(frame, (2, 1, 0)), height, width))[None]
    out = np.empty((1, 3, height, width), dtype)
    plan = resize_plan(
        [(0, 0, frame.shape[1], frame.shape[0])], (width, height), True, SCALE, OFFSET
    )
    kernels.resize_normalize(frame, plan, out)
    assert np.array_equal(out, expected.astype(dtype))


@pytest.mark.parametrize("size", [24, 48])
def test_candidate_crops(kernels: HostKernels, frame: np.ndarray, size: int) -> None:
    """R-Net/O-Net crops of candidate boxes (some cut by the frame's edge), BGR order here."""
    rng = np.random.default_rng(size)
    corners = rng.uniform(-20, 280, (30, 2))
    boxes = np.concatenate([corners, corners + rng.uniform(1, 90, (30, 1))], axis=1)
    windows, valid = crop_windows(boxes, frame.shape[1], frame.shape[0])
    windows = windows[valid]
    expected = _normalise(crop_area(summed_area_table(frame), windows, size))
    out = np.empty((len(windows), 3, size, size), np.float32)
    plan = resize_plan(windows[:, [2, 0, 3, 1]], (size, size), False, SCALE, OFFSET)
    kernels.resize_normalize(frame, plan, out)
    assert np.array_equal(out, expected)


def test_plan_refuses_bad_boxes() -> None:
    with pytest.raises(ValueError, match="integer left, top, right, bottom"):
        resize_plan([(0.5, 0, 10, 10)], (4, 4), True, SCALE, OFFSET)
    with pytest.raises(ValueError, match="right > left"):
        resize_plan([(5, 0, 5, 10)], (4, 4), True, SCALE, OFFSET)
    with pytest.raises(ValueError, match="output size"):
        resize_plan([(0, 0, 5, 10)], (0, 4), True, SCALE, OFFSET)
