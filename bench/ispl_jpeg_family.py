"""Does the default restorer (ISPL) do no harm? PSNR/SSIM over each face, degraded -> restored.

Three sets, each through the whole pipeline (MTCNN, align, restore, paste) with ISPL's defaults
(or ``--option NAME=VALUE``), scored over each detected face's box against the clean photo:

* the low-resolution + JPEG family (tests/jpeg_family.py: faces 30-120 px, quality 40-90, no blur;
  five photos when ../shared is present, else the two package photos);
* the same photos blurred (``facert.demo.degrade.degrade_blur_noise_jpeg``: blur 1, 1.5, 2 px + noise 6
  + JPEG 75, seed 0) at faces of 30, 64 and 120 px;
* ``make demo``'s ISPL cases (blur 1.5 + noise 6 + JPEG 75 on the photos at full size).

Then the blur estimator's readings (``facert.stages.restore.blur.reading``) that fix its two constants: the largest
reading over the JPEG family (SHARP_READING is 1.05x it) and the median ratio of true to estimated
blur over the blurred set (GAIN). The same script runs on an older checkout (its ``facert``) for
before/after tables; the readings need this one's ``facert.stages.restore.blur``.

    .venv/bin/python bench/ispl_jpeg_family.py [--quick] [--option blur_sigma=1.5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from facert.config import load_settings
from facert.demo.degrade import degrade_blur_noise_jpeg
from facert.models.registry import get_spec
from facert.pipeline.frame import Pipeline
from facert.stages.restore.restorer import parse_options

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from jpeg_family import (  # noqa: E402
    FULL_SIZE_FACE,
    REAL_PHOTOS,
    Enhance,
    FaceScore,
    FamilyCase,
    degraded_cases,
    family,
    load_photo,
    measure,
    reference,
)

SHARED = ROOT.parent / "shared"
BLURS = (1.0, 1.5, 2.0)


def print_rows(title: str, rows: list[FaceScore]) -> None:
    print(f"\n{title}")
    print(f"{'case':<44} {'face':>5}  {'PSNR dB':>17}  {'SSIM':>17}  {'blur':>5}")
    for r in rows:
        print(
            f"{r.label:<44.44} {r.width:>5.0f}  {r.psnr[0]:6.2f} -> {r.psnr[1]:6.2f}  "
            f"{r.ssim[0]:.4f} -> {r.ssim[1]:.4f}  {r.blur:5.2f}"
        )
    gains = np.array([r.psnr[1] - r.psnr[0] for r in rows])
    similarity = np.array([r.ssim[1] - r.ssim[0] for r in rows])
    worse = int(np.sum((gains < 0) | (similarity < 0)))
    print(
        f"{len(rows)} faces: PSNR change min {gains.min():+.2f} mean {gains.mean():+.2f} max "
        f"{gains.max():+.2f} dB; SSIM change min {similarity.min():+.4f} mean "
        f"{similarity.mean():+.4f}; {worse} faces worse on PSNR or SSIM"
    )


def enhancer(pipeline: Pipeline) -> Enhance:
    def enhance(image: np.ndarray) -> tuple[np.ndarray, list, dict[str, np.ndarray]]:
        result = pipeline.enhance(image)
        return result.image, result.faces, getattr(result, "face_options", {})

    return enhance


def blurred_cases(
    photos: tuple[str, ...], faces: tuple[int, ...]
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    for photo in photos:
        image = load_photo(photo, SHARED if SHARED.is_dir() else None)
        if image is None:
            continue
        for face in faces:
            if face > FULL_SIZE_FACE[photo]:
                continue
            clean = reference(image, FamilyCase(photo, face, 0))
            for blur in BLURS:
                yield (
                    f"{photo} {face}px b{blur}",
                    clean,
                    degrade_blur_noise_jpeg(clean, 0, blur_sigma=blur),
                )


def readings(pipeline: Pipeline, sets: dict[str, list[tuple[str, np.ndarray]]]) -> None:
    """The blur estimator's raw readings on the crops ISPL sees (deblocked when JPEG is found)."""
    from facert.stages.align.warp import align_faces, crop_scale
    from facert.stages.restore.blur import GAIN, SHARP_READING, reading
    from facert.stages.restore.correction import deblocked_crops

    spec = pipeline.restorer.spec
    found: dict[str, list[tuple[str, float]]] = {}
    for name, images in sets.items():
        for label, image in images:
            faces = pipeline.detect(image)
            if not faces:
                continue
            crops, affines = align_faces(image, faces, spec.input_size, spec.crop_border)
            deblocked = deblocked_crops(image, faces, affines, spec.input_size, spec.crop_border)
            crops = crops if deblocked is None else deblocked
            for crop, affine in zip(crops, affines, strict=True):
                found.setdefault(name, []).append((label, reading(crop, crop_scale(affine))))
    family_max = max(value for _, value in found["family"])
    ratios = [
        float(label.split(" b")[-1]) / np.sqrt(value**2 - SHARP_READING**2)
        for label, value in found["blurred"]
        if value > SHARP_READING
    ]
    print(
        f"\nblur readings: JPEG family max {family_max:.3f} (x1.05 = {1.05 * family_max:.3f}; "
        f"SHARP_READING {SHARP_READING}); blurred: {len(ratios)}/{len(found['blurred'])} above it, "
        f"median true/estimated {np.median(ratios):.2f} (GAIN {GAIN})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the two package photos only")
    parser.add_argument("--option", action="append", default=[], help="ISPL option NAME=VALUE")
    parser.add_argument("--no-readings", action="store_true")
    args = parser.parse_args()
    shared = SHARED if SHARED.is_dir() and not args.quick else None
    photos = ("grace_hopper", "astronaut") + (REAL_PHOTOS if shared else ())
    options = parse_options(get_spec("ispl"), args.option)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"ISPL options {options or 'defaults'}; photos {len(photos)}; load average {load}")
    start = time.perf_counter()
    with Pipeline.open(load_settings(), "ispl", model_options=options) as pipeline:
        enhance = enhancer(pipeline)
        family_images, rows = [], []
        for case, clean, degraded in degraded_cases(family(photos), shared):
            rows += measure(clean, degraded, case.label, enhance)
            family_images.append((case.label, degraded))
        print_rows("low resolution + JPEG, no blur", rows)
        blurred_images, rows = [], []
        for label, clean, degraded in blurred_cases(photos, (30, 64, 120)):
            rows += measure(clean, degraded, label, enhance)
            blurred_images.append((label, degraded))
        print_rows("blur + noise 6 + JPEG 75", rows)
        rows = []
        for name in ("grace_hopper", "astronaut"):
            clean = load_photo(name, None)
            assert clean is not None
            rows += measure(clean, degrade_blur_noise_jpeg(clean, 0), f"{name} demo b1.5", enhance)
        print_rows("make demo's ISPL cases (full size, blur 1.5 + noise 6 + JPEG 75)", rows)
        if not args.no_readings:
            readings(pipeline, {"family": family_images, "blurred": blurred_images})
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
