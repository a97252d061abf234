"""RetinaFace on facert's engines: a scaled copy of the frame in, faces in frame pixels out.

The network is facexlib's (ResNet-50 or MobileNet-0.25, exported by
:mod:`facert.export.families.retinaface`); anchors, decoding and suppression are facexlib's
``detect_faces`` in NumPy (:mod:`facert.stages.detect.retinaface_boxes`). facexlib runs on the whole
frame (``use_origin_size=True``); facert first scales large frames down (area interpolation) so
that the smallest face asked for, ``min_face_size`` frame pixels, is :data:`NATIVE_MIN_FACE` pixels
in the copy (the smallest anchor), and not more than needed to bring the longer side to
``detect_side``. Boxes and landmarks are mapped back by the scale. With ``detect_side=0`` and a
``min_face_size`` of 16 or less nothing is scaled: facexlib's own detection.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facert.models.specs.retinaface import INPUT_NAME, MEAN_BGR, OUTPUT_NAMES
from facert.stages.detect.one_graph import (
    Detections,
    OneGraphDetector,
    check_copy_options,
    copy_scale,
)
from facert.stages.detect.retinaface_boxes import decode, suppress

NATIVE_MIN_FACE = 16.0  # pixels: RetinaFace's smallest anchor (stride 8, size 16)


@dataclass(frozen=True)
class RetinafaceOptions:
    """What RetinaFace looks for.

    ``min_face_size``: the smallest face searched for, in frame pixels (larger is faster: the copy
    the network sees is smaller). ``detect_side``: the longer side of that copy when
    ``min_face_size`` allows it (0: never scale down). ``score_threshold``: a face's probability
    must exceed it; ``nms_threshold``: the IoU above which a lower-scoring box is dropped. The
    defaults are what facexlib's FaceRestoreHelper passes (0.97 and 0.4; detect_faces' own
    default threshold is 0.8).
    """

    min_face_size: float = 20
    detect_side: int = 640
    score_threshold: float = 0.97
    nms_threshold: float = 0.4

    def __post_init__(self) -> None:
        check_copy_options(
            self.min_face_size,
            self.detect_side,
            score_threshold=self.score_threshold,
            nms_threshold=self.nms_threshold,
        )


def detection_scale(height: int, width: int, options: RetinafaceOptions) -> float:
    """The factor from frame pixels to the pixels of the copy RetinaFace sees (at most 1)."""
    return copy_scale(height, width, options.min_face_size, options.detect_side, NATIVE_MIN_FACE)


def network_input(image: np.ndarray, scale: float) -> np.ndarray:
    """(1, 3, H', W') float32 BGR levels minus :data:`MEAN_BGR`: ``image`` ((H, W, 3) uint8 BGR)
    scaled by ``scale`` (area interpolation) when below 1."""
    if scale < 1.0:
        height, width = image.shape[:2]
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    blob = image.transpose(2, 0, 1)[None].astype(np.float32)
    blob -= np.asarray(MEAN_BGR, np.float32)[:, None, None]
    return blob


class RetinafaceDetector(OneGraphDetector[RetinafaceOptions]):
    """Faces in (H, W, 3) uint8 BGR frames with RetinaFace (:class:`OneGraphDetector`)."""

    input_name = INPUT_NAME
    stage = "retinaface"
    default_options = RetinafaceOptions()

    def prepare(self, image: np.ndarray) -> np.ndarray:
        return network_input(image, detection_scale(image.shape[0], image.shape[1], self.options))

    def decode(
        self, outputs: dict[str, np.ndarray], blob: np.ndarray, image: np.ndarray
    ) -> Detections:
        loc, conf, landmarks = (outputs[name] for name in OUTPUT_NAMES)
        height, width = blob.shape[2:]
        boxes, scores, marks = decode(
            loc, conf, landmarks, height, width, self.options.score_threshold
        )
        kept = suppress(boxes, scores, self.options.nms_threshold)
        # A scaled copy maps back by its exact per-axis size ratio (1 when not scaled).
        back = np.array([image.shape[1] / width, image.shape[0] / height])
        boxes = (boxes[kept] * np.tile(back, 2)).astype(np.float32)
        return boxes, scores[kept], (marks[kept] * back).astype(np.float32)
