"""Face detection time on 1080p and 4K frames, every detector, 2 CPU cores.

The frame: matplotlib's grace_hopper.jpg (512x600) scaled to the frame's height (cubic), centred on
a 16:9 canvas whose sides are filled by mirroring the photo (``BORDER_REFLECT_101``), so the whole
frame carries real texture and the mirrored copies add faces. Each detector runs with the same
minimum face (40 px by default) and ``--threads`` 2 (ONNX Runtime's intra-op threads; MTCNN runs
that many single-threaded sessions side by side, on bands of its pyramid and batches of crops);
YuNet beside the naive way, OpenCV's ``cv2.FaceDetectorYN`` on the whole frame (its own DNN, the
zoo's graph, same thresholds).
Prints the median wall time of ``--runs`` runs (after 2 warm-up runs), the faces found, and the
median time of each stage.

    .venv/bin/python bench/bench_detect.py [--runs 10] [--threads 2] [--min-face 40]
        [--detectors mtcnn yunet] [--heights 1080 2160]

Needs the detectors' exports in the cache (`facert models export mtcnn`; YuNet: `facert models
fetch yunet` then export; skipped with a line when absent) and matplotlib (the demo extra).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import matplotlib
import numpy as np

from facert.backends.device import SHOWN_FLAGS, cpu_description, split_flags
from facert.config import load_settings
from facert.errors import FacertError
from facert.stages.detect import Detector, open_detector


def benchmark_frame(height: int = 1080) -> np.ndarray:
    """(height, height * 16 / 9, 3) uint8 BGR: grace_hopper scaled to the height, sides mirrored."""
    path = Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"
    photo = cv2.imread(str(path), cv2.IMREAD_COLOR)
    width = height * 16 // 9
    scaled = cv2.resize(
        photo, (round(photo.shape[1] * height / photo.shape[0]), height), cv2.INTER_CUBIC
    )
    left = (width - scaled.shape[1]) // 2
    right = width - scaled.shape[1] - left
    return cv2.copyMakeBorder(scaled, 0, 0, left, right, cv2.BORDER_REFLECT_101)


def timed(run: Callable[[dict[str, float]], int], runs: int) -> tuple[list[float], list[dict], int]:
    for _ in range(2):
        found = run({})
    totals, stages = [], []
    for _ in range(runs):
        timings: dict[str, float] = {}
        start = time.perf_counter()
        found = run(timings)
        totals.append(time.perf_counter() - start)
        stages.append(timings)
    return totals, stages, found


def report(label: str, totals: list[float], stages: list[dict], found: int) -> None:
    print(
        f"  {label:34s} {1e3 * statistics.median(totals):8.1f} ms  (min {1e3 * min(totals):.1f}, "
        f"max {1e3 * max(totals):.1f}), {found} faces"
    )
    for stage in stages[0]:
        values = [s.get(stage, 0.0) for s in stages]
        print(f"      {stage:30s} {1e3 * statistics.median(values):8.1f} ms")


def opencv_yunet(frame: np.ndarray, min_face: float, threads: int) -> Callable[[dict], int] | None:
    """cv2.FaceDetectorYN on the whole frame (the zoo's class defaults), or None without the file."""
    settings = load_settings()
    zoo = settings.cache_dir / "yunet" / "weights" / "face_detection_yunet_2023mar.onnx"
    if not zoo.is_file():
        return None
    cv2.setNumThreads(threads)
    height, width = frame.shape[:2]
    detector = cv2.FaceDetectorYN.create(str(zoo), "", (width, height), 0.6, 0.3, 5000)

    def run(_: dict) -> int:
        faces = detector.detect(frame)[1]
        return 0 if faces is None else int((faces[:, 2:4].max(axis=1) >= min_face).sum())

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min-face", type=float, default=40)
    parser.add_argument("--detectors", nargs="+", default=["mtcnn", "yunet"])
    parser.add_argument("--heights", type=int, nargs="+", default=[1080, 2160])
    args = parser.parse_args()
    settings = dataclasses.replace(load_settings(), threads=args.threads)
    present, absent = split_flags(SHOWN_FLAGS)
    print(
        f"CPU: {cpu_description()}; flags: {' '.join(present)}; absent: {' '.join(absent) or '-'}"
    )
    print(f"min face {args.min_face:g} px, ORT threads {args.threads}, {args.runs} runs")
    for height in args.heights:
        frame = benchmark_frame(height)
        print(f"frame {frame.shape[1]}x{frame.shape[0]}")
        for name in args.detectors:
            try:
                detector = open_detector(settings, name, min_face_size=args.min_face)
            except FacertError as error:
                print(f"  {name}: skipped ({error})")
                continue
            with detector:

                def run(
                    timings: dict, detector: Detector = detector, frame: np.ndarray = frame
                ) -> int:
                    return len(detector.detect(frame, timings))

                report(name, *timed(run, args.runs))
            if name == "yunet":
                naive = opencv_yunet(frame, args.min_face, args.threads)
                if naive is not None:
                    report("cv2.FaceDetectorYN, whole frame", *timed(naive, args.runs))


if __name__ == "__main__":
    main()
