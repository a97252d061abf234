"""MTCNN, the default detector: the P-Net, R-Net, O-Net cascade on ONNX Runtime, numpy around it.

The cascade is facenet-pytorch 2.6.0's ``detect_face``, step for step: an image pyramid (each level
``scale_factor`` times the previous, area resampling), P-Net proposals at stride 2 with 12-pixel
cells kept at ``thresholds[0]``, IoU 0.5 suppression per level and 0.7 over all levels, box
regression, squaring; R-Net on 24x24 crops (kept above ``thresholds[1]``, IoU 0.7, regression,
squaring); O-Net on 48x48 crops (kept above ``thresholds[2]``), five landmarks, regression, and a
final suppression by intersection over the smaller box at 0.7. Faces come back largest first.

The networks come from the cached export (``facert models export mtcnn``); see
:mod:`facert.export.families.mtcnn.export` for the graphs and :mod:`facert.stages.detect.mtcnn_boxes` for the box rules.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from facert.backends import Engine, engine_for
from facert.backends.base import Lifecycle, open_all
from facert.errors import InputError, UsageError
from facert.models.artifacts import Artifact
from facert.models.specs.mtcnn import CROP_SIZES, INPUT_NAME
from facert.stages.detect.area import crop_area, resize_area, summed_area_table
from facert.stages.detect.mtcnn_boxes import (
    crop_windows,
    level_size,
    nms,
    nms_min,
    place_landmarks,
    proposals,
    pyramid_scales,
    shift_boxes,
    shift_proposals,
    square,
)
from facert.stages.faces import Face

Timings = dict[str, float]


@dataclass(frozen=True)
class MtcnnOptions:
    """What MTCNN looks for.

    ``min_face_size``: the smallest face searched for, in frame pixels (larger is faster).
    ``thresholds``: face probabilities P-Net, R-Net and O-Net must reach, each in [0, 1].
    ``scale_factor``: the ratio between pyramid levels, in (0, 1) (closer to 1: more levels).
    """

    min_face_size: float = 20
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    scale_factor: float = 0.709

    def __post_init__(self) -> None:
        if not self.min_face_size >= 1:
            raise UsageError(f"min_face_size must be at least 1 pixel, got {self.min_face_size}")
        if len(self.thresholds) != 3 or not all(0 <= t <= 1 for t in self.thresholds):
            raise UsageError(f"thresholds must be three numbers in [0, 1], got {self.thresholds}")
        if not 0 < self.scale_factor < 1:
            raise UsageError(f"scale_factor must lie in (0, 1), got {self.scale_factor}")


def _normalise(pixels: np.ndarray) -> np.ndarray:
    """Pixel values 0-255 (float32, any layout) -> ``(x - 127.5) / 128``, contiguous, in place when
    ``pixels`` is already contiguous."""
    pixels = np.ascontiguousarray(pixels)
    pixels -= np.float32(127.5)
    pixels *= np.float32(0.0078125)
    return pixels


NETWORKS = ("pnet", "rnet", "onet")
Outputs = Mapping[str, np.ndarray]

# The cascade's steps between the networks: the networks' outputs (host arrays, by the names of
# facert.models.specs.mtcnn.OUTPUT_NAMES) in, boxes out. The GPU detector
# (facert.pipeline.gpu_detect) runs the same networks on the GPU and these same steps.


def level_proposals(
    outputs: Outputs, scale: float, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P-Net's output on one pyramid level (batch 1) -> its proposals' boxes, scores and offsets,
    suppressed within the level (IoU 0.5)."""
    boxes, scores, offsets = proposals(
        outputs["offsets"][0], outputs["probabilities"][0, 1], scale, threshold
    )
    keep = nms(boxes, scores, 0.5)
    return boxes[keep], scores[keep], offsets[keep]


def merge_proposals(found: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray:
    """Every level's proposals -> the squared, regressed candidates (N, 4) float32 (IoU 0.7 over
    all levels)."""
    if not found:
        return np.zeros((0, 4), np.float32)
    boxes, scores, offsets = (np.concatenate(parts) for parts in zip(*found, strict=True))
    keep = nms(boxes, scores, 0.7)
    return square(shift_proposals(boxes[keep], offsets[keep]))


def refine_boxes(boxes: np.ndarray, outputs: Outputs, threshold: float) -> np.ndarray:
    """R-Net's output on the crops of ``boxes`` -> the squared, regressed boxes it keeps."""
    scores = outputs["probabilities"][:, 1]
    passed = scores > threshold
    boxes, scores, offsets = boxes[passed], scores[passed], outputs["offsets"][passed]
    keep = nms(boxes, scores, 0.7)
    return square(shift_boxes(boxes[keep], offsets[keep]))


def output_boxes(
    boxes: np.ndarray, outputs: Outputs, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """O-Net's output on the crops of ``boxes`` -> boxes (N, 4), scores (N,), landmarks (N, 5, 2)."""
    scores = outputs["probabilities"][:, 1]
    passed = scores > threshold
    boxes, scores = boxes[passed], scores[passed]
    landmarks = place_landmarks(boxes, outputs["landmarks"][passed])
    boxes = shift_boxes(boxes, outputs["offsets"][passed])
    keep = nms_min(boxes, scores, 0.7)
    return boxes[keep], scores[keep], landmarks[keep]


def faces_by_area(boxes: np.ndarray, scores: np.ndarray, landmarks: np.ndarray) -> list[Face]:
    """The faces, largest box first (ties keep their order)."""
    order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), kind="stable")
    return [Face(box=boxes[i], score=float(scores[i]), landmarks=landmarks[i]) for i in order]


def check_image(image: object) -> None:
    """:class:`InputError` unless ``image`` is an (H, W, 3) uint8 array with pixels."""
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3):
        raise InputError(f"expected an (H, W, 3) uint8 BGR image, got {_describe(image)}")
    if image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise InputError(f"expected an (H, W, 3) uint8 BGR image, got {_describe(image)}")


class MtcnnDetector(Lifecycle):
    """Faces in (H, W, 3) uint8 BGR frames, with box, score and five landmarks in frame pixels.

    ``engines`` holds the three networks by name (``pnet``, ``rnet``, ``onet``); the detector owns
    them. The constructor only records its arguments; :meth:`open` (or ``with``) opens the three,
    :meth:`close` closes them and may be called twice.
    """

    def __init__(self, engines: Mapping[str, Engine], options: MtcnnOptions | None = None) -> None:
        if sorted(engines) != sorted(NETWORKS):
            raise UsageError(f"MTCNN needs the engines {list(NETWORKS)}, got {sorted(engines)}")
        self.engines = dict(engines)
        self.options = options or MtcnnOptions()

    @classmethod
    def from_artifact(
        cls, artifact: Artifact, options: MtcnnOptions | None = None, *, threads: int = 0
    ) -> MtcnnDetector:
        """The detector (not opened) on the engines for the export's three graphs; ``threads`` 0
        lets the backend choose."""
        engines = {n: engine_for(artifact.path(f"{n}.onnx"), threads=threads) for n in NETWORKS}
        return cls(engines, options)

    def _acquire(self) -> None:
        open_all(self.engines[name] for name in NETWORKS)

    def _release(self) -> None:
        for engine in self.engines.values():
            engine.close()

    def _run(self, name: str, batch: np.ndarray) -> dict[str, np.ndarray]:
        self._require_open()
        return self.engines[name].run({INPUT_NAME: batch})

    def detect(self, image: np.ndarray, timings: Timings | None = None) -> list[Face]:
        """Every face in ``image``, (H, W, 3) uint8 BGR, largest box first.

        When ``timings`` is given, the seconds spent in each stage are added to it by name.
        """
        check_image(image)
        clock = _Clock(timings)
        table = summed_area_table(image, order=(2, 1, 0))  # RGB planes
        clock.lap("summed_area_table")
        boxes = self._propose(table, clock)
        if len(boxes):
            boxes = self._refine(table, boxes, clock)
        if not len(boxes):
            return []
        boxes, scores, landmarks = self._output(table, boxes, clock)
        clock.lap("onet_boxes")
        return faces_by_area(boxes, scores, landmarks)

    def _propose(self, table: np.ndarray, clock: _Clock) -> np.ndarray:
        """Stage 1: P-Net over the pyramid -> squared candidate boxes (N, 4) float32."""
        height, width = table.shape[1] - 1, table.shape[2] - 1
        threshold = self.options.thresholds[0]
        found = []
        for scale in pyramid_scales(
            height, width, self.options.min_face_size, self.options.scale_factor
        ):
            level = _normalise(resize_area(table, *level_size(height, width, scale)))[None]
            clock.lap("pyramid")
            outputs = self._run("pnet", level)
            clock.lap("pnet")
            found.append(level_proposals(outputs, scale, threshold))
            clock.lap("pnet_boxes")
        candidates = merge_proposals(found)
        clock.lap("pnet_boxes")
        return candidates

    def _crops(
        self, table: np.ndarray, boxes: np.ndarray, name: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """The boxes that touch the frame and their crops for ``name``: (N, 3, S, S) float32."""
        windows, valid = crop_windows(boxes, table.shape[2] - 1, table.shape[1] - 1)
        return boxes[valid], _normalise(crop_area(table, windows[valid], CROP_SIZES[name]))

    def _refine(self, table: np.ndarray, boxes: np.ndarray, clock: _Clock) -> np.ndarray:
        """Stage 2: R-Net on 24x24 crops -> squared, regressed boxes (N, 4) float32."""
        boxes, crops = self._crops(table, boxes, "rnet")
        clock.lap("rnet_crops")
        if not len(boxes):
            return boxes
        outputs = self._run("rnet", crops)
        clock.lap("rnet")
        refined = refine_boxes(boxes, outputs, self.options.thresholds[1])
        clock.lap("rnet_boxes")
        return refined

    def _output(
        self, table: np.ndarray, boxes: np.ndarray, clock: _Clock
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stage 3: O-Net on 48x48 crops -> boxes (N, 4), scores (N,), landmarks (N, 5, 2)."""
        boxes, crops = self._crops(table, boxes, "onet")
        clock.lap("onet_crops")
        if not len(boxes):
            return boxes, np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
        outputs = self._run("onet", crops)
        clock.lap("onet")
        found = output_boxes(boxes, outputs, self.options.thresholds[2])
        clock.lap("onet_boxes")
        return found


class _Clock:
    """Adds the seconds since the previous lap to ``timings[stage]`` (nothing when it is None)."""

    def __init__(self, timings: Timings | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        if self.timings is not None:
            now = time.perf_counter()
            self.timings[stage] = self.timings.get(stage, 0.0) + now - self.last
            self.last = now


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__
