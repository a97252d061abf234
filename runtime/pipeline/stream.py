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
    restores each frame on its own). ``every``: run the detector on every ``every``-th frame only
    (the first, then every N-th); the frames between restore the tracked faces carried forward
    (:meth:`Tracker.carry`: moved by their last velocity, then smoothed). Faster by the detector's
    share of the time; a face that appears is restored up to ``every - 1`` frames late, and a
    carried face follows a straight line until the next detection. ``batch``: the most faces per
    restorer call (None: the restorer's ``max_batch``); the held frames are restored once that
    many faces wait."""

    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    max_frames: int = 4
    every: int = 1
    batch: int | None = None

    def __post_init__(self) -> None:
        if self.max_frames < 1:
            raise UsageError(f"stream: max_frames must be at least 1, got {self.max_frames}")
        if self.batch is not None and self.batch < 1:
            raise UsageError(f"stream: batch must be at least 1 face, got {self.batch}")
        if self.every < 1:
            raise UsageError(
                f"stream: every must be at least 1 (frames per detection), got {self.every}"
            )


@dataclass
class _Held:
    timestamp: float
    image: np.ndarray  # after the frame stage
    faces: list[TrackedFace]
    prepared: PreparedFaces


StreamOutput = tuple[float, np.ndarray, list[TrackedFace]]  # timestamp, restored frame, faces


class _State:
    """One stream's tracks, filters and held frames (:meth:`StreamPipeline.start` makes a new one)."""

    def __init__(self, config: StreamConfig) -> None:
        self.tracker = Tracker(config.tracker)
        self.smoother = LandmarkSmoother(config.smoothing)
        self.held: list[_Held] = []
        self.last = -np.inf
        self.frames = 0


class StreamPipeline(Lifecycle):
    """Restores a stream of frames with one :class:`Pipeline`, which it owns (opening the stream
    opens it, closing closes it; an error during :meth:`push`, :meth:`finish` or :meth:`run`
    closes both before it propagates).

    Frames go in one at a time with :meth:`push`, which returns the frames whose batch was
    restored (none while a batch fills); :meth:`finish` restores and returns the rest. :meth:`run`
    does both over an iterable. ``timings``: seconds per stage summed over the frames so far;
    ``batches``: the number of faces of each restorer call.
    """

    def __init__(self, pipeline: Pipeline, config: StreamConfig | None = None) -> None:
        self.pipeline = pipeline
        self.config = config or StreamConfig()
        self.timings: dict[str, float] = {}
        self.batches: list[int] = []
        self._state: _State | None = None

    def _acquire(self) -> None:
        Lifecycle.open(self.pipeline)  # Pipeline.open is its factory

    def _release(self) -> None:
        self._state = None
        self.pipeline.close()

    def _time(self, stage: str, start: float) -> float:
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - start
        return now

    def start(self) -> None:
        """Begin a new stream: no tracks, no held frames (the first :meth:`push` does this)."""
        self._require_open()
        self._state = _State(self.config)

    def push(self, timestamp: float, frame: np.ndarray) -> list[StreamOutput]:
        """Take one frame (``timestamp`` in seconds, increasing; (H, W, 3) uint8 BGR); returns the
        (timestamp, restored frame, tracked faces) of every frame restored by this call, in order."""
        self._require_open()
        state = self._state or _State(self.config)
        self._state = state
        try:
            if timestamp <= state.last:
                raise UsageError(
                    f"stream: timestamp {timestamp} after {state.last}: not increasing"
                )
            state.last = timestamp
            detect = state.frames % self.config.every == 0
            state.held.append(self._front(timestamp, frame, state, detect))
            state.frames += 1
            faces = sum(len(h.faces) for h in state.held)
            if faces >= self._batch() or len(state.held) >= self.config.max_frames:
                return self._take()
            return []
        except BaseException:
            self.close()
            raise

    def finish(self) -> list[StreamOutput]:
        """Restore and return the frames still held; the next :meth:`push` starts a new stream."""
        self._require_open()
        try:
            return self._take()
        except BaseException:
            self.close()
            raise
        finally:
            self._state = None

    def _take(self) -> list[StreamOutput]:
        state = self._state
        if state is None:
            return []
        held, state.held = state.held, []
        return list(self._flush(held))

    def run(self, frames: Iterable[tuple[float, np.ndarray]]) -> Iterator[StreamOutput]:
        """``frames``: (timestamp in seconds, (H, W, 3) uint8 BGR frame), timestamps increasing.
        Yields (timestamp, restored frame, its tracked faces) in the same order."""
        self.start()
        try:
            for timestamp, frame in frames:
                yield from self.push(timestamp, frame)
            yield from self.finish()
        except GeneratorExit:
            raise
        except BaseException:
            self.close()
            raise

    def _front(self, timestamp: float, frame: np.ndarray, state: _State, detect: bool) -> _Held:
        """One frame through the frame stage, detection (when ``detect``; else the tracks carried
        forward), tracking, smoothing and alignment."""
        pipeline = self.pipeline
        start = time.perf_counter()
        image = pipeline.frame_stage(frame)
        start = self._time("frame", start)
        detected = pipeline.detect(image) if detect else None
        start = self._time("detect", start)
        found = state.tracker.carry() if detected is None else state.tracker.update(detected)
        tracked = state.smoother.update(found, timestamp)
        start = self._time("track", start)
        faces = [t.face for t in tracked]
        crops, affines = pipeline.align(image, faces)
        prepared = pipeline.prepare(image, faces, crops, affines)
        self._time("align", start)
        return _Held(timestamp, image, tracked, prepared)

    def _batch(self) -> int:
        restorer = self.pipeline.restorer.max_batch
        return restorer if self.config.batch is None else min(self.config.batch, restorer)

    def _flush(self, held: list[_Held]) -> Iterator[StreamOutput]:
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
            names = held[0].prepared.extras  # the spec's per-face extra inputs (DFDNet's boxes)
            extras = {n: np.concatenate([h.prepared.extras[n] for h in held]) for n in names}
            outputs = []
            for first in range(0, len(inputs), self._batch()):
                part = slice(first, first + self._batch())
                values = restorer.face_options(inputs[part], scales[part])
                extra = {n: v[part] for n, v in extras.items()}
                outputs.append(restorer.restore(inputs[part], scales[part], values, extras=extra))
                self.batches.append(len(outputs[-1]))
            restored = np.split(np.concatenate(outputs), np.cumsum(counts)[:-1])
        self._time("restore", start)
        for item, faces in zip(held, restored, strict=True):
            start = time.perf_counter()
            plain = [t.face for t in item.faces]
            frame = self.pipeline.blend(item.image, plain, item.prepared, faces)
            self._time("blend", start)
            yield item.timestamp, frame, item.faces
