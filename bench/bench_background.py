"""``--background none|upscale|restore``: time per 1920x1080 frame for each weight-free restorer.

The frame is the two sample photos (grace_hopper, astronaut: two faces) side by side, resized to
1920x1080. Per (restorer, background): the median over ``--repeats`` of the whole
``Pipeline.enhance`` call, and of its background part (WIPA's frame stage, or the blend step that
holds ISPL's tiled restore and the resize). ONNX Runtime threads: ``--threads`` (2 by default, the
cores this bench is reported for). Prints the CPU, its flags and the load average before and after:
on a shared machine the times are upper bounds.

    .venv/bin/python bench/bench_background.py [--repeats 3] [--threads 2] [--upscale 1]
        [--models ispl,wipa] [--realesrgan]

``--realesrgan`` (needs torch): Real-ESRGAN's full RRDBNet (x2 and x4) with deterministic weights
(the official checkpoints are not downloaded here; the time does not depend on the values), exported
by facert's exporter to a temporary folder, timed on one tile of 128 x 128 input pixels plus 16 of
overlap on every side (the runner's cost per tile), and extrapolated to a 1080p frame by its tile
count at the default tile size (256) and overlap (16).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time

import cv2
import numpy as np

from facert.backends.device import SHOWN_FLAGS, cpu_description, split_flags
from facert.config import load_settings
from facert.demo.samples import photo_path
from facert.pipeline.frame import EnhanceOptions, Pipeline
from facert.stages.restore.background import BACKGROUNDS


def frame_1080p() -> np.ndarray:
    """(1080, 1920, 3) uint8 BGR: the two sample photos side by side, resized."""
    photos = [cv2.imread(str(photo_path(name))) for name in ("grace_hopper", "astronaut")]
    photos = [cv2.resize(p, (960, 1080), interpolation=cv2.INTER_CUBIC) for p in photos]
    return np.hstack(photos)


def measure(pipeline: Pipeline, frame: np.ndarray, repeats: int) -> tuple[float, float, int]:
    """Median seconds of the whole call and of its background part, and the faces found."""
    totals, parts, faces = [], [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        result = pipeline.enhance(frame)
        totals.append(time.perf_counter() - start)
        parts.append(result.timings["frame"] + result.timings["blend"])
        faces = len(result.faces)
    return statistics.median(totals), statistics.median(parts), faces


def realesrgan_rows(threads: int, repeats: int) -> None:
    """Time one Real-ESRGAN tile per scale; print the 1080p extrapolation (see the docstring)."""
    import tempfile
    from pathlib import Path

    from facert.backends.ort import OrtSession
    from facert.export.families.realesrgan.export import export_rrdbnet
    from facert.export.families.realesrgan.net import RRDBConfig, RRDBNet
    from facert.export.harness.fill import fill_deterministic
    from facert.stages.restore.upsampler import DEFAULT_OVERLAP, DEFAULT_TILE, tile_cores

    side = 128 + 2 * DEFAULT_OVERLAP
    print("| upsampler | input tile, px | s per tile | tiles per 1080p | 1080p frame, s (est.) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for scale in (2, 4):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.onnx"
            export_rrdbnet(fill_deterministic(RRDBNet(RRDBConfig(scale=scale))), path)
            with OrtSession(path, threads=threads) as session:
                tile = np.random.default_rng(0).random((1, 3, side, side), dtype=np.float32)
                session.run({"image": tile})
                times = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    session.run({"image": tile})
                    times.append(time.perf_counter() - start)
        per_tile = statistics.median(times)
        full = (DEFAULT_TILE + 2 * DEFAULT_OVERLAP) ** 2 / side**2  # cost grows with the area
        tiles = len(tile_cores(1080, DEFAULT_TILE)) * len(tile_cores(1920, DEFAULT_TILE))
        print(
            f"| realesrgan-x{scale} | {side} | {per_tile:.2f} | {tiles} | "
            f"{per_tile * full * tiles:.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--upscale", type=float, default=1.0)
    parser.add_argument("--models", default="ispl,wipa")
    parser.add_argument("--realesrgan", action="store_true", help="time Real-ESRGAN (torch)")
    args = parser.parse_args()
    has, lacks = split_flags(SHOWN_FLAGS)
    print(f"CPU: {cpu_description()}; flags: {' '.join(has)}; absent: {' '.join(lacks) or '-'}")
    print(f"load average before: {os.getloadavg()[0]:.2f}; threads {args.threads}")
    settings = dataclasses.replace(load_settings(), threads=args.threads)
    frame = frame_1080p()
    if args.realesrgan:
        realesrgan_rows(args.threads, args.repeats)
    print("| restorer | --background | faces | frame, s | background part, s |")
    print("| --- | --- | ---: | ---: | ---: |")
    for model in filter(None, args.models.split(",")):
        for background in BACKGROUNDS:
            options = EnhanceOptions(upscale=args.upscale, background=background)
            with Pipeline.open(settings, model, options=options) as pipeline:
                pipeline.enhance(frame[:256, :256])  # first-run costs out of the timings
                total, part, faces = measure(pipeline, frame, args.repeats)
            print(f"| {model} | {background} | {faces} | {total:.2f} | {part:.2f} |")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
