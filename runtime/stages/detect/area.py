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
    """(H, W, C) uint8 -> (C, H + 1, W + 1) exact sums, ``table[c, y, x] = image[:y, :x, c].sum()``.

    ``order`` picks and orders the channels (``(2, 1, 0)``: BGR in, RGB planes out). One plane per
    channel, so the gathers below copy contiguous rows. int32 when every sum fits (frames up to
    about 8.4 megapixels), else float64 (exact to 2**53).
    """
    height, width = image.shape[:2]
    depth = cv2.CV_32S if height * width * 255 < INT32_SUMS else cv2.CV_64F
    planes = cv2.split(image)
    if order is not None:
        planes = [planes[c] for c in order]
    dtype = np.int32 if depth == cv2.CV_32S else np.float64
    table = np.empty((len(planes), height + 1, width + 1), dtype)
    for plane, out in zip(planes, table, strict=True):
        written = cv2.integral(plane, out, sdepth=depth)  # in place: np.stack would copy 25 MB
        if written is not out:  # OpenCV allocates anew when it dislikes ``out``
            out[...] = written
    return table


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


def resize_area(
    table: np.ndarray, out_height: int, out_width: int, rows: tuple[int, int] | None = None
) -> np.ndarray:
    """The whole image of ``table`` resized to (C, out_height, out_width) float32 (values 0-255),
    or only the output rows ``first <= row < stop`` of it when ``rows`` is ``(first, stop)``:
    (C, stop - first, out_width), the same numbers as those rows of the whole.

    Separable: rows are gathered first, then columns, about ``C * out_height * (W + out_width)``
    element operations.
    """
    height, width = table.shape[1] - 1, table.shape[2] - 1
    (row_first,), (row_stop,) = bins(np.zeros(1), np.array([height]), out_height)
    if rows is not None:
        row_first, row_stop = row_first[rows[0] : rows[1]], row_stop[rows[0] : rows[1]]
    (col_first,), (col_stop,) = bins(np.zeros(1), np.array([width]), out_width)
    row_sums = np.take(table, row_stop, axis=1) - np.take(table, row_first, axis=1)
    sums = np.take(row_sums, col_stop, axis=2) - np.take(row_sums, col_first, axis=2)
    means = sums.astype(np.float32)
    means /= (row_stop - row_first).astype(np.float32)[:, None]
    means /= (col_stop - col_first).astype(np.float32)
    return means


def crop_area(table: np.ndarray, windows: np.ndarray, size: int) -> np.ndarray:
    """Every window of ``table`` resized to (size, size): (N, C, size, size) float32 (0-255).

    ``windows``: (N, 4) integer ``top, bottom, left, right``, half-open and inside the image, each
    at least one pixel tall and wide. All crops are gathered at once (four corner lookups per
    output pixel), with no loop over windows.
    """
    channels, stride = table.shape[0], table.shape[2]
    row_first, row_stop = bins(windows[:, 0], windows[:, 1] - windows[:, 0], size)
    col_first, col_stop = bins(windows[:, 2], windows[:, 3] - windows[:, 2], size)
    top, bottom = (row_first * stride)[:, :, None], (row_stop * stride)[:, :, None]
    left, right = col_first[:, None, :], col_stop[:, None, :]
    flat = table.reshape(channels, -1)

    def corner(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.take(flat, (rows + cols).ravel(), axis=1)

    sums = corner(bottom, right) - corner(top, right) - corner(bottom, left) + corner(top, left)
    means = sums.reshape(channels, len(windows), size, size).astype(np.float32)
    means /= (row_stop - row_first).astype(np.float32)[:, :, None]
    means /= (col_stop - col_first).astype(np.float32)[:, None, :]
    return means.transpose(1, 0, 2, 3)
