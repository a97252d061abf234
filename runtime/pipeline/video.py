"""Restoring a video file through the stream pipeline: :func:`restore_video`.

:func:`facert.io.video.transcode` decodes and encodes in threads of their own; the frames go through
a :class:`StreamPipeline` in between (faces batched across consecutive frames, tracked, landmarks
smoothed), each frame keeping its own timestamp, and the flicker measure is taken as the frames go
(:class:`FlickerMeter`: only the previous frame pair is held).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facert.io.video import EncodeOptions, ProgressFn, transcode
from facert.pipeline.flicker import FlickerMeter, FlickerReport
from facert.pipeline.stream import StreamOutput, StreamPipeline

STAGES = ("decode", "frame", "detect", "track", "align", "restore", "blend", "encode")


@dataclass(frozen=True)
class VideoReport:
    """What a run did: frames written, faces restored (summed over frames), wall seconds, the
    flicker measure (restored face region's frame-to-frame change minus the input's, uint8
    levels), seconds per stage (decoding and encoding ran beside the others, in their own
    threads), packets copied from the other streams."""

    frames: int
    faces: int
    seconds: float
    flicker: FlickerReport
    timings: dict[str, float]
    copied_packets: int

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class StreamFilter:
    """A :class:`StreamPipeline` as :func:`transcode`'s frame filter, measuring flicker and
    counting faces on the way. The stream must be open."""

    def __init__(self, stream: StreamPipeline) -> None:
        self.stream = stream
        self.inputs: deque[np.ndarray] = deque()  # the frames pushed and not yet restored
        self.meter = FlickerMeter()
        self.faces = 0

    def push(self, seconds: float, bgr: np.ndarray) -> list[np.ndarray]:
        self.inputs.append(bgr)
        return self._restored(self.stream.push(seconds, bgr))

    def finish(self) -> list[np.ndarray]:
        return self._restored(self.stream.finish())

    def _restored(self, ready: list[StreamOutput]) -> list[np.ndarray]:
        frames = []
        for _, frame, faces in ready:
            self.meter.add(self.inputs.popleft(), frame, [t.face.box for t in faces])
            self.faces += len(faces)
            frames.append(frame)
        return frames


def restore_video(
    stream: StreamPipeline,
    src: Path,
    dst: Path,
    options: EncodeOptions | None = None,
    *,
    progress: ProgressFn | None = None,
    start: float | None = None,
    duration: float | None = None,
) -> VideoReport:
    """Restore the faces of ``src`` (from ``start`` for ``duration`` seconds) into ``dst`` with the
    open ``stream``: the video re-encoded as ``options`` say, audio and subtitles copied, each
    frame at its own timestamp; nothing at ``dst`` on failure (see :func:`transcode`)."""
    stream.start()
    before = dict(stream.timings)
    frames = StreamFilter(stream)
    began = time.perf_counter()
    result = transcode(src, dst, frames, options, progress=progress, start=start, duration=duration)
    seconds = time.perf_counter() - began
    timings = {k: v - before.get(k, 0.0) for k, v in stream.timings.items()}
    timings.update(result.timings)
    ordered = {stage: timings[stage] for stage in STAGES if stage in timings}
    return VideoReport(
        result.frames, frames.faces, seconds, frames.meter.report, ordered, result.copied_packets
    )
