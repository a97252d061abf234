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

import time
from dataclasses import dataclass

import cv2
import numpy as np

from facert.backends import Engine, engine_for
from facert.backends.base import Lifecycle
from facert.errors import UsageError
from facert.models.artifacts import Artifact
from facert.models.specs.retinaface import INPUT_NAME, MEAN_BGR, OUTPUT_NAMES
from facert.stages.detect.mtcnn import check_image, faces_by_area
from facert.stages.detect.retinaface_boxes import decode, suppress
from facert.stages.faces import Face

Timings = dict[str, float]
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
        if not self.min_face_size >= 1:
            raise UsageError(f"min_face_size must be at least 1 pixel, got {self.min_face_size}")
        if self.detect_side < 0:
            raise UsageError(f"detect_side must be 0 or a size in pixels, got {self.detect_side}")
        for name in ("score_threshold", "nms_threshold"):
            if not 0 <= getattr(self, name) <= 1:
                raise UsageError(f"{name} must lie in [0, 1], got {getattr(self, name)}")


def detection_scale(height: int, width: int, options: RetinafaceOptions) -> float:
    """The factor from frame pixels to the pixels of the copy RetinaFace sees (at most 1)."""
    keep_small = NATIVE_MIN_FACE / options.min_face_size
    fit = options.detect_side / max(height, width) if options.detect_side else 1.0
    return min(1.0, max(fit, keep_small))


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


class RetinafaceDetector(Lifecycle):
    """Faces in (H, W, 3) uint8 BGR frames with RetinaFace: box, score and five landmarks in frame
    pixels, largest box first. The constructor records its arguments; :meth:`open` opens the
    engine."""

    def __init__(self, engine: Engine, options: RetinafaceOptions | None = None) -> None:
        self.engine = engine
        self.options = options or RetinafaceOptions()

    @classmethod
    def from_artifact(
        cls, artifact: Artifact, options: RetinafaceOptions | None = None, *, threads: int = 0
    ) -> RetinafaceDetector:
        """The detector (not opened) on the export's graph; ``threads`` 0 lets the backend choose."""
        return cls(engine_for(artifact.path("model.onnx"), threads=threads), options)

    def _acquire(self) -> None:
        self.engine.open()

    def _release(self) -> None:
        self.engine.close()

    def detect(self, image: np.ndarray, timings: Timings | None = None) -> list[Face]:
        """Every face in ``image``, (H, W, 3) uint8 BGR, largest box first. When ``timings`` is
        given, the seconds spent in each stage are added to it by name."""
        self._require_open()
        check_image(image)
        start = time.perf_counter()
        scale = detection_scale(image.shape[0], image.shape[1], self.options)
        blob = network_input(image, scale)
        prepared = time.perf_counter()
        outputs = self.engine.run({INPUT_NAME: blob})
        ran = time.perf_counter()
        loc, conf, landmarks = (outputs[name] for name in OUTPUT_NAMES)
        boxes, scores, marks = decode(
            loc, conf, landmarks, blob.shape[2], blob.shape[3], self.options.score_threshold
        )
        kept = suppress(boxes, scores, self.options.nms_threshold)
        # Scaled copies map back by their exact per-axis size ratio.
        back = np.array([image.shape[1] / blob.shape[3], image.shape[0] / blob.shape[2]])
        boxes = (boxes[kept] * np.tile(back, 2)).astype(np.float32)
        marks = (marks[kept] * back).astype(np.float32)
        if timings is not None:
            for stage, seconds in (
                ("retinaface_prepare", prepared - start),
                ("retinaface_network", ran - prepared),
                ("retinaface_decode", time.perf_counter() - ran),
            ):
                timings[stage] = timings.get(stage, 0.0) + seconds
        return faces_by_area(boxes, scores[kept], marks)
