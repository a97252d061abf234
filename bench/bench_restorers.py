"""Latency of the weight-free restorers (ISPL, WIPA) on ONNX Runtime, per 512x512 face.

Uses the cached exports (exports them first when torch is available), the runtime's own
:class:`facert.backends.ort.OrtSession` with 2 intra-op threads, the degraded Grace Hopper crop as
input with each model's default options, a few warm-up runs, then prints the median and the fastest
of ``--runs`` timed runs against the 1 s target. The machine's load average is printed beside them:
on a shared machine the median is only indicative and the fastest run is the better estimate.

WIPA also restores whole photos (its frame stage, before the faces): ``--frame 1920x1080`` times it
on the demo's degraded Grace Hopper photo resized to that size (tiles, one at a time), and prints
the process's peak memory after it.
ISPL's runtime steps around its graph are timed too: the blur estimate on one crop, reading the JPEG
quality of a 1920x1080 frame, and deblocking the region around one face of 64, 120 and 300 px.

    .venv/bin/python bench/bench_restorers.py [--runs 7] [--threads 2] [--batch 1]
        [--frame 1920x1080 [--frame 3840x2160]]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from facert.backends.ort import OrtSession
from facert.config import load_settings
from facert.demo.degrade import degrade_noise_scratches_fading
from facert.demo.samples import photo_path
from facert.models.exporting import ensure_artifact
from facert.models.registry import get_spec
from facert.stages.restore.frame import FrameRestorer, tile_starts

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


def time_frame(size: str, runs: int, threads: int) -> tuple[list[float], int]:
    """Milliseconds per photo of WIPA's frame stage at ``size`` ("WxH"), after 1 warm-up run,
    and the number of tiles it takes."""
    width, height = (int(v) for v in size.lower().split("x"))
    spec = get_spec("wipa")
    stage = spec.frame_stage
    if stage is None:
        raise SystemExit("the wipa spec declares no frame stage")
    photo = cv2.imread(str(photo_path("grace_hopper")))
    if photo is None:
        raise SystemExit("cannot read the grace_hopper sample photo")
    frame = degrade_noise_scratches_fading(
        cv2.resize(photo, (width, height), interpolation=cv2.INTER_CUBIC), 0
    )
    tiles = len(tile_starts(height, stage.tile, stage.margin)) * len(
        tile_starts(width, stage.tile, stage.margin)
    )
    artifact = ensure_artifact(spec, load_settings().cache_dir)
    with FrameRestorer.from_artifact(artifact, threads=threads) as restorer:
        restorer.restore(frame)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            restorer.restore(frame)
            times.append((time.perf_counter() - start) * 1000.0)
    return times, tiles


def median_ms(step: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median and fastest milliseconds of ``runs`` calls of ``step`` after one warm-up call."""
    step()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times), min(times)


def time_ispl_steps(runs: int) -> None:
    """The numpy/OpenCV steps the runtime adds to ISPL's graph (facert.stages.restore.blur, facert.stages.restore.jpeg)."""
    from facert.stages.restore.blur import estimate_blur
    from facert.stages.restore.jpeg import deblock, estimate_quantisation

    crop = cv2.imread(str(CROP))
    frame = cv2.resize(np.tile(crop, (3, 4, 1)), (1920, 1080), interpolation=cv2.INTER_AREA)
    frame = cv2.imdecode(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 75])[1], 1)
    quantisation = estimate_quantisation(frame)
    if quantisation is None:
        raise SystemExit("the JPEG frame was not recognised")
    steps: list[tuple[str, Callable[[], object]]] = [
        ("blur estimate, one 512 crop", lambda: estimate_blur(crop[None], np.array([CROP_SCALE]))),
        ("JPEG quality of a 1920x1080 frame", lambda: estimate_quantisation(frame)),
    ]
    for face in (64, 120, 300):
        side = int(face * 1.5)  # the face box grown by a quarter on each side
        box = (400, 300, 400 + side, 300 + side)
        steps.append(
            (f"deblock around a {face} px face", lambda b=box: deblock(frame, quantisation, b))
        )
    for label, step in steps:
        median, fastest = median_ms(step, runs)
        print(f"ispl step: {label:36s} median {median:7.1f} ms  fastest {fastest:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["ispl", "wipa"])
    parser.add_argument("--runs", type=int, default=7, help="timed runs (at least 5)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1, help="faces per run")
    parser.add_argument(
        "--frame", action="append", default=[], metavar="WxH", help="time WIPA's frame stage"
    )
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
    for size in args.frame:
        times, tiles = time_frame(size, max(3, args.runs // 2), args.threads)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        print(
            f"wipa frame stage {size}: median {statistics.median(times):7.0f} ms  fastest "
            f"{min(times):7.0f} ms  ({tiles} tiles; process peak memory {peak:.0f} MiB; "
            f"load average {os.getloadavg()[0]:.1f})"
        )
    if "ispl" in args.models:
        time_ispl_steps(runs)


if __name__ == "__main__":
    main()
