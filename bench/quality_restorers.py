"""PSNR/SSIM of ISPL and WIPA on the demo photos' aligned faces, each under its own degradation.

Each photo (matplotlib's grace_hopper.jpg, scikit-image's astronaut.png) is degraded whole with
:mod:`facert.demo.degrade` (seed 0, documented defaults), its face warped into the 512 crop with the
affine of tests/data/faces/faces.json, restored by the exported model on ONNX Runtime, and compared
with the clean crop. ISPL is given the degradation's blur (1.5 photo pixels, times the crop scale, as
the runtime feeds it) and also run with its defaults (the blur estimated on the crop, as the Restorer
does; the pipeline's JPEG deblocking and correction paste are not part of this crop-level check);
WIPA runs with its defaults.

    .venv/bin/python bench/quality_restorers.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from facert.backends.ort import OrtSession
from facert.config import load_settings
from facert.demo.degrade import degrade_blur_noise_jpeg, degrade_noise_scratches_fading
from facert.demo.metrics import psnr, ssim
from facert.models.exporting import ensure_artifact
from facert.models.registry import get_spec
from facert.stages.restore.restorer import ESTIMATORS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import astronaut_path, grace_hopper_path
from degraded_faces import clean_crop, crop_scale, degraded_crop

PHOTOS = {"grace_hopper": grace_hopper_path, "astronaut": astronaut_path}


def restore(
    session: OrtSession, model: str, crop: np.ndarray, scale: float, **given: float
) -> np.ndarray:
    """Run ``model`` on one (512, 512, 3) uint8 BGR crop; options default unless ``given``."""
    rgb = crop[:, :, ::-1].astype(np.float32).transpose(2, 0, 1)[None] / 255.0
    feed = {"image": rgb}
    for option in get_spec(model).options:
        value = given.get(option.name, option.default)
        if option.estimated and option.name not in given:
            value = float(ESTIMATORS[option.name](crop[None], np.array([scale]))[0])
        value *= scale if option.photo_pixels else 1.0
        feed[option.name] = np.array([value], dtype=np.float32)
    out = session.run(feed)["restored"][0].transpose(1, 2, 0)[:, :, ::-1]
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def main() -> None:
    import cv2

    cases = [
        ("ispl", degrade_blur_noise_jpeg, {"blur_sigma": 1.5}, "blur 1.5 given"),
        ("ispl", degrade_blur_noise_jpeg, {}, "defaults"),
        ("wipa", degrade_noise_scratches_fading, {}, "defaults"),
    ]
    cache = load_settings().cache_dir
    for model, degrade, given, label in cases:
        artifact = ensure_artifact(get_spec(model), cache)
        with OrtSession(artifact.path("model.onnx"), threads=2) as session:
            for name, path in PHOTOS.items():
                photo = cv2.imread(str(path()))
                degraded = degraded_crop(photo, name, degrade)
                clean = clean_crop(name)
                restored = restore(session, model, degraded, crop_scale(name), **given)
                before = psnr(degraded, clean), ssim(degraded, clean)
                after = psnr(restored, clean), ssim(restored, clean)
                print(
                    f"{model} ({label:14s}) {name:12s} PSNR {before[0]:5.2f} -> {after[0]:5.2f} dB "
                    f"({after[0] - before[0]:+.2f})  SSIM {before[1]:.3f} -> {after[1]:.3f} "
                    f"({after[1] - before[1]:+.3f})"
                )


if __name__ == "__main__":
    main()
