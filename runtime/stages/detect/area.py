"""Area resampling from a summed-area table: PyTorch's ``interpolate(mode="area")``.

``torch.nn.functional.interpolate(x, size, mode="area")`` is adaptive average pooling: output pixel
``i`` of an axis of ``n_in`` input pixels resized to ``n_out`` is the plain mean of input pixels
``floor(i * n_in / n_out)`` up to (not including) ``ceil((i + 1) * n_in / n_out)``. Those bins
overlap when the ratio is not an integer, and when enlarging they repeat pixels, so OpenCV's
``INTER_AREA`` (exact area weights; bilinear when enlarging) is a different filter. MTCNN's
reference implementation (facenet-pytorch) builds its image pyramid and its R-Net/O-Net crops with
this filter, so facert does too.

Every bin mean is read from a summed-area table in O(1): the table holds exact integer sums, and
the mean is computed as ``float32(sum) / rows / cols`` like PyTorch's kernel, which makes the result
equal to PyTorch's float32 output (bit for bit with torch 2.13; within 2 ulps whichever way a
PyTorch build groups the division, which tests/runtime/stages/detect/test_area.py holds). Tables are built once per frame and shared by every pyramid level
and every crop.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

INT32_SUMS = 2**31  # tables of frames whose pixel sum can reach this are float64


def summed_area_table(image: np.ndarray, order: Sequence[int] | None = None) -> np.ndarray:
    """(H, W, C) uint8 -> (H + 1, W + 1, C) exact sums, ``table[y, x, c] = image[:y, :x, c].sum()``.

    ``order`` picks and orders the channels (``(2, 1, 0)``: BGR in, RGB out). Channels interleaved,
    as the image's: one OpenCV call builds the table (1.5 ms for 1080p against 4 ms for three
    planes), and each lookup below fetches every channel's sum at once. int32 when every sum fits
    (frames up to about 8.4 megapixels), else float64 (exact to 2**53).
    """
    height, width = image.shape[:2]
    depth = cv2.CV_32S if height * width * 255 < INT32_SUMS else cv2.CV_64F
    if order is not None and tuple(order) == (2, 1, 0) and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)  # the common case, 10x faster than a gather
    elif order is not None:
        image = np.ascontiguousarray(image[:, :, list(order)])
    table = cv2.integral(np.ascontiguousarray(image), sdepth=depth)
    return table.reshape(height + 1, width + 1, -1)  # OpenCV drops the axis of one channel


def bins(start: np.ndarray, length: np.ndarray, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive-pooling bins of ``out_size`` outputs over ``[start, start + length)``.

    ``start`` and ``length``: (N,) integer arrays. Returns ``first`` and ``stop``, each (N, out_size)
    int64: output ``i`` of span ``n`` averages input indices ``first[n, i] .. stop[n, i] - 1``.
    """
    index = np.arange(out_size, dtype=np.int64)
    length = np.asarray(length, dtype=np.int64)[:, None]
    start = np.asarray(start, dtype=np.int64)[:, None]
    first = (index * length) // out_size
    stop = -((-(index + 1) * length) // out_size)
    return start + first, start + stop


def resize_area(table: np.ndarray, out_height: int, out_width: int) -> np.ndarray:
    """The whole image of ``table`` resized to (C, out_height, out_width) float32 (values 0-255).

    Separable: rows are gathered first, then columns, about ``C * out_height * (W + out_width)``
    element operations.
    """
    height, width = table.shape[0] - 1, table.shape[1] - 1
    (row_first,), (row_stop,) = bins(np.zeros(1), np.array([height]), out_height)
    (col_first,), (col_stop,) = bins(np.zeros(1), np.array([width]), out_width)
    row_sums = np.take(table, row_stop, axis=0) - np.take(table, row_first, axis=0)
    sums = np.take(row_sums, col_stop, axis=1) - np.take(row_sums, col_first, axis=1)
    means = np.empty((table.shape[2], out_height, out_width), np.float32)
    np.copyto(means, sums.transpose(2, 0, 1), casting="unsafe")  # rounds as astype(np.float32)
    means /= (row_stop - row_first).astype(np.float32)[:, None]
    means /= (col_stop - col_first).astype(np.float32)
    return means


def crop_area(table: np.ndarray, windows: np.ndarray, size: int) -> np.ndarray:
    """Every window of ``table`` resized to (size, size): (N, C, size, size) float32 (values 0-255).

    ``windows``: (N, 4) integer ``top, bottom, left, right``, half-open and inside the image, each
    at least one pixel tall and wide. All crops are gathered at once, with no loop over windows:
    one lookup of the table's four corner sums per output pixel, every channel at a time.
    """
    count, channels, stride = len(windows), table.shape[2], table.shape[1]
    row_first, row_stop = bins(windows[:, 0], windows[:, 1] - windows[:, 0], size)
    col_first, col_stop = bins(windows[:, 2], windows[:, 3] - windows[:, 2], size)
    rows = np.stack([row_first, row_stop], axis=1) * stride  # (N, 2, size): first, stop
    cols = np.stack([col_first, col_stop], axis=1)
    corners = rows[:, :, :, None, None] + cols[:, None, None, :, :]  # (N, 2, size, 2, size)
    found = np.take(table.reshape(-1, channels), corners.ravel(), axis=0)
    found = found.reshape(count, 2, size, 2, size, channels).transpose(0, 5, 1, 2, 3, 4)
    sums = found[:, :, 1, :, 1] - found[:, :, 0, :, 1] - found[:, :, 1, :, 0] + found[:, :, 0, :, 0]
    means = np.empty((count, channels, size, size), np.float32)
    np.copyto(means, sums, casting="unsafe")  # rounds as astype(np.float32)
    means /= (row_stop - row_first).astype(np.float32)[:, None, :, None]
    means /= (col_stop - col_first).astype(np.float32)[:, None, None, :]
    return means
