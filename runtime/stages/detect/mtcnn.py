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
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from facert.backends import Engine, engine_for
from facert.backends.base import Lifecycle, open_all
from facert.backends.device import local_cores
from facert.errors import InputError, UsageError
from facert.models.artifacts import Artifact
from facert.models.specs.mtcnn import CROP_SIZES, INPUT_NAME
from facert.stages.detect.area import crop_area, resize_area, summed_area_table
from facert.stages.detect.mtcnn_boxes import (
    band_input_rows,
    crop_windows,
    level_bands,
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
_Piece = TypeVar("_Piece")
_Result = TypeVar("_Result")

# The pieces the networks run on, sized for a core's L2 cache (about 1-2 MB of feature maps):
# measured on the bench frame, 1 thread, CPU time, against whole levels and whole batches: P-Net
# 16.0 ms in bands of ~16 rows of 284 cells against 19.8 ms whole; R-Net 19.5 ms in batches of 16
# crops against 33 ms for all 373; O-Net 12.5 ms in batches of 4 against 16.2 ms for 48.
BAND_CELLS = 4096  # P-Net output cells per band of a pyramid level (whole rows, at least one)
BATCH_PIXELS = 16 * 24 * 24  # crop pixels per R-Net or O-Net batch: 16 crops of 24x24, 4 of 48x48


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

    The networks run on pieces small enough for a core's cache (P-Net on bands of
    :data:`BAND_CELLS` output cells of a pyramid level, R-Net and O-Net on batches of
    :data:`BATCH_PIXELS` crop pixels), each piece with the numpy work that builds its input.
    ``workers`` > 1 runs that many pieces at once on a thread pool (numpy and ONNX Runtime release
    the GIL): the engines must then take concurrent ``run`` calls, as ONNX Runtime sessions do.
    The pieces' outputs are those of whole levels and whole batches, bit for bit.
    """

    def __init__(
        self,
        engines: Mapping[str, Engine],
        options: MtcnnOptions | None = None,
        *,
        workers: int = 1,
    ) -> None:
        if sorted(engines) != sorted(NETWORKS):
            raise UsageError(f"MTCNN needs the engines {list(NETWORKS)}, got {sorted(engines)}")
        if workers < 1:
            raise UsageError(f"MTCNN needs at least 1 worker, got {workers}")
        self.engines = dict(engines)
        self.options = options or MtcnnOptions()
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None

    @classmethod
    def from_artifact(
        cls, artifact: Artifact, options: MtcnnOptions | None = None, *, threads: int = 0
    ) -> MtcnnDetector:
        """The detector (not opened) on single-threaded engines for the export's three graphs, run
        by ``threads`` workers (0: one per core this process may use). Whole pieces per core
        beat ONNX Runtime's threads inside each run: these networks are too small to split well,
        and the numpy work runs on every core too."""
        engines = {n: engine_for(artifact.path(f"{n}.onnx"), threads=1) for n in NETWORKS}
        return cls(engines, options, workers=threads or local_cores())

    def _acquire(self) -> None:
        open_all(self.engines[name] for name in NETWORKS)
        if self.workers > 1:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="mtcnn")

    def _release(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        for engine in self.engines.values():
            engine.close()

    def _map(self, work: Callable[[_Piece], _Result], pieces: Sequence[_Piece]) -> list[_Result]:
        """``work`` on every piece, results in the pieces' order (on the workers when open)."""
        if self._pool is None or len(pieces) < 2:
            return [work(piece) for piece in pieces]
        return list(self._pool.map(work, pieces))

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
        """Stage 1: P-Net over the pyramid -> squared candidate boxes (N, 4) float32. The levels
        are resampled first (a level per piece), then P-Net runs band by band."""
        height, width = table.shape[0] - 1, table.shape[1] - 1
        scales = pyramid_scales(
            height, width, self.options.min_face_size, self.options.scale_factor
        )

        def resample(scale: float) -> np.ndarray:
            return _normalise(resize_area(table, *level_size(height, width, scale)))[None]

        levels = self._map(resample, scales)
        clock.lap("pyramid")
        bands = [
            (level, band)
            for level, pixels in enumerate(levels)
            for band in level_bands(*pixels.shape[2:], BAND_CELLS)
        ]

        def run_band(piece: tuple[int, tuple[int, int]]) -> dict[str, np.ndarray]:
            level, (first, stop) = piece
            top, bottom = band_input_rows(first, stop, levels[level].shape[2])
            return self._run("pnet", np.ascontiguousarray(levels[level][:, :, top:bottom]))

        outputs = self._map(run_band, bands)
        clock.lap("pnet")

        def propose(level: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            parts = [out for (index, _), out in zip(bands, outputs, strict=True) if index == level]
            whole = {key: np.concatenate([p[key] for p in parts], axis=2) for key in parts[0]}
            return level_proposals(whole, scales[level], self.options.thresholds[0])

        # in turn: these are many small numpy calls, slower on two threads contending for the GIL
        candidates = merge_proposals([propose(level) for level in range(len(scales))])
        clock.lap("pnet_boxes")
        return candidates

    def _on_crops(
        self, table: np.ndarray, boxes: np.ndarray, name: str
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Network ``name`` (rnet, onet) on the crops of the boxes that touch the frame: those
        boxes and the network's outputs for them (empty when there are none). Each worker crops
        one share of the boxes at once (fewer numpy calls), then runs the network batch by batch."""
        windows, valid = crop_windows(boxes, table.shape[1] - 1, table.shape[0] - 1)
        boxes, windows = boxes[valid], windows[valid]
        size = CROP_SIZES[name]
        batch = max(1, BATCH_PIXELS // (size * size))
        share = batch * -(-len(boxes) // (batch * self.workers))  # whole batches per worker

        def run_share(start: int) -> dict[str, np.ndarray]:
            crops = _normalise(crop_area(table, windows[start : start + share], size))
            return _joined(
                [self._run(name, crops[i : i + batch]) for i in range(0, len(crops), batch)]
            )

        if not len(boxes):
            return boxes, {}
        return boxes, _joined(self._map(run_share, range(0, len(boxes), share)))

    def _refine(self, table: np.ndarray, boxes: np.ndarray, clock: _Clock) -> np.ndarray:
        """Stage 2: R-Net on 24x24 crops -> squared, regressed boxes (N, 4) float32."""
        boxes, outputs = self._on_crops(table, boxes, "rnet")
        clock.lap("rnet")
        if not len(boxes):
            return boxes
        refined = refine_boxes(boxes, outputs, self.options.thresholds[1])
        clock.lap("rnet_boxes")
        return refined

    def _output(
        self, table: np.ndarray, boxes: np.ndarray, clock: _Clock
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stage 3: O-Net on 48x48 crops -> boxes (N, 4), scores (N,), landmarks (N, 5, 2)."""
        boxes, outputs = self._on_crops(table, boxes, "onet")
        clock.lap("onet")
        if not len(boxes):
            return boxes, np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
        return output_boxes(boxes, outputs, self.options.thresholds[2])


def _joined(parts: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The networks' outputs on consecutive batches, joined along the batch axis."""
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


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
