"""A contact sheet of real photos restored by ISPL: input | one restorer's output | another's.

For every photo of ``real-inputs`` (../shared/data/real-inputs): each face of the whole photos (a
square of 1.6 face boxes around it, enlarged with nearest-neighbour sampling so that JPEG blocks
stay visible), and the centre of each aligned crop at 1:1. Each row is labelled with what the
current ISPL finds: the JPEG quality read from the photo (or "no JPEG") and the blur it estimated
for the face. ``BEFORE`` and ``AFTER`` are output folders of ``facert enhance`` over real-inputs
(e.g. the previous default and this one).

    facert enhance ../shared/data/real-inputs -o before/   # with the older checkout
    facert enhance ../shared/data/real-inputs -o after/
    .venv/bin/python bench/ispl_contact_sheet.py before/ after/ -o sheet.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from facert.config import load_settings
from facert.pipeline.frame import Pipeline
from facert.stages.align.warp import align_faces, crop_scale
from facert.stages.restore.correction import deblocked_crops
from facert.stages.restore.jpeg import estimate_quantisation

ROOT = Path(__file__).resolve().parents[1]
INPUTS = ROOT.parent / "shared" / "data" / "real-inputs"
TILE = 200
COLUMNS = 3  # triplets per row


def face_squares(image: np.ndarray, boxes: list[np.ndarray]) -> list[tuple[int, int, int]]:
    """(x, y, side) of a square of 1.6 box sizes around each face, inside the image."""
    squares = []
    for box in boxes:
        side = int(1.6 * max(box[2] - box[0], box[3] - box[1]))
        side = min(side, image.shape[0], image.shape[1])
        x = int(np.clip((box[0] + box[2]) / 2 - side / 2, 0, image.shape[1] - side))
        y = int(np.clip((box[1] + box[3]) / 2 - side / 2, 0, image.shape[0] - side))
        squares.append((x, y, side))
    return squares


def tile(image: np.ndarray, square: tuple[int, int, int]) -> np.ndarray:
    x, y, side = square
    part = image[y : y + side, x : x + side]
    interpolation = cv2.INTER_NEAREST if side < TILE else cv2.INTER_AREA
    return cv2.resize(part, (TILE, TILE), interpolation=interpolation)


def triplet(tiles: list[np.ndarray], label: str) -> np.ndarray:
    row = np.hstack(
        [cv2.copyMakeBorder(t, 0, 0, 0, 4, cv2.BORDER_CONSTANT, value=(255,) * 3) for t in tiles]
    )
    canvas = cv2.copyMakeBorder(row, 22, 6, 0, 12, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    cv2.putText(canvas, label, (2, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas


def describe(pipeline: Pipeline, image: np.ndarray) -> tuple[list[np.ndarray], list[str]]:
    """The faces' boxes and, per face, the JPEG quality found and ISPL's blur estimate."""
    faces = pipeline.detect(image)
    spec = pipeline.restorer.spec
    crops, affines = align_faces(image, faces, spec.input_size, spec.crop_border)
    deblocked = deblocked_crops(image, faces, affines, spec.input_size, spec.crop_border)
    inputs = crops if deblocked is None else deblocked
    scales = np.array([crop_scale(a) for a in affines], np.float32)
    blur = pipeline.restorer.face_options(inputs, scales)["blur_sigma"] if faces else []
    found = estimate_quantisation(image)
    jpeg = f"JPEG q{found.quality}" if found else "no JPEG"
    return [f.box for f in faces], [f"{jpeg}, blur {b:.2f}px" for b in blur]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--inputs", type=Path, default=INPUTS)
    args = parser.parse_args()
    rows: list[np.ndarray] = []
    with Pipeline.open(load_settings(), "ispl") as pipeline:
        for path in sorted(args.inputs.rglob("*")):
            if path.suffix.lower() not in (".jpg", ".png"):
                continue
            relative = path.relative_to(args.inputs)
            images = [
                cv2.imread(str(p)) for p in (path, args.before / relative, args.after / relative)
            ]
            boxes, labels = describe(pipeline, images[0])
            if "cropped" in str(relative):  # aligned 512 crops: the centre at 1:1
                squares = [(128, 112, 256)] * min(1, len(boxes))
            else:
                squares = face_squares(images[0], boxes)
            for index, (square, label) in enumerate(zip(squares, labels, strict=False)):
                name = f"{relative} #{index}: {label}"
                rows.append(triplet([tile(image, square) for image in images], name))
    width = rows[0].shape[1]
    lines = [
        np.hstack(
            rows[i : i + COLUMNS]
            + [np.full_like(rows[0], 255)] * (COLUMNS - len(rows[i : i + COLUMNS]))
        )
        for i in range(0, len(rows), COLUMNS)
    ]
    header = np.full((34, width * COLUMNS, 3), 255, np.uint8)
    cv2.putText(
        header,
        f"each triplet: input | {args.before.name} | {args.after.name}",
        (4, 24),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.7,
        (0, 0, 0),
        1,
        cv2.LINE_AA,
    )
    cv2.imwrite(str(args.output), np.vstack([header, *lines]))
    print(f"{len(rows)} faces -> {args.output}")


if __name__ == "__main__":
    main()
