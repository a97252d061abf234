"""Latency of the weight-free restorers (ISPL, WIPA) on ONNX Runtime, per 512x512 face.

Uses the cached exports (exports them first when torch is available), the runtime's own
:class:`facert.backends.ort.OrtSession` with 2 intra-op threads, the degraded Grace Hopper crop as
input with each model's default options, a few warm-up runs, then prints the median and the fastest
of ``--runs`` timed runs against the 1 s target. The machine's load average is printed beside them:
on a shared machine the median is only indicative and the fastest run is the better estimate.

    .venv/bin/python bench/bench_restorers.py [--runs 7] [--threads 2] [--batch 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from facert.backends.ort import OrtSession
from facert.config import load_settings
from facert.exporting import ensure_artifact
from facert.registry import get_spec

TARGET_MS = 1000.0
CROP = Path(__file__).resolve().parents[1] / "tests" / "data" / "faces" / "grace_hopper_512.png"
CROP_SCALE = 1.64  # Grace Hopper's magnification into the crop (tests/data/faces/faces.json)


def feed_for(model: str, batch: int) -> dict[str, np.ndarray]:
    """The image (batch, 3, 512, 512) float32 RGB [0, 1] and each option at its default."""
    image = cv2.imread(str(CROP))
    if image is None:
        raise SystemExit(f"cannot read {CROP}")
    rgb = image[:, :, ::-1].astype(np.float32).transpose(2, 0, 1)[None] / 255.0
    feed = {"image": np.repeat(rgb, batch, axis=0)}
    for option in get_spec(model).options:
        value = option.default * (CROP_SCALE if option.photo_pixels else 1.0)
        feed[option.name] = np.full((batch,), value, dtype=np.float32)
    return feed


def time_model(model: str, runs: int, threads: int, batch: int) -> list[float]:
    """Milliseconds per face of ``runs`` timed runs, after 2 warm-up runs."""
    artifact = ensure_artifact(get_spec(model), load_settings().cache_dir)
    feed = feed_for(model, batch)
    with OrtSession(artifact.path("model.onnx"), threads=threads) as session:
        for _ in range(2):
            session.run(feed)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            session.run(feed)
            times.append((time.perf_counter() - start) * 1000.0 / batch)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["ispl", "wipa"])
    parser.add_argument("--runs", type=int, default=7, help="timed runs (at least 5)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1, help="faces per run")
    args = parser.parse_args()
    runs = max(5, args.runs)
    print(f"ONNX Runtime, {args.threads} threads, batch {args.batch}, {runs} runs after 2 warm-up")
    for model in args.models:
        times = time_model(model, runs, args.threads, args.batch)
        median, fastest = statistics.median(times), min(times)
        verdict = "within" if median <= TARGET_MS else "OVER"
        print(
            f"{model:5s} median {median:7.1f} ms/face  fastest {fastest:7.1f} ms/face  "
            f"({verdict} the {TARGET_MS:.0f} ms target; load average {os.getloadavg()[0]:.1f})"
        )


if __name__ == "__main__":
    main()
