"""Area resampling from a summed-area table: PyTorch's ``interpolate(mode="area")``, bit for bit.

``torch.nn.functional.interpolate(x, size, mode="area")`` is adaptive average pooling: output pixel
``i`` of an axis of ``n_in`` input pixels resized to ``n_out`` is the plain mean of input pixels
``floor(i * n_in / n_out)`` up to (not including) ``ceil((i + 1) * n_in / n_out)``. Those bins
overlap when the ratio is not an integer, and when enlarging they repeat pixels, so OpenCV's
``INTER_AREA`` (exact area weights; bilinear when enlarging) is a different filter. MTCNN's
reference implementation (facenet-pytorch) builds its image pyramid and its R-Net/O-Net crops with
this filter, so facert does too.

Every bin mean is read from a summed-area table in O(1): the table holds exact integer sums, and
the mean is computed as ``float32(sum) / rows / cols`` like PyTorch's kernel, which makes the result
equal to PyTorch's float32 output. Tables are built once per frame and shared by every pyramid level
and every crop.
"""

from __future__ import annotations

import cv2
import numpy as np


def summed_area_table(image: np.ndarray) -> np.ndarray:
    """(H, W, C) uint8 -> (H + 1, W + 1, C) table of exact sums, ``table[y, x] = image[:y, :x].sum()``.

    int32 when every sum fits (frames up to about 8.4 megapixels), else float64 (exact to 2**53).
    """
    height, width = image.shape[:2]
    depth = cv2.CV_32S if height * width * 255 < 2**31 else cv2.CV_64F
    table: np.ndarray = cv2.integral(image, sdepth=depth)
    return table


def bins(start: np.ndarray, length: np.ndarray, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive-pooling bins of ``out_size`` outputs over ``[start, start + length)``.

    ``start`` and ``length``: (N,) integer arrays. Returns ``first`` and ``stop``, each (N, out_size)
    int64: output ``i`` of span ``n`` averages input indices ``first[n, i] .. stop[n, i] - 1``.
    """
    index = np.arange(out_size, dtype=np.int64)
    length = length.astype(np.int64)[:, None]
    first = (index * length) // out_size
    stop = -((-(index + 1) * length) // out_size)
    return start.astype(np.int64)[:, None] + first, start.astype(np.int64)[:, None] + stop


def resize_area(table: np.ndarray, out_height: int, out_width: int) -> np.ndarray:
    """The whole image of ``table`` resized to (out_height, out_width, C) float32 (values 0-255).

    Separable: rows are gathered first (contiguous copies), then columns, so the cost is about
    ``out_height * (W + out_width) * C`` element operations.
    """
    height, width = table.shape[0] - 1, table.shape[1] - 1
    row_first, row_stop = bins(np.zeros(1), np.array([height]), out_height)
    col_first, col_stop = bins(np.zeros(1), np.array([width]), out_width)
    row_sums = table[row_stop[0]] - table[row_first[0]]  # (out_height, W + 1, C)
    sums = row_sums[:, col_stop[0]] - row_sums[:, col_first[0]]
    rows = (row_stop[0] - row_first[0]).astype(np.float32)[:, None, None]
    cols = (col_stop[0] - col_first[0]).astype(np.float32)[None, :, None]
    return sums.astype(np.float32) / rows / cols


def crop_area(table: np.ndarray, windows: np.ndarray, size: int) -> np.ndarray:
    """Every window of ``table`` resized to (size, size): (N, size, size, C) float32 (0-255).

    ``windows``: (N, 4) integer ``top, bottom, left, right``, half-open and inside the image, each
    at least one pixel tall and wide. All crops are gathered at once (four corner lookups per
    output pixel), with no loop over windows.
    """
    row_first, row_stop = bins(windows[:, 0], windows[:, 1] - windows[:, 0], size)
    col_first, col_stop = bins(windows[:, 2], windows[:, 3] - windows[:, 2], size)
    top, bottom = row_first[:, :, None], row_stop[:, :, None]
    left, right = col_first[:, None, :], col_stop[:, None, :]
    sums = table[bottom, right] - table[top, right] - table[bottom, left] + table[top, left]
    rows = (row_stop - row_first).astype(np.float32)[:, :, None, None]
    cols = (col_stop - col_first).astype(np.float32)[:, None, :, None]
    return sums.astype(np.float32) / rows / cols
