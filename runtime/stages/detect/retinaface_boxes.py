"""RetinaFace's anchors, decoding and suppression in NumPy, as facexlib's ``detect_faces`` does them.

facexlib (facexlib/detection/retinaface.py and retinaface_utils.py) builds the anchors ("priors")
with ``PriorBox`` for the input's height H and width W: for each level (stride s, two sizes), for
each cell (i, j) of its ceil(H / s) x ceil(W / s) grid in row-major order, for each size m, the
normalised anchor ``[(j + 0.5) s / W, (i + 0.5) s / H, m / W, m / H]`` (computed in Python floats,
stored float32). An anchor's box is its centre moved by ``loc[:2] * 0.1 * anchor size`` and its
size scaled by ``exp(loc[2:] * 0.2)``, landmark k is the centre moved by ``landmarks[2k:2k + 2] *
0.1 * anchor size``, all times (W, H); the score is ``conf[:, 1]``. Anchors scoring above the
threshold (strictly) are kept, then suppressed greedily by IoU > the NMS threshold with
torchvision's areas ``(x2 - x1) * (y2 - y1)`` (:func:`facert.stages.detect.mtcnn_boxes.nms`).

Only anchors above the threshold are decoded (facexlib decodes all of them first: same numbers).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from facert.errors import UsageError
from facert.models.specs.retinaface import MIN_SIZES, STEPS, VARIANCES
from facert.stages.detect.mtcnn_boxes import nms

Detections = tuple[np.ndarray, np.ndarray, np.ndarray]


@lru_cache(maxsize=8)  # frames of one video share their size
def priors(height: int, width: int) -> np.ndarray:
    """(P, 4) float32 normalised anchors ``cx, cy, w, h`` for an H x W input (read-only)."""
    levels = []
    for step, sizes in zip(STEPS, MIN_SIZES, strict=True):
        rows, cols = -(-height // step), -(-width // step)
        anchors = np.empty((rows, cols, len(sizes), 4), np.float64)
        anchors[..., 0] = ((np.arange(cols) + 0.5) * step / width)[None, :, None]
        anchors[..., 1] = ((np.arange(rows) + 0.5) * step / height)[:, None, None]
        anchors[..., 2] = np.asarray(sizes, np.float64) / width
        anchors[..., 3] = np.asarray(sizes, np.float64) / height
        levels.append(anchors.reshape(-1, 4))
    table = np.concatenate(levels).astype(np.float32)
    table.flags.writeable = False
    return table


def decode(
    loc: np.ndarray,
    conf: np.ndarray,
    landmarks: np.ndarray,
    height: int,
    width: int,
    threshold: float,
) -> Detections:
    """Boxes (N, 4) x1, y1, x2, y2, scores (N,) and landmarks (N, 5, 2), float32 input pixels, of
    the anchors whose face probability exceeds ``threshold``, in anchor order.

    ``loc`` (1, P, 4), ``conf`` (1, P, 2) and ``landmarks`` (1, P, 10): the network's outputs for
    an H x W input. Float32 arithmetic in facexlib's order of operations."""
    anchors = priors(height, width)
    if conf.shape[1] != len(anchors):
        raise UsageError(
            f"RetinaFace's outputs have {conf.shape[1]} anchors, not {len(anchors)} "
            f"for a {width}x{height} input"
        )
    scores = conf[0, :, 1]
    keep = np.flatnonzero(scores > threshold)
    anchors = anchors[keep]
    centre, size = anchors[:, :2], anchors[:, 2:]
    near, scale = np.float32(VARIANCES[0]), np.float32(VARIANCES[1])
    offsets = loc[0, keep]
    box_centre = centre + offsets[:, :2] * near * size
    box_size = size * np.exp(offsets[:, 2:] * scale)
    corner = box_centre - box_size / 2
    frame = np.array([width, height], np.float32)
    boxes = np.concatenate([corner, box_size + corner], axis=1) * np.tile(frame, 2)
    marks = centre[:, None] + landmarks[0, keep].reshape(-1, 5, 2) * near * size[:, None]
    return boxes, scores[keep].astype(np.float32), marks * frame


def suppress(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Kept indices, highest score first: greedy suppression by IoU > ``threshold``."""
    if not len(boxes):
        return np.zeros(0, np.int64)
    return nms(boxes, scores, threshold)
