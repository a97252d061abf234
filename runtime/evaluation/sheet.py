"""The side-by-side contact sheet of ``facert eval`` and its Markdown table.

One row per image, one column per method (clean, input, then each model): the region around the
image's largest face on the clean photo (the box grown by half its size on each side, square),
the same region of every method's output, each scaled to ``tile`` pixels, labelled with the
method and, for a restored photo, its seam (:mod:`facert.evaluation.seams`, uint8 levels).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facert.io.images import LoadedImage, read_image, write_image

LABEL_HEIGHT = 18


def _region(box: list[int] | None, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    height, width = shape[:2]
    if box is None:
        side = min(height, width)
        return (width - side) // 2, (height - side) // 2, (width + side) // 2, (height + side) // 2
    x1, y1, x2, y2 = box
    side = int(max(x2 - x1, y2 - y1) * 2)
    cx, cy = (x1 + x2) // 2, (y1 + y2) // 2
    left = int(np.clip(cx - side // 2, 0, max(0, width - side)))
    top = int(np.clip(cy - side // 2, 0, max(0, height - side)))
    return left, top, min(width, left + side), min(height, top + side)


def _tile(
    image: np.ndarray, region: tuple[int, int, int, int], tile: int, label: str
) -> np.ndarray:
    x1, y1, x2, y2 = region
    face = cv2.resize(image[y1:y2, x1:x2], (tile, tile), interpolation=cv2.INTER_AREA)
    header = np.full((LABEL_HEIGHT, tile, 3), 255, np.uint8)
    cv2.putText(
        header, label[:24], (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA
    )
    return np.vstack([header, face])


def contact_sheet(out: Path, document: dict[str, Any], tile: int = 160) -> None:
    """Write OUT/contact-sheet.png from the images under ``out`` that ``document`` names."""
    columns = ["clean", *document["methods"]]
    seams = {(r["method"], r["image"]): r.get("seam") for r in document["results"]}
    rows = []
    for entry in document["images"]:
        name = entry["image"]
        boxes = entry["boxes"]
        largest = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1])) if boxes else None
        tiles = []
        for column in columns:
            image = read_image(out / column / f"{name}.png", 10**9).bgr
            seam = seams.get((column, name))
            label = column if seam is None else f"{column} seam {seam:.1f}"
            tiles.append(_tile(image, _region(largest, image.shape), tile, label))
        rows.append(np.hstack(tiles))
    if rows:
        write_image(out / "contact-sheet.png", LoadedImage(np.vstack(rows), None, 8))


def markdown(document: dict[str, Any]) -> str:
    """The comparison table (means over the images), as the seed article's."""
    preset = document["preset"]
    lines = [
        f"# facert eval: degradation {preset['name']} (seed {document['seed']})",
        "",
        f"Ranges at the 512 px face scale: blur sigma {preset['blur_sigma']}, downsampling "
        f"{preset['downsample']}, noise {preset['noise']}, JPEG quality {preset['jpeg']} "
        f"({preset['source']}); {len(document['images'])} image(s).",
        "",
        "| method | PSNR face (dB) | SSIM face | PSNR image (dB) | SSIM image | seam (levels) "
        "| s / image |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]

    def show(value: float | None, digits: int) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    for row in document["summary"]:
        lines.append(
            f"| {row['method']} | {show(row['face_psnr_db'], 2)} | {show(row['face_ssim'], 4)} | "
            f"{show(row['psnr_db'], 2)} | {show(row['ssim'], 4)} | {show(row.get('seam'), 2)} | "
            f"{show(row['seconds'], 2)} |"
        )
    lines += [
        "",
        f"Seam: at the border of the {document.get('mask', 'square')} mask each face was pasted "
        f"under (colour correction {document.get('color_correction', 'none')}), the mean "
        "absolute step of restored minus clean across it, less the same step on a line inside "
        "the face (uint8 levels; about 0 when the paste leaves no seam).",
        "",
        "![contact sheet](contact-sheet.png)",
        "",
    ]
    return "\n".join(lines)
