"""Colour correction before paste-back: the seam a colour cast leaves, each method's cost, a picture.

facert has no learned restorer weights to run here, so the cast is put on a real restoration: ISPL
restores the sample photos' faces (MTCNN, the real pipeline), then the restored crop gets the cast a
network might add (+24 blue, -14 red, contrast x 0.85, +5 levels) before it is pasted with the
square feathered mask, with each ``--color-correction`` method. Printed per photo and method: the
seam tone (facert.stages.blend.seam, uint8 levels: the step across the pasted border that the
clean photo does not have), the colour error over the face box (mean |restored - photo|), and the
milliseconds the correction takes per 512 px face (median of 20). Writes a side-by-side JPEG.

    .venv/bin/python bench/bench_color.py [--out docs/color-correction.jpg]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from degraded_faces import with_cast

from facert.backends.device import SHOWN_FLAGS, cpu_description, split_flags
from facert.config import load_settings
from facert.demo.samples import photo_path
from facert.pipeline.frame import Pipeline
from facert.stages.blend.color import METHODS, correct_colors, paste_weights
from facert.stages.blend.paste import paste_faces
from facert.stages.blend.seam import pasted_border, seam_at


def label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(out, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/color-correction.jpg"))
    args = parser.parse_args()
    has, lacks = split_flags(SHOWN_FLAGS)
    print(f"CPU: {cpu_description()}; flags: {' '.join(has)}; absent: {' '.join(lacks) or '-'}")
    rows = []
    with Pipeline.open(load_settings(), "ispl") as pipeline:
        for name in ("grace_hopper", "astronaut"):
            photo = cv2.imread(str(photo_path(name)))
            faces = pipeline.detect(photo)[:1]
            crops, affines = pipeline.align(photo, faces)
            cast = with_cast(pipeline.restorer.restore(crops))
            weights = paste_weights(affines, photo.shape, crops.shape[1])
            border = pasted_border(affines[0], crops.shape[1])
            x1, y1, x2, y2 = (int(v) for v in faces[0].box)
            tiles = [label(photo, "input")]
            for method in METHODS:
                times = []
                for _ in range(20):
                    start = time.perf_counter()
                    fixed = correct_colors(cast, crops, weights, method)  # type: ignore[arg-type]
                    times.append(time.perf_counter() - start)
                pasted = paste_faces(photo, list(fixed), affines, 1.0)
                tone = seam_at(pasted, photo, border).tone
                error = np.abs(pasted[y1:y2, x1:x2].astype(float) - photo[y1:y2, x1:x2]).mean()
                print(
                    f"{name:13s} {method:10s} seam tone {tone:5.2f}  face error {error:5.2f}  "
                    f"{1e3 * statistics.median(times):5.1f} ms/face"
                )
                tiles.append(label(pasted, f"cast + {method}: seam {tone:.1f}"))
            height = 300
            rows.append(
                np.hstack(
                    [
                        cv2.resize(t, (round(t.shape[1] * height / t.shape[0]), height))
                        for t in tiles
                    ]
                )
            )
    width = max(r.shape[1] for r in rows)
    sheet = np.vstack([cv2.copyMakeBorder(r, 0, 0, 0, width - r.shape[1], 0) for r in rows])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), sheet, [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
