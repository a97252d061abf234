"""Area resampling from summed-area tables: the definition (adaptive average pooling) and, where
torch is installed, equality with ``torch.nn.functional.interpolate(mode="area")`` up to the
rounding of the final division."""

from __future__ import annotations

import numpy as np
import pytest

from facert.stages.detect import area


def pooled(
    image: np.ndarray, top: int, bottom: int, left: int, right: int, size: tuple[int, int]
) -> np.ndarray:
    """The definition, one output pixel at a time: (out_h, out_w, C) float64 bin means."""
    height, width = bottom - top, right - left
    out = np.zeros((*size, image.shape[2]))
    for i in range(size[0]):
        y0, y1 = top + (i * height) // size[0], top + -(-(i + 1) * height // size[0])
        for j in range(size[1]):
            x0, x1 = left + (j * width) // size[1], left + -(-(j + 1) * width // size[1])
            out[i, j] = image[y0:y1, x0:x1].reshape(-1, image.shape[2]).mean(axis=0)
    return out


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)


@pytest.mark.parametrize("size", [(37, 53), (12, 19), (24, 24), (5, 3), (80, 111)])
def test_resize_is_adaptive_average_pooling(image: np.ndarray, size: tuple[int, int]) -> None:
    table = area.summed_area_table(image)
    resized = area.resize_area(table, *size)
    assert resized.shape == (3, *size) and resized.dtype == np.float32
    # float32 means of exact integer sums: within 1 float32 ulp of 255 (3e-5)
    np.testing.assert_allclose(
        resized.transpose(1, 2, 0), pooled(image, 0, 37, 0, 53, size), atol=3e-5
    )


def test_crops_in_one_gather(image: np.ndarray) -> None:
    windows = np.array([[0, 37, 0, 53], [3, 20, 10, 11], [30, 37, 40, 53], [5, 6, 7, 8]])
    crops = area.crop_area(area.summed_area_table(image), windows, 24)
    assert crops.shape == (4, 3, 24, 24) and crops.dtype == np.float32
    for crop, window in zip(crops, windows, strict=True):
        expected = pooled(image, *window, (24, 24))  # windows smaller than 24 repeat pixels
        np.testing.assert_allclose(crop.transpose(1, 2, 0), expected, atol=3e-5)


def test_channel_order_and_wide_tables(image: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    table = area.summed_area_table(image, order=(2, 1, 0))
    assert table.dtype == np.int32 and table.shape == (38, 54, 3)
    np.testing.assert_array_equal(table[-1, -1], image.sum(axis=(0, 1))[::-1])
    monkeypatch.setattr(area, "INT32_SUMS", 1)  # as for a frame past 8.4 megapixels
    wide = area.summed_area_table(image, order=(2, 1, 0))
    assert wide.dtype == np.float64
    np.testing.assert_array_equal(wide, table)


# Both sides divide the same exact integer sum by the bin's rows and columns in float32; how the
# division is grouped (sum / rows / cols or sum / (rows * cols), vectorised or not) is PyTorch's
# kernel's choice and moves the mean by at most 2 float32 ulps (torch 2.13: bit-equal). A wrong bin
# (one pixel more or less) moves a mean of these random pixels by far more than that.
TORCH_AREA_MAX_ULP = 2


def test_equal_to_torch_area_interpolation(image: np.ndarray) -> None:
    torch = pytest.importorskip("torch")
    # as facenet-pytorch feeds it: NHWC uint8 permuted to NCHW, cast to float32
    tensor = torch.from_numpy(image)[None].permute(0, 3, 1, 2).float()
    table = area.summed_area_table(image)
    for size in [(12, 19), (24, 24), (80, 111)]:
        expected = torch.nn.functional.interpolate(tensor, size=size, mode="area")[0].numpy()
        resized = area.resize_area(table, *size)
        np.testing.assert_array_max_ulp(resized, expected, maxulp=TORCH_AREA_MAX_ULP)
    window = tensor[:, :, 3:20, 10:31]
    expected = torch.nn.functional.interpolate(window, size=(24, 24), mode="area")[0].numpy()
    crop = area.crop_area(table, np.array([[3, 20, 10, 31]]), 24)[0]
    np.testing.assert_array_max_ulp(crop, expected, maxulp=TORCH_AREA_MAX_ULP)
