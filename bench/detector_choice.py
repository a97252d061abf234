"""Which detector should be the default? Faces found that a person sees, false detections, time.

Every detector runs with its defaults (min face 20 px) on the sample photos and, when ../shared is
present, the real photos of ../shared/data/real-inputs/*-whole; its faces are matched (IoU >= 0.5)
to the faces a person sees, hand-counted in bench/data/faces-seen.json. Prints per photo and in
total: faces seen, found, missed, false detections (and their scores), and the median time of 3 runs.

    .venv/bin/python bench/detector_choice.py [--detectors mtcnn yunet]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from facert.backends.device import SHOWN_FLAGS, cpu_description, split_flags
from facert.config import load_settings
from facert.demo.samples import photo_path
from facert.errors import FacertError
from facert.pipeline.tracks import box_iou
from facert.stages.detect import open_detector

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
MIN_IOU = 0.5


def photo_file(key: str) -> Path | None:
    kind, _, name = key.partition(":")
    if kind == "sample":
        return photo_path(name)
    path = SHARED / "data" / "real-inputs" / name
    return path if path.is_file() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detectors", nargs="+", default=["mtcnn", "yunet"])
    args = parser.parse_args()
    has, lacks = split_flags(SHOWN_FLAGS)
    print(f"CPU: {cpu_description()}; flags: {' '.join(has)}; absent: {' '.join(lacks) or '-'}")
    seen = json.loads((HERE / "data" / "faces-seen.json").read_text())["photos"]
    photos = {k: p for k in seen if (p := photo_file(k)) is not None}
    print(f"{len(photos)} photos ({sum(len(seen[k]) for k in photos)} faces seen)")
    settings = load_settings()
    for name in args.detectors:
        try:
            detector = open_detector(settings, name)
        except FacertError as error:
            print(f"{name}: skipped ({error})")
            continue
        totals = {"found": 0, "missed": 0, "false": 0, "ms": 0.0}
        with detector:
            for key, path in photos.items():
                image = cv2.imread(str(path))
                times = []
                for _ in range(3):
                    start = time.perf_counter()
                    faces = detector.detect(image)
                    times.append(time.perf_counter() - start)
                truth = [np.array(b, float) for b in seen[key]]
                hits = [any(box_iou(f.box, t) >= MIN_IOU for f in faces) for t in truth]
                false = [f for f in faces if all(box_iou(f.box, t) < MIN_IOU for t in truth)]
                ms = 1e3 * statistics.median(times)
                totals["found"] += sum(hits)
                totals["missed"] += len(hits) - sum(hits)
                totals["false"] += len(false)
                totals["ms"] += ms
                extra = f" (scores {[round(f.score, 2) for f in false]})" if false else ""
                print(
                    f"  {name:6s} {key:40s} {image.shape[1]}x{image.shape[0]:<5d} seen {len(truth)} "
                    f"found {sum(hits)} false {len(false)}{extra}  {ms:7.1f} ms"
                )
        print(
            f"{name}: found {totals['found']}, missed {totals['missed']}, false {totals['false']}, "
            f"{totals['ms']:.0f} ms in all"
        )


if __name__ == "__main__":
    main()
