"""DFDNet's part boxes: 68-point (dlib) vs the 5-point fallback, fitted and measured.

For each aligned 512 face (the two sample faces in tests/data/faces and, when present, the 24
aligned real faces of ../shared/data/real-inputs/*-cropped): dlib's 68 landmarks give the official
boxes; MTCNN run on the crop gives the five landmarks the pipeline would have. The 5-point rule
(:func:`facert.stages.parts.boxes_from_5`) is fitted leave-one-out (each face's boxes from a fit on
the others) and the box differences reported (mean and max over faces of |x1, y1, x2, y2| in px);
``--fit`` prints the constants fitted on all faces (:data:`facert.stages.parts.FIT_5`).
``--graph MODEL.ONNX``: also the PSNR of the DFDNet output with the 5-point boxes against the
output with the 68-point boxes on ``--psnr-faces`` faces (deterministic weights: a limitation).

    FACERT_CACHE=... .venv/bin/python bench/bench_dfdnet_boxes.py [--fit] [--graph F --psnr-faces 6]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from facert.config import load_settings
from facert.demo.metrics import psnr
from facert.stages import parts
from facert.stages.detect import open_detector

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "real-inputs"


def faces() -> list[tuple[str, np.ndarray]]:
    files = sorted((REPO / "tests" / "data" / "faces").glob("*.png"))
    files += sorted(SHARED.glob("*-cropped/*.png")) + sorted(SHARED.glob("*-cropped/*.jpg"))
    out = []
    for path in files:
        image = cv2.imread(str(path))
        if image.shape[:2] != (512, 512):
            image = cv2.resize(image, (512, 512), interpolation=cv2.INTER_LINEAR)
        out.append((path.name, image))
    return out


def fit(boxes68: np.ndarray, five: np.ndarray) -> dict:
    """FIT_5 from faces' 68-point boxes (F, 4, 4) and five landmarks (F, 5, 2)."""
    table = {}
    for index, part in enumerate(parts.PARTS):
        anchors = parts.FIT_5[part][1]
        box = boxes68[:, index].astype(np.float64)
        centre = (box[:, :2] + box[:, 2:] - 1) / 2  # inverts centre - L + 1, centre + L
        half = np.median((box[:, 2:] - box[:, :2] + 1).mean(1) / 2)
        anchor = five[:, list(anchors)].mean(1)
        table[part] = (
            (float(centre[:, 0].mean()), float(centre[:, 1].mean()), float(half)),
            anchors,
            (float(anchor[:, 0].mean()), float(anchor[:, 1].mean())),
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fit", action="store_true", help="print FIT_5 fitted on all faces")
    parser.add_argument("--graph", type=Path, help="a DFDNet model.onnx for the PSNR cost")
    parser.add_argument("--psnr-faces", type=int, default=6)
    args = parser.parse_args()
    named = faces()
    detector = open_detector(load_settings())
    five, boxes68, times = [], [], []
    for _name, image in named:
        found = detector.detect(image)
        best = max(found, key=lambda f: f.area)
        five.append(best.landmarks.astype(np.float64))
        start = time.perf_counter()
        boxes68.append(parts.boxes_from_68(parts.landmarks_68(image)))
        times.append(time.perf_counter() - start)
    detector.close()
    five_a, boxes_a = np.stack(five), np.stack(boxes68)
    print(f"{len(named)} faces; dlib 68 points: {1e3 * np.median(times):.1f} ms per face (median)")
    if args.fit:
        print("FIT_5 =", fit(boxes_a, five_a))
    errors = []
    for index in range(len(named)):
        others = [i for i in range(len(named)) if i != index]
        parts.FIT_5.update(fit(boxes_a[others], five_a[others]))
        errors.append(np.abs(parts.boxes_from_5(five_a[index]) - boxes_a[index]))
    diff = np.stack(errors)  # (F, 4 parts, 4 coords)
    for index, part in enumerate(parts.PARTS):
        print(
            f"{part:9s} 5-point vs 68-point boxes (leave-one-out): mean "
            f"{diff[:, index].mean():.1f} px, max {diff[:, index].max():.0f} px"
        )
    print(f"all parts: mean {diff.mean():.1f} px, max {diff.max():.0f} px")
    sides = (boxes_a[:, :, 2:] - boxes_a[:, :, :2]).max(2).max(0)
    print(
        "largest 68-point box side per part (px):",
        dict(zip(parts.PARTS, sides.tolist(), strict=True)),
    )
    rectangles(named)
    if args.graph:
        cost(args.graph, named[: args.psnr_faces], boxes_a, five_a)


def rectangles(named: list) -> None:
    """Which face rectangle to give dlib's predictor on an aligned crop: the whole crop and the
    fixed DLIB_RECT_512, each against dlib's own detector box on that crop (68-point boxes)."""
    import dlib

    detector = dlib.get_frontal_face_detector()
    predictor = parts._predictor()

    def boxes(rgb: np.ndarray, rect: object) -> np.ndarray:
        shape = predictor(rgb, rect)
        return parts.boxes_from_68([[shape.part(i).x, shape.part(i).y] for i in range(68)])

    whole, fixed = [], []
    for _name, image in named:
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        found = detector(rgb, 1)
        if not found:
            continue
        reference = boxes(rgb, max(found, key=lambda r: r.area()))
        whole.append(np.abs(boxes(rgb, dlib.rectangle(0, 0, 511, 511)) - reference))
        fixed.append(np.abs(boxes(rgb, dlib.rectangle(*parts.DLIB_RECT_512)) - reference))
    for label, diff in (("whole crop", whole), ("DLIB_RECT_512", fixed)):
        values = np.stack(diff)
        print(
            f"68-point boxes, rectangle {label} vs dlib's detector box ({len(diff)} faces): "
            f"mean {values.mean():.1f} px, max {values.max():.0f} px"
        )


def cost(graph: Path, named: list, boxes68: np.ndarray, five: np.ndarray) -> None:
    from facert.backends import engine_for

    parts.FIT_5.update(fit(boxes68, five))
    with engine_for(graph, threads=2) as engine:
        for index, (name, image) in enumerate(named):
            x = np.ascontiguousarray(image[None, :, :, ::-1].transpose(0, 3, 1, 2), np.float32)
            x = x / 127.5 - 1
            runs = []
            for boxes in (boxes68[index], parts.boxes_from_5(five[index])):
                feed = {"image": x, "boxes": boxes[None].astype(np.float32)}
                runs.append(next(iter(engine.run(feed).values())))
            print(f"{name}: PSNR 5-point vs 68-point output {psnr(runs[0], runs[1], 2.0):.1f} dB")


if __name__ == "__main__":
    main()
