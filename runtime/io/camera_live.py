"""The live loop of ``facert camera``: the newest captured frame through the stream pipeline, the
overlay, and a sink, with per-frame records (grab and show times, seconds per stage).

:func:`run_live` pulls from :class:`facert.io.camera.Capture` (latest-frame policy), so when the
pipeline is slower than the source, frames are dropped at the capture end and each shown frame's
latency stays about one pipeline pass, instead of growing with a queue.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from facert.io.camera import Capture
from facert.io.camera_sinks import Sink
from facert.io.overlay import SHOWN_STAGES, Meter, draw_overlay

if TYPE_CHECKING:
    from facert.pipeline.stream import StreamConfig, StreamPipeline

RECENT = 30  # frames the overlay averages over


@dataclass(frozen=True)
class FrameRecord:
    """One shown frame: its ``index`` in the source, the monotonic times it was ``grabbed`` and
    ``shown`` (once the sink took it), and the seconds each stage spent on it (``stages``; when
    frames share a restorer batch, the batch's time counts on the frame that completed it)."""

    index: int
    grabbed: float
    shown: float
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def latency(self) -> float:
        return self.shown - self.grabbed


@dataclass
class LiveStats:
    """The records of the frames shown, and the capture's counts."""

    records: list[FrameRecord] = field(default_factory=list)
    captured: int = 0
    dropped: int = 0

    @property
    def fps(self) -> float:
        return _fps(self.records)

    def percentile(self, stage: str, q: float) -> float:
        """The ``q``-th percentile of ``stage``'s milliseconds per frame ("e2e": grab to show)."""
        if not self.records:
            return 0.0
        values = [r.latency if stage == "e2e" else r.stages.get(stage, 0.0) for r in self.records]
        return float(np.percentile(values, q)) * 1000

    def count(self, capture: Capture) -> None:
        """Take the capture's counts (after it closed, a frame left unshown counts as dropped)."""
        self.captured, self.dropped = capture.slot.captured, capture.slot.dropped

    def meter(self) -> Meter:
        recent = self.records[-RECENT:]
        if not recent:
            return Meter(
                0.0, dict.fromkeys((name for name, _ in SHOWN_STAGES), 0.0), 0.0, self.dropped
            )
        stages = {
            name: 1000 * float(np.mean([r.stages.get(name, 0.0) for r in recent]))
            for name, _ in SHOWN_STAGES
        }
        latency = 1000 * float(np.mean([r.latency for r in recent]))
        return Meter(_fps(recent), stages, latency, self.dropped)

    def summary(self) -> str:
        """One line: frames shown and dropped, mean fps, p50/p95 milliseconds per stage."""
        parts = [
            f"{name} {self.percentile(name, 50):.0f}/{self.percentile(name, 95):.0f}"
            for name, _ in SHOWN_STAGES
            if name != "frame" or self.percentile(name, 95) > 0.05
        ]
        parts.append(f"e2e {self.percentile('e2e', 50):.0f}/{self.percentile('e2e', 95):.0f}")
        return (
            f"{len(self.records)} frames shown, {self.dropped} dropped, {self.fps:.1f} fps; "
            f"p50/p95 ms: {', '.join(parts)}"
        )


def _fps(records: list[FrameRecord]) -> float:
    if len(records) < 2:
        return 0.0
    span = records[-1].shown - records[0].shown
    return (len(records) - 1) / span if span > 0 else 0.0


def live_config(max_frames: int = 1) -> StreamConfig:
    """The stream settings of a live source: ``max_frames`` (1: each frame restored as soon as it
    comes) and no gap filling. The tracker counts gaps in frames; a live stream drops frames, so
    the frames it restores can be far apart in time and a face that moved between them fails the
    tracker's per-frame gates: its old track, carried, would paste a stale face where the person
    was (seen here: a face 17 px away, 35% of its box, after 16 dropped frames)."""
    from facert.pipeline.stream import StreamConfig
    from facert.pipeline.tracks import TrackerConfig

    return StreamConfig(tracker=TrackerConfig(max_gap=0), max_frames=max_frames)


@dataclass(frozen=True)
class LiveOptions:
    """``overlay``: draw the meter on each frame; ``frames``: stop after this many (None: until
    the source ends, the viewer quits or Ctrl-C)."""

    overlay: bool = True
    frames: int | None = None


def run_live(
    capture: Capture,
    stream: StreamPipeline,
    sink: Sink,
    options: LiveOptions | None = None,
    stats: LiveStats | None = None,
) -> LiveStats:
    """Show frames from ``capture`` (open) restored by ``stream`` (open) on ``sink`` (open) until
    the source ends, ``options.frames`` were shown or the sink asks to stop. ``stats`` (filled as
    frames are shown) lets a caller read how far it got when this raises (Ctrl-C). Neither the
    capture, the stream nor the sink is closed here."""
    options = options or LiveOptions()
    stats = stats if stats is not None else LiveStats()
    indices: dict[float, int] = {}

    def frames() -> Iterator[tuple[float, np.ndarray]]:
        last = -np.inf
        for item in capture.frames():
            timestamp = max(item.grabbed, np.nextafter(last, np.inf))  # strictly increasing
            indices[timestamp] = item.index
            last = timestamp
            yield timestamp, item.frame

    before = dict(stream.timings)
    try:
        with contextlib.closing(stream.run(frames())) as restored:
            for timestamp, frame, _ in restored:
                stages = {k: v - before.get(k, 0.0) for k, v in stream.timings.items()}
                before = dict(stream.timings)
                stats.dropped = capture.slot.dropped
                shown = draw_overlay(frame, stats.meter()) if options.overlay else frame
                going = sink.write(shown, timestamp)
                record = FrameRecord(indices.pop(timestamp), timestamp, time.monotonic(), stages)
                stats.records.append(record)
                if not going or (options.frames and len(stats.records) >= options.frames):
                    break
    finally:
        stats.count(capture)
    return stats
