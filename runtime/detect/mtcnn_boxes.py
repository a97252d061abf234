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


def _greedy(
    order: np.ndarray, overlap: Callable[[int, np.ndarray], np.ndarray], limit: float
) -> np.ndarray:
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        order = rest[overlap(best, rest) <= limit]
    return np.asarray(keep, dtype=np.int64)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression by IoU (areas ``(x2 - x1) * (y2 - y1)``, as torchvision's
    ``nms``): indices of the kept boxes, highest score first."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)

    def iou(best: int, rest: np.ndarray) -> np.ndarray:
        width = np.maximum(
            np.float32(0), np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest])
        )
        height = np.maximum(
            np.float32(0), np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest])
        )
        inter = width * height
        return inter / (areas[best] + areas[rest] - inter)

    return _greedy(np.argsort(-scores, kind="stable"), iou, threshold)


def nms_min(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy suppression by intersection over the smaller box (areas with the +1 pixel
    convention), the reference's last step: indices of the kept boxes, highest score first."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)

    def overlap(best: int, rest: np.ndarray) -> np.ndarray:
        width = np.maximum(
            np.float32(0), np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1
        )
        height = np.maximum(
            np.float32(0), np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1
        )
        return width * height / np.minimum(areas[best], areas[rest])

    return _greedy(np.argsort(-scores, kind="stable"), overlap, threshold)


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
