"""The box arithmetic of the MTCNN cascade, in float32 numpy, as facenet-pytorch computes it.

Boxes are (N, 4) float32 ``x1, y1, x2, y2`` in frame pixels; scores are (N,) float32; offsets are
the networks' (N, 4) float32 box regressions ``dx1, dy1, dx2, dy2`` (fractions of the box size).
The conventions are the reference's, kept on purpose: P-Net cells map to boxes with a 1-based
corner (``floor((2 * cell + 1) / scale)``), R-Net/O-Net regressions and landmarks measure the box as
``x2 - x1 + 1`` pixels, and crops read pixel rows ``trunc(y1) - 1 .. trunc(y2) - 1``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

STRIDE = 2  # P-Net's output cells step 2 pixels of its input...
CELL_SIZE = 12  # ...and each sees a 12x12 window


def pyramid_scales(height: int, width: int, min_face_size: float, factor: float) -> list[float]:
    """The scales at which P-Net runs, largest first: a face of ``min_face_size`` pixels becomes
    12 pixels at the first scale; the last level is still at least 12 pixels on its short side."""
    scale = 12.0 / min_face_size
    short_side = min(height, width) * scale
    scales = []
    while short_side >= 12:
        scales.append(scale)
        scale *= factor
        short_side *= factor
    return scales


def level_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """(height, width) of the pyramid level at ``scale``."""
    return int(height * scale + 1), int(width * scale + 1)


def cell_grid(height: int, width: int) -> tuple[int, int]:
    """P-Net's output rows and columns on a (height, width) input of at least 12x12: one cell per
    12-pixel window at stride 2, plus one for a last partial window (its pooling rounds up)."""
    return -(-(height - 2) // 2) - 4, -(-(width - 2) // 2) - 4


def level_bands(height: int, width: int, cells: int) -> list[tuple[int, int]]:
    """Bands of P-Net's output rows on a (height, width) level, about ``cells`` cells each:
    ``(first, stop)`` rows, in order, together covering every row once."""
    rows, columns = cell_grid(height, width)
    step = max(1, cells // columns)
    return [(first, min(first + step, rows)) for first in range(0, rows, step)]


def band_input_rows(first: int, stop: int, height: int) -> tuple[int, int]:
    """The rows ``(top, bottom)`` of a level ``height`` rows tall that P-Net's output rows
    ``first .. stop - 1`` see: cell row ``r`` sees input rows ``2r .. 2r + 11``. P-Net on these rows
    alone gives exactly those output rows; the last band runs to the level's bottom edge."""
    return STRIDE * first, min(height, STRIDE * stop + CELL_SIZE - STRIDE)


def proposals(
    offsets: np.ndarray, face_probability: np.ndarray, scale: float, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes, scores and offsets of the P-Net cells whose face probability is >= ``threshold``.

    ``offsets``: (4, h, w) float32; ``face_probability``: (h, w) float32; boxes come back in frame
    pixels (divided by ``scale``), cells in row-major order.
    """
    rows, cols = np.nonzero(face_probability >= threshold)
    cells = np.stack([cols, rows], axis=1).astype(np.float32)
    scale32 = np.float32(scale)
    corner1 = np.floor((STRIDE * cells + 1) / scale32)
    corner2 = np.floor((STRIDE * cells + CELL_SIZE) / scale32)
    boxes = np.concatenate([corner1, corner2], axis=1)
    return boxes, face_probability[rows, cols], offsets[:, rows, cols].T


MATRIX_LIMIT = 2048  # up to this many boxes, suppression works from the full overlap matrix

Overlap = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _greedy(scores: np.ndarray, overlap: Overlap, limit: float) -> np.ndarray:
    """Indices kept by greedy suppression: visit boxes by descending score, keep one unless an
    already kept box overlaps it by more than ``limit``. ``overlap(a, b)``: (len(a), len(b))."""
    order = np.argsort(-scores, kind="stable")
    if len(order) > MATRIX_LIMIT:  # memory-bound: one kept box against the rest at a time
        keep = []
        while order.size:
            keep.append(order[0])
            order = order[1:][overlap(order[:1], order[1:])[0] <= limit]
        return np.asarray(keep, dtype=np.int64)
    suppresses = overlap(order, order) > limit
    removed = np.zeros(len(order), dtype=bool)
    kept = []
    for rank in range(len(order)):
        if not removed[rank]:
            kept.append(rank)
            removed |= suppresses[rank]
    return order[np.asarray(kept, dtype=np.int64)]


def _intersection(boxes: np.ndarray, a: np.ndarray, b: np.ndarray, plus: float) -> np.ndarray:
    """(len(a), len(b)) float32 intersection areas; ``plus`` 1 counts pixels inclusively."""
    x1, y1, x2, y2 = (column[:, None] for column in boxes[a].T)
    u1, v1, u2, v2 = boxes[b].T
    zero, plus32 = np.float32(0), np.float32(plus)
    width = np.maximum(zero, np.minimum(x2, u2) - np.maximum(x1, u1) + plus32)
    height = np.maximum(zero, np.minimum(y2, v2) - np.maximum(y1, v1) + plus32)
    return width * height


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression by IoU > ``threshold`` (areas ``(x2 - x1) * (y2 - y1)``, as
    torchvision's ``nms``): indices of the kept boxes, highest score first."""
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])

    def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        inter = _intersection(boxes, a, b, 0)
        return inter / (areas[a][:, None] + areas[b] - inter)

    return _greedy(scores, iou, threshold)


def nms_min(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy suppression by intersection over the smaller box > ``threshold`` (pixels counted
    inclusively, ``x2 - x1 + 1``), the reference's last step: kept indices, highest score first."""
    areas = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)

    def over_smaller(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _intersection(boxes, a, b, 1) / np.minimum(areas[a][:, None], areas[b])

    return _greedy(scores, over_smaller, threshold)


def shift_proposals(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """P-Net's regression: each edge moves by its offset times the box size ``x2 - x1``."""
    size = np.concatenate([boxes[:, 2:] - boxes[:, :2]] * 2, axis=1)
    return boxes + offsets * size


def shift_boxes(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """R-Net's and O-Net's regression: the box size counts ``x2 - x1 + 1`` pixels."""
    size = np.concatenate([boxes[:, 2:] - boxes[:, :2] + 1] * 2, axis=1)
    return boxes + offsets * size


def square(boxes: np.ndarray) -> np.ndarray:
    """The square of side ``max(width, height)`` centred on each box."""
    size = boxes[:, 2:] - boxes[:, :2]
    side = size.max(axis=1, keepdims=True)
    corner = boxes[:, :2] + size * np.float32(0.5) - side * np.float32(0.5)
    return np.concatenate([corner, corner + side], axis=1)


def crop_windows(boxes: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The pixel windows the next network sees: ``windows`` (N, 4) int64 ``top, bottom, left,
    right`` (half-open, clipped to the frame, not padded) and ``valid`` (N,) bool, false where the
    box lies wholly outside the frame."""
    corners = np.trunc(boxes).astype(np.int64)
    left = np.maximum(corners[:, 0], 1) - 1
    top = np.maximum(corners[:, 1], 1) - 1
    right = np.minimum(corners[:, 2], width)
    bottom = np.minimum(corners[:, 3], height)
    windows = np.stack([top, bottom, left, right], axis=1)
    return windows, (bottom > top) & (right > left)


def place_landmarks(boxes: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """O-Net's landmarks in frame pixels: (N, 5, 2) float32 ``x, y`` from (N, 10) fractions (five x
    then five y) of the boxes O-Net saw."""
    size = boxes[:, 2:] - boxes[:, :2] + 1
    x = size[:, :1] * fractions[:, :5] + boxes[:, :1] - 1
    y = size[:, 1:] * fractions[:, 5:] + boxes[:, 1:2] - 1
    return np.stack([x, y], axis=2)
