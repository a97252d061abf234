"""The demo: real photos from installed packages, synthetic damage, restoration, measured quality.

Each case takes a clean photo that ships inside a registry package (matplotlib's grace_hopper.jpg,
scikit-image's astronaut.png), damages it with a documented, seeded degradation
(:mod:`facert.demo.degrade`), restores it through the full pipeline (detect, align, restore, blend) and
scores the degraded and the restored photo against the clean one, over the whole image and over the
face boxes the pipeline found (WIPA finds them after restoring the whole photo).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facert.config import Settings
from facert.demo.degrade import degrade_blur_noise_jpeg, degrade_noise_scratches_fading
from facert.demo.metrics import psnr, ssim
from facert.demo.samples import SAMPLES, photo_path
from facert.errors import InputError
from facert.io.images import LoadedImage, read_image, write_image
from facert.models.registry import get_spec
from facert.pipeline.frame import Pipeline
from facert.stages.faces import Face

Degradation = Callable[[np.ndarray, int], np.ndarray]


DEMO_BLUR_SIGMA = 1.5  # photo pixels: the blur of the ISPL cases (estimated, and told in one)


@dataclass(frozen=True)
class DemoCase:
    photo: str  # a name in facert.demo.samples.SAMPLES
    model: str
    degradation: str
    options: tuple[tuple[str, float], ...] = ()  # model options (what the demo knows it did)

    @property
    def name(self) -> str:
        """The case as the table names it: photo, degradation and the options it was told."""
        told = ",".join(f"{k}={v:g}" for k, v in self.options)
        return f"{self.photo} / {self.degradation}" + (f" ({told})" if told else "")


DEGRADATIONS: dict[str, Degradation] = {
    "blur+noise+jpeg": lambda image, seed: degrade_blur_noise_jpeg(
        image, seed=seed, blur_sigma=DEMO_BLUR_SIGMA
    ),
    "noise+scratches+fading": lambda image, seed: degrade_noise_scratches_fading(image, seed=seed),
}

CASES = tuple(
    DemoCase(photo, model, degradation, options)
    for model, degradation, options in (
        ("ispl", "blur+noise+jpeg", ()),  # the default: ISPL estimates the blur per face
        ("ispl", "blur+noise+jpeg", (("blur_sigma", DEMO_BLUR_SIGMA),)),  # told the true blur
        ("wipa", "noise+scratches+fading", ()),
    )
    for photo in SAMPLES
)


@dataclass
class CaseResult:
    case: DemoCase
    psnr: tuple[float, float]  # degraded vs clean, restored vs clean (whole image)
    ssim: tuple[float, float]
    face_psnr: tuple[float, float]  # the same over the union of the face boxes
    face_ssim: tuple[float, float]
    faces: int
    seconds: float
    estimated: tuple[tuple[str, float], ...] = ()  # options the restorer estimated (first face)

    @property
    def name(self) -> str:
        guessed = ",".join(f"{k}~{v:.2f}" for k, v in self.estimated)
        return self.case.name + (f" ({guessed} est.)" if guessed else "")


def _face_region(faces: list[Face], shape: tuple[int, ...]) -> tuple[slice, slice]:
    if not faces:
        return slice(0, shape[0]), slice(0, shape[1])
    boxes = np.array([f.box for f in faces])
    x1, y1 = np.floor(boxes[:, :2].min(axis=0)).astype(int).clip(0)
    x2, y2 = np.ceil(boxes[:, 2:].max(axis=0)).astype(int)
    return slice(y1, min(y2, shape[0])), slice(x1, min(x2, shape[1]))


def _side_by_side(images: list[np.ndarray], labels: list[str]) -> np.ndarray:
    height = max(i.shape[0] for i in images)
    tiles = []
    for image, label in zip(images, labels, strict=True):
        tile = cv2.copyMakeBorder(
            image, 28, height - image.shape[0] + 4, 4, 4, cv2.BORDER_CONSTANT, value=(255, 255, 255)
        )
        cv2.putText(tile, label, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(tile)
    return np.hstack(tiles)


def run_case(case: DemoCase, settings: Settings, out_dir: Path, seed: int = 0) -> CaseResult:
    """Degrade, restore and score one case; write its images under ``out_dir``."""
    clean = read_image(photo_path(case.photo), settings.max_pixels).bgr
    degraded = DEGRADATIONS[case.degradation](clean, seed)
    with Pipeline.open(settings, case.model, model_options=dict(case.options)) as pipeline:
        start = time.perf_counter()
        result = pipeline.enhance(degraded)
        seconds = time.perf_counter() - start
    if not result.faces:
        raise InputError(
            f"no face found in the degraded photo ({case.degradation})", path=case.photo
        )
    restored = result.image
    rows, cols = _face_region(result.faces, clean.shape)
    stem = f"{case.photo}-{case.model}" + "".join(f"-{k}{v:g}" for k, v in case.options)
    for suffix, image in (("clean", clean), ("degraded", degraded), ("restored", restored)):
        write_image(out_dir / f"{stem}-{suffix}.png", LoadedImage(image))
    panel = _side_by_side(
        [clean, degraded, restored], ["clean", case.degradation, f"restored ({case.model})"]
    )
    write_image(out_dir / f"{stem}-side-by-side.png", LoadedImage(panel))
    return CaseResult(
        case=case,
        psnr=(psnr(degraded, clean), psnr(restored, clean)),
        ssim=(ssim(degraded, clean), ssim(restored, clean)),
        face_psnr=(
            psnr(degraded[rows, cols], clean[rows, cols]),
            psnr(restored[rows, cols], clean[rows, cols]),
        ),
        face_ssim=(
            ssim(degraded[rows, cols], clean[rows, cols]),
            ssim(restored[rows, cols], clean[rows, cols]),
        ),
        faces=len(result.faces),
        seconds=seconds,
        estimated=tuple(
            (name, float(values[0]))
            for name, values in result.face_options.items()
            if get_spec(case.model).option(name).estimated and name not in dict(case.options)
        ),
    )


def format_table(results: list[CaseResult]) -> str:
    """The demo's table: PSNR and SSIM degraded -> restored (whole image and face region), time."""
    header = f"{'case':<54} {'model':<5} {'faces':>5}  {'PSNR dB (image)':>17}  {'SSIM (image)':>15}  {'PSNR dB (face)':>17}  {'SSIM (face)':>15}  {'time':>7}"
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(
            f"{r.name:<54.54} {r.case.model:<5} {r.faces:>5}  "
            f"{r.psnr[0]:>7.2f} -> {r.psnr[1]:>6.2f}  {r.ssim[0]:>6.4f} -> {r.ssim[1]:>6.4f}  "
            f"{r.face_psnr[0]:>7.2f} -> {r.face_psnr[1]:>6.2f}  {r.face_ssim[0]:>6.4f} -> {r.face_ssim[1]:>6.4f}  "
            f"{r.seconds:>6.2f}s"
        )
    return "\n".join(lines)
