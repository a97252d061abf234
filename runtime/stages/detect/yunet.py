"""YuNet on facert's engines: a scaled, padded copy of the frame in, faces in frame pixels out.

The decoding is OpenCV's ``FaceDetectorYN`` (``postProcess`` in objdetect/src/face_detect.cpp):
for every cell (row r, column c) of the stride-s grid, score = sqrt(clamp01(cls) * clamp01(obj));
cells scoring at least ``score_threshold`` give a box centred at ((c + dx) s, (r + dy) s) of size
(exp(dw) s, exp(dh) s) and landmarks ((c + kx) s, (r + ky) s); then non-maximum suppression as
``cv::dnn::NMSBoxes`` does it: boxes truncated to integer rectangles (x, y, w, h), IoU of those
rectangles, greedy by descending score, at most ``top_k`` candidates.

Unlike ``FaceDetectorYN`` (which runs at the size it is given), the detector first scales the frame
(area interpolation) so that the smallest face asked for, ``min_face_size`` frame pixels, is
:data:`NATIVE_MIN_FACE` pixels in the copy, and not more than needed to bring the frame's longer
side to ``detect_side`` (larger copies cost more and YuNet was trained for faces up to about 300
pixels: its boxes degrade on larger faces). Boxes and landmarks are mapped back by the scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facert.errors import UsageError
from facert.models.specs.yunet import DIVISOR, INPUT_NAME, STRIDES
from facert.stages.detect.mtcnn_boxes import nms
from facert.stages.detect.one_graph import (
    Detections,
    OneGraphDetector,
    check_copy_options,
    copy_scale,
)

NATIVE_MIN_FACE = 10.0  # pixels: the smallest faces YuNet was trained for (the zoo's README)


@dataclass(frozen=True)
class YunetOptions:
    """What YuNet looks for.

    ``min_face_size``: the smallest face searched for, in frame pixels (larger is faster: the copy
    the network sees is smaller). ``detect_side``: the longer side of that copy when
    ``min_face_size`` allows it (0: never scale down). ``score_threshold`` and ``nms_threshold``
    as OpenCV's; ``top_k`` candidates enter suppression. The zoo's class defaults are 0.6 and 0.3
    (its demo uses 0.9); facert keeps faces from 0.7: on the sample and real photos of
    bench/detector_choice.py every face a person sees scores 0.90-0.95 and the one false
    detection (a newel post) 0.64.
    """

    min_face_size: float = 20
    detect_side: int = 640
    score_threshold: float = 0.7
    nms_threshold: float = 0.3
    top_k: int = 5000

    def __post_init__(self) -> None:
        check_copy_options(
            self.min_face_size,
            self.detect_side,
            score_threshold=self.score_threshold,
            nms_threshold=self.nms_threshold,
        )
        if self.top_k < 1:
            raise UsageError(f"top_k must be at least 1, got {self.top_k}")


def detection_scale(height: int, width: int, options: YunetOptions) -> float:
    """The factor from frame pixels to the pixels of the copy YuNet sees (at most 1)."""
    return copy_scale(height, width, options.min_face_size, options.detect_side, NATIVE_MIN_FACE)


def padded_blob(image: np.ndarray, scale: float) -> np.ndarray:
    """(1, 3, H', W') float32 BGR levels: ``image`` scaled by ``scale`` (area interpolation) and
    zero-padded on the right and bottom to multiples of :data:`DIVISOR`."""
    height, width = image.shape[:2]
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        height, width = image.shape[:2]
    pad_h, pad_w = -(-height // DIVISOR) * DIVISOR, -(-width // DIVISOR) * DIVISOR
    blob = np.zeros((1, 3, pad_h, pad_w), np.float32)
    blob[0, :, :height, :width] = image.transpose(2, 0, 1)
    return blob


def decode(
    outputs: dict[str, np.ndarray], pad_h: int, pad_w: int, score_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes (N, 4) x1, y1, x2, y2, scores (N,) and landmarks (N, 5, 2), float32, of every cell
    scoring at least ``score_threshold``, in the padded input's pixels, strides in order."""
    boxes, scores, marks = [], [], []
    for stride in STRIDES:
        rows, cols = pad_h // stride, pad_w // stride
        cls = np.clip(outputs[f"cls_{stride}"].reshape(-1), 0, 1)
        obj = np.clip(outputs[f"obj_{stride}"].reshape(-1), 0, 1)
        score = np.sqrt(cls * obj)
        if score.size != rows * cols:
            raise UsageError(
                f"YuNet's stride-{stride} heads have {score.size} cells, not {rows * cols}"
            )
        keep = np.flatnonzero(score >= score_threshold)
        cell = np.stack([keep % cols, keep // cols], axis=1).astype(np.float32)  # (c, r)
        bbox = outputs[f"bbox_{stride}"].reshape(-1, 4)[keep]
        centre = (cell + bbox[:, :2]) * stride
        size = np.exp(bbox[:, 2:]) * stride
        boxes.append(np.concatenate([centre - size / 2, centre + size / 2], axis=1))
        kps = outputs[f"kps_{stride}"].reshape(-1, 5, 2)[keep]
        marks.append((kps + cell[:, None, :]) * stride)
        scores.append(score[keep])
    return (
        np.concatenate(boxes).astype(np.float32),
        np.concatenate(scores).astype(np.float32),
        np.concatenate(marks).astype(np.float32),
    )


def suppress(boxes: np.ndarray, scores: np.ndarray, threshold: float, top_k: int) -> np.ndarray:
    """Kept indices, highest score first, as ``cv::dnn::NMSBoxes(Rect2i, ...)``: each box as the
    integer rectangle (int(x1), int(y1), int(w), int(h)) (truncated toward zero), IoU of those."""
    order = np.argsort(-scores, kind="stable")[:top_k]
    x, y = np.trunc(boxes[order, 0]), np.trunc(boxes[order, 1])
    w, h = np.trunc(boxes[order, 2] - boxes[order, 0]), np.trunc(boxes[order, 3] - boxes[order, 1])
    rects = np.stack([x, y, x + w, y + h], axis=1).astype(np.float32)
    return order[nms(rects, scores[order], threshold)]


class YunetDetector(OneGraphDetector[YunetOptions]):
    """Faces in (H, W, 3) uint8 BGR frames with YuNet (:class:`OneGraphDetector`)."""

    input_name = INPUT_NAME
    stage = "yunet"
    default_options = YunetOptions()

    def prepare(self, image: np.ndarray) -> np.ndarray:
        return padded_blob(image, detection_scale(image.shape[0], image.shape[1], self.options))

    def decode(
        self, outputs: dict[str, np.ndarray], blob: np.ndarray, image: np.ndarray
    ) -> Detections:
        boxes, scores, marks = decode(
            outputs, blob.shape[2], blob.shape[3], self.options.score_threshold
        )
        kept = suppress(boxes, scores, self.options.nms_threshold, self.options.top_k)
        scale = detection_scale(image.shape[0], image.shape[1], self.options)
        return boxes[kept] / scale, scores[kept], marks[kept] / scale
