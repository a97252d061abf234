"""What single-network detectors (YuNet, RetinaFace) share: one engine, a prepared copy of the
frame in, decoded faces in frame pixels out, largest box first, and the time of each stage.

A family subclasses :class:`OneGraphDetector` and supplies :meth:`~OneGraphDetector.prepare` (the
network's input from the frame) and :meth:`~OneGraphDetector.decode` (the faces from the outputs,
in frame pixels); the class attributes name its graph's input and its timing stages.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np

from facert.backends import Engine, engine_for
from facert.backends.base import Lifecycle
from facert.errors import UsageError
from facert.models.artifacts import Artifact
from facert.stages.detect.mtcnn import check_image, faces_by_area
from facert.stages.faces import Face

Timings = dict[str, float]
Detections = tuple[np.ndarray, np.ndarray, np.ndarray]  # boxes (N, 4), scores (N,), marks (N, 5, 2)
Options = TypeVar("Options")
_Self = TypeVar("_Self", bound="OneGraphDetector[Any]")


def check_copy_options(min_face_size: float, detect_side: int, **fractions: float) -> None:
    """:class:`UsageError` unless ``min_face_size`` >= 1 px, ``detect_side`` >= 0 and every one of
    ``fractions`` (thresholds, by name) lies in [0, 1]."""
    if not min_face_size >= 1:
        raise UsageError(f"min_face_size must be at least 1 pixel, got {min_face_size}")
    if detect_side < 0:
        raise UsageError(f"detect_side must be 0 or a size in pixels, got {detect_side}")
    for name, value in fractions.items():
        if not 0 <= value <= 1:
            raise UsageError(f"{name} must lie in [0, 1], got {value}")


def copy_scale(
    height: int, width: int, min_face_size: float, detect_side: int, native_min_face: float
) -> float:
    """The factor (at most 1) from frame pixels to the detection copy's: small enough to bring the
    longer side to ``detect_side`` (0: no limit), never so small that a ``min_face_size`` face
    falls below the network's smallest, ``native_min_face`` pixels."""
    keep_small = native_min_face / min_face_size
    fit = detect_side / max(height, width) if detect_side else 1.0
    return min(1.0, max(fit, keep_small))


class OneGraphDetector(Lifecycle, Generic[Options]):
    """Faces in (H, W, 3) uint8 BGR frames: box, score and five landmarks in frame pixels, largest
    box first. The constructor records its arguments; :meth:`open` opens the engine."""

    input_name: ClassVar[str]  # the graph's image input
    stage: ClassVar[str]  # timing names: "<stage>_prepare", "<stage>_network", "<stage>_decode"
    default_options: ClassVar[Any]

    def __init__(self, engine: Engine, options: Options | None = None) -> None:
        self.engine = engine
        self.options: Options = options if options is not None else self.default_options

    @classmethod
    def from_artifact(
        cls: type[_Self], artifact: Artifact, options: Any = None, *, threads: int = 0
    ) -> _Self:
        """The detector (not opened) on the export's graph; ``threads`` 0 lets the backend choose."""
        return cls(engine_for(artifact.path("model.onnx"), threads=threads), options)

    def _acquire(self) -> None:
        self.engine.open()

    def _release(self) -> None:
        self.engine.close()

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """The network's input for ``image`` ((H, W, 3) uint8 BGR)."""
        raise NotImplementedError

    def decode(
        self, outputs: dict[str, np.ndarray], blob: np.ndarray, image: np.ndarray
    ) -> Detections:
        """The faces of ``outputs`` (run on ``blob``, made from ``image``) in frame pixels."""
        raise NotImplementedError

    def detect(self, image: np.ndarray, timings: Timings | None = None) -> list[Face]:
        """Every face in ``image``, (H, W, 3) uint8 BGR, largest box first. When ``timings`` is
        given, the seconds spent in each stage are added to it by name."""
        self._require_open()
        check_image(image)
        start = time.perf_counter()
        blob = self.prepare(image)
        prepared = time.perf_counter()
        outputs = self.engine.run({self.input_name: blob})
        ran = time.perf_counter()
        boxes, scores, marks = self.decode(outputs, blob, image)
        if timings is not None:
            for step, seconds in (
                ("prepare", prepared - start),
                ("network", ran - prepared),
                ("decode", time.perf_counter() - ran),
            ):
                name = f"{self.stage}_{step}"
                timings[name] = timings.get(name, 0.0) + seconds
        return faces_by_area(boxes, scores, marks)
