"""MTCNN detection time on a 1080p frame (target: under 200 ms on 2 CPU cores).

The frame: matplotlib's grace_hopper.jpg (512x600) scaled to 1080 pixels tall (922x1080, cubic),
centred on a 1920x1080 canvas whose sides are filled by mirroring the photo (``BORDER_REFLECT_101``),
so the whole frame carries real texture and the mirrored copies add faces. MTCNN runs with a 40-pixel
minimum face, default thresholds and scale factor, ONNX Runtime with 2 intra-op threads. Prints the
median wall time of 10 runs (after 2 warm-up runs) and the median time of each stage.

    .venv/bin/python bench/bench_detect.py [--runs 10] [--threads 2] [--min-face 40]

Needs the MTCNN export in the cache (`facert models export mtcnn`) and matplotlib (the demo extra).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import matplotlib
import numpy as np

from facert.config import load_settings
from facert.models.exporting import ensure_artifact
from facert.models.registry import get_spec
from facert.stages.detect.mtcnn import MtcnnDetector, MtcnnOptions


def benchmark_frame() -> np.ndarray:
    """(1080, 1920, 3) uint8 BGR: grace_hopper scaled to 1080 tall, sides mirrored."""
    path = Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"
    photo = cv2.imread(str(path), cv2.IMREAD_COLOR)
    height, width = photo.shape[:2]
    scaled = cv2.resize(photo, (round(width * 1080 / height), 1080), interpolation=cv2.INTER_CUBIC)
    left = (1920 - scaled.shape[1]) // 2
    right = 1920 - scaled.shape[1] - left
    return cv2.copyMakeBorder(scaled, 0, 0, left, right, cv2.BORDER_REFLECT_101)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min-face", type=float, default=40)
    args = parser.parse_args()
    frame = benchmark_frame()
    artifact = ensure_artifact(get_spec("mtcnn"), load_settings().cache_dir)
    options = MtcnnOptions(min_face_size=args.min_face)
    with MtcnnDetector.from_artifact(artifact, options, threads=args.threads) as detector:
        for _ in range(2):
            faces = detector.detect(frame)
        totals, stages = [], []
        for _ in range(args.runs):
            timings: dict[str, float] = {}
            start = time.perf_counter()
            faces = detector.detect(frame, timings)
            totals.append(time.perf_counter() - start)
            stages.append(timings)
    print(
        f"frame {frame.shape[1]}x{frame.shape[0]}, min face {args.min_face:g} px, "
        f"ORT threads {args.threads}, {len(faces)} faces"
    )
    print(
        f"median of {args.runs} runs: {1e3 * statistics.median(totals):.1f} ms "
        f"(min {1e3 * min(totals):.1f}, max {1e3 * max(totals):.1f})"
    )
    for stage in stages[0]:
        values = [s.get(stage, 0.0) for s in stages]
        print(f"  {stage:18s} {1e3 * statistics.median(values):7.1f} ms")


if __name__ == "__main__":
    main()
