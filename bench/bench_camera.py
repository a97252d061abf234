"""The camera path's end-to-end latency and frame rate (issue 12), against the naive way.

A synthetic camera (:class:`facert.io.camera.SyntheticSource`: Grace Hopper's face, 240x240 and
blurred as by a cheap webcam, sliding over a grey 640x480 frame at ``--rate`` frames/s) feeds, for
``--seconds`` each:

- latest-frame: what ``facert camera`` runs: the capture thread keeps only the newest frame
  (:class:`facert.io.camera.Capture`), the stream pipeline at max_frames 1, the overlay, a sink that
  discards the frame;
- naive: the capture thread puts every frame into an unbounded queue and the consumer runs
  ``Pipeline.enhance`` on each in order: nothing is dropped, so the latency grows with the backlog.

Per model and way: frames shown, dropped (latest-frame) or still queued at the end (naive), frames/s,
end-to-end latency (grab to shown) p50/p95/max and of the first and last frames. Time bound: about
``len(models) * 2 * seconds`` plus opening the models (one run of both models at 10 s: ~1 minute).

    .venv/bin/python bench/bench_camera.py [--models ispl wipa] [--seconds 10] [--rate 30]
        [--backend ort] [--threads 0]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import queue
import threading
import time

import cv2
import numpy as np

from facert.backends.device import SHOWN_FLAGS, cpu_description, split_flags
from facert.config import load_settings
from facert.demo.samples import photo_path
from facert.io.camera import Capture, SyntheticSource
from facert.io.camera_live import LiveOptions, LiveStats, live_config, run_live
from facert.pipeline.frame import Pipeline
from facert.pipeline.stream import StreamPipeline

SIZE = (640, 480)


def say(line: str) -> None:
    print(line, flush=True)


def machine() -> None:
    has, lacks = split_flags(SHOWN_FLAGS)
    present, absent = " ".join(has) or "none", " ".join(lacks) or "none"
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    say(f"CPU: {cpu_description()}, {os.cpu_count()} logical cores, load average {load}")
    say(f"instructions present: {present}; absent: {absent}")


def face() -> np.ndarray:
    photo = cv2.imread(str(photo_path("grace_hopper")))
    crop = cv2.resize(photo[80:400, 100:420], (240, 240), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(crop, (0, 0), 2.0)


class _Discard:
    """A sink that drops every frame and asks to stop at ``deadline`` (monotonic seconds)."""

    name = "discard"

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def open(self, size: tuple[int, int], rate: float | None) -> None:
        pass

    def write(self, frame: np.ndarray, grabbed: float) -> bool:
        return time.monotonic() < self.deadline

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def latest_frame(pipeline: Pipeline, rate: float, seconds: float) -> tuple[list[float], int]:
    """(latencies in seconds, frames dropped) of ``facert camera``'s path."""
    stream = StreamPipeline(pipeline, live_config()).open()
    sink = _Discard(time.monotonic() + seconds)
    stats = LiveStats()
    with Capture(SyntheticSource(face(), SIZE, rate)) as capture:
        run_live(capture, stream, sink, LiveOptions(overlay=True), stats)
    stats.count(capture)
    return [r.latency for r in stats.records], stats.dropped


def naive(pipeline: Pipeline, rate: float, seconds: float) -> tuple[list[float], int]:
    """(latencies in seconds, frames still queued at the end) of every frame queued and enhanced."""
    frames: queue.Queue[tuple[float, np.ndarray]] = queue.Queue()
    stop = threading.Event()
    source = SyntheticSource(face(), SIZE, rate)

    def capture() -> None:
        while not stop.is_set():
            frame = source.read()
            if frame is not None:
                frames.put((time.monotonic(), frame))

    thread = threading.Thread(target=capture, daemon=True)
    thread.start()
    deadline, latencies = time.monotonic() + seconds, []
    while time.monotonic() < deadline:
        grabbed, frame = frames.get()
        pipeline.enhance(frame)
        latencies.append(time.monotonic() - grabbed)
    stop.set()
    thread.join()
    return latencies, frames.qsize()


def line(model: str, way: str, latencies: list[float], left: int, seconds: float) -> str:
    ms = np.asarray(latencies) * 1000
    p50, p95 = np.percentile(ms, [50, 95])
    return (
        f"| {model} | {way} | {len(ms)} | {left} | {len(ms) / seconds:.2f} | {p50:.0f} | "
        f"{p95:.0f} | {ms.max():.0f} | {ms[0]:.0f} | {ms[-1]:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["ispl", "wipa"])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=30.0, help="the camera's frames/s")
    parser.add_argument("--backend", default="ort")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: all)")
    args = parser.parse_args()
    machine()
    settings = dataclasses.replace(load_settings(), threads=args.threads)
    say(f"synthetic camera {SIZE[0]}x{SIZE[1]} at {args.rate:g} fps, {args.seconds:g} s per run")
    say(
        "| model | way | frames shown | dropped / left queued | fps | e2e p50 ms | p95 | max | "
        "first | last |"
    )
    say("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for model in args.models:
        with Pipeline.open(settings, model, backend=args.backend) as pipeline:
            pipeline.enhance(SyntheticSource(face(), SIZE).frame(0))  # warm-up
            for way, run in (("latest-frame", latest_frame), ("naive queue", naive)):
                latencies, left = run(pipeline, args.rate, args.seconds)
                say(line(model, way, latencies, left, args.seconds))
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    say(f"load average after: {load}")


if __name__ == "__main__":
    main()
