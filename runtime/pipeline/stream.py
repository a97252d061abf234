"""The stream pipeline: frames in order through detect -> track -> smooth -> align -> restore ->
blend, the faces of consecutive frames restored in shared batches.

:class:`StreamPipeline` runs over a :class:`facert.pipeline.frame.Pipeline`'s own stage methods
(:meth:`~Pipeline.frame_stage`, :meth:`~Pipeline.detect`, :meth:`~Pipeline.align`,
:meth:`~Pipeline.prepare`, :meth:`~Pipeline.blend`), so a frame restored here equals
:meth:`Pipeline.enhance`'s up to the batch its faces went through the network in (with smoothing
off and no filled gaps). Frames are held until their faces fill the restorer's batch or
``StreamConfig.max_frames`` frames wait, whichever comes first: the latency is bounded.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from facert.backends.base import Lifecycle
from facert.errors import UsageError
from facert.pipeline.frame import Pipeline, PreparedFaces
from facert.pipeline.smoothing import LandmarkSmoother, SmoothingConfig
from facert.pipeline.tracks import TrackedFace, Tracker, TrackerConfig


@dataclass(frozen=True)
class StreamConfig:
    """``max_frames``: the most frames held waiting for a batch (the latency bound, in frames; 1
    restores each frame on its own)."""

    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    max_frames: int = 4

    def __post_init__(self) -> None:
        if self.max_frames < 1:
            raise UsageError(f"stream: max_frames must be at least 1, got {self.max_frames}")


@dataclass
class _Held:
    timestamp: float
    image: np.ndarray  # after the frame stage
    faces: list[TrackedFace]
    prepared: PreparedFaces


class StreamPipeline(Lifecycle):
    """Restores a stream of frames with one :class:`Pipeline`, which it owns (opening the stream
    opens it, closing closes it; an error during :meth:`run` closes both before it propagates).

    ``timings``: seconds per stage summed over the frames so far; ``batches``: the number of
    faces of each restorer call.
    """

    def __init__(self, pipeline: Pipeline, config: StreamConfig | None = None) -> None:
        self.pipeline = pipeline
        self.config = config or StreamConfig()
        self.timings: dict[str, float] = {}
        self.batches: list[int] = []

    def _acquire(self) -> None:
        Lifecycle.open(self.pipeline)  # Pipeline.open is its factory

    def _release(self) -> None:
        self.pipeline.close()

    def _time(self, stage: str, start: float) -> float:
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - start
        return now

    def run(
        self, frames: Iterable[tuple[float, np.ndarray]]
    ) -> Iterator[tuple[float, np.ndarray, list[TrackedFace]]]:
        """``frames``: (timestamp in seconds, (H, W, 3) uint8 BGR frame), timestamps increasing.
        Yields (timestamp, restored frame, its tracked faces) in the same order."""
        self._require_open()
        tracker = Tracker(self.config.tracker)
        smoother = LandmarkSmoother(self.config.smoothing)
        held: list[_Held] = []
        last = -np.inf
        try:
            for timestamp, frame in frames:
                if timestamp <= last:
                    raise UsageError(f"stream: timestamp {timestamp} after {last}: not increasing")
                last = timestamp
                held.append(self._front(timestamp, frame, tracker, smoother))
                faces = sum(len(h.faces) for h in held)
                if faces >= self.pipeline.restorer.max_batch or len(held) >= self.config.max_frames:
                    yield from self._flush(held)
                    held = []
            yield from self._flush(held)
        except GeneratorExit:
            raise
        except BaseException:
            self.close()
            raise

    def _front(
        self, timestamp: float, frame: np.ndarray, tracker: Tracker, smoother: LandmarkSmoother
    ) -> _Held:
        """One frame through the frame stage, detection, tracking, smoothing and alignment."""
        pipeline = self.pipeline
        start = time.perf_counter()
        image = pipeline.frame_stage(frame)
        start = self._time("frame", start)
        detected = pipeline.detect(image)
        start = self._time("detect", start)
        tracked = smoother.update(tracker.update(detected), timestamp)
        start = self._time("track", start)
        faces = [t.face for t in tracked]
        crops, affines = pipeline.align(image, faces)
        prepared = pipeline.prepare(image, faces, crops, affines)
        self._time("align", start)
        return _Held(timestamp, image, tracked, prepared)

    def _flush(self, held: list[_Held]) -> Iterator[tuple[float, np.ndarray, list[TrackedFace]]]:
        """Restore the faces of ``held`` in one restorer call, then blend and yield each frame."""
        if not held:
            return
        start = time.perf_counter()
        counts = [len(h.faces) for h in held]
        restored: list[np.ndarray] = [h.prepared.crops for h in held]
        if sum(counts):
            restorer = self.pipeline.restorer
            inputs = np.concatenate([h.prepared.inputs for h in held])
            scales = np.concatenate([h.prepared.scales for h in held])
            values = restorer.face_options(inputs, scales)
            output = restorer.restore(inputs, scales, values)
            restored = np.split(output, np.cumsum(counts)[:-1])
            self.batches.append(len(inputs))
        self._time("restore", start)
        for item, faces in zip(held, restored, strict=True):
            start = time.perf_counter()
            plain = [t.face for t in item.faces]
            frame = self.pipeline.blend(item.image, plain, item.prepared, faces)
            self._time("blend", start)
            yield item.timestamp, frame, item.faces
