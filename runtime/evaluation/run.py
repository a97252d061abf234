"""``facert eval``: degrade clean photos with the papers' protocol, restore them with every model
through the full pipeline, and score each against the clean photo.

Output layout (``facert study`` reads it)::

    OUT/clean/<name>.png     the clean photo, as read
    OUT/input/<name>.png     its degraded copy (:mod:`facert.demo.protocol`)
    OUT/<method>/<name>.png  each model's restoration of the degraded copy
    OUT/eval.json            parameters, per-image and per-method scores
    OUT/eval.md              the comparison table
    OUT/contact-sheet.png    faces side by side (:mod:`facert.evaluation.sheet`)

Scores: PSNR (dB) and SSIM of the whole image and over the face regions, the boxes MTCNN finds on
the clean photo (PSNR over the boxes' pixels together; SSIM per box, averaged weighted by area),
the seconds per image of the pipeline's ``enhance``, and the seam at the border of the mask each
face was pasted under (:mod:`facert.evaluation.seams`, uint8 levels): the restorations are made
with the paste ``mask`` (``square`` or ``parse``) and ``color_correction`` of ``facert enhance``,
and eval.json records both. The method ``input`` scores the degraded copy itself (no face pasted:
no seam).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facert.config import Settings
from facert.demo.metrics import psnr, ssim
from facert.demo.protocol import Preset, degrade, draw
from facert.errors import FacertError
from facert.evaluation.seams import KEYS as SEAM_KEYS
from facert.evaluation.seams import face_borders, seam_scores
from facert.io.images import LoadedImage, read_image, write_image

if TYPE_CHECKING:
    from facert.stages.blend.color import ColorCorrection
    from facert.stages.blend.parse import Mask

SCHEMA = "facert-eval/1"
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Paste:
    """How the restored faces are pasted back: ``enhance``'s ``--mask`` and ``--color-correction``
    (checked when the pipeline opens)."""

    mask: Mask = "square"
    color_correction: ColorCorrection = "none"


@dataclass
class CleanImage:
    name: str
    image: np.ndarray  # (H, W, 3) uint8 BGR
    boxes: list[Box] = field(default_factory=list)
    scale: float = 1.0


def face_boxes_and_scale(settings: Settings, image: np.ndarray) -> tuple[list[Box], float]:
    """The boxes of the faces MTCNN finds in ``image`` (clipped, integer x1, y1, x2, y2) and the
    median crop scale of their alignment at 512 px (1.0 without faces)."""
    from facert.stages.align.warp import crop_scale, estimate_affine, face_template
    from facert.stages.detect import build_detector

    with build_detector(settings, "mtcnn") as detector:
        faces = detector.detect(image)
    height, width = image.shape[:2]
    boxes = []
    for face in faces:
        x1, y1, x2, y2 = (round(float(v)) for v in face.box)
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
        if x2 - x1 >= 11 and y2 - y1 >= 11:
            boxes.append((x1, y1, x2, y2))
    template = face_template(512)
    scales = [crop_scale(estimate_affine(f.landmarks, template)) for f in faces]
    return boxes, float(np.median(scales)) if scales else 1.0


def scores(clean: CleanImage, image: np.ndarray) -> dict[str, float | None]:
    """Whole-image and face-region PSNR/SSIM of ``image`` against the clean photo."""
    facts: dict[str, float | None] = {
        "psnr_db": round(psnr(clean.image, image), 4),
        "ssim": round(ssim(clean.image, image), 5),
        "face_psnr_db": None,
        "face_ssim": None,
    }
    if clean.boxes:
        mask = np.zeros(image.shape[:2], bool)
        weighted, area = 0.0, 0
        for x1, y1, x2, y2 in clean.boxes:
            mask[y1:y2, x1:x2] = True
            size = (x2 - x1) * (y2 - y1)
            weighted += size * ssim(clean.image[y1:y2, x1:x2], image[y1:y2, x1:x2])
            area += size
        facts["face_psnr_db"] = round(psnr(clean.image[mask], image[mask]), 4)
        facts["face_ssim"] = round(weighted / area, 5)
    return facts


def summary(results: list[dict[str, Any]], methods: list[str]) -> list[dict[str, Any]]:
    """Per method: the means over images of every score and of the seconds."""
    rows = []
    for method in methods:
        mine = [r for r in results if r["method"] == method]
        row: dict[str, Any] = {"method": method, "images": len(mine)}
        for key in ("face_psnr_db", "face_ssim", "psnr_db", "ssim", "seconds", *SEAM_KEYS):
            values = [r[key] for r in mine if r.get(key) is not None]
            row[key] = round(float(np.mean(values)), 4) if values else None
        rows.append(row)
    return rows


def restore_all(
    settings: Settings,
    model: str,
    images: list[CleanImage],
    degraded: dict[str, np.ndarray],
    out: Path,
    engine: tuple[str, str],
    report: Callable[[str], None],
    paste: Paste,
) -> list[dict[str, Any]]:
    """``model`` restores every degraded copy through the full pipeline, pasting as ``paste``
    says; its score rows (seams at the borders of the masks the faces were pasted under)."""
    from facert.pipeline.frame import EnhanceOptions, Pipeline

    rows = []
    backend, precision = engine
    options = EnhanceOptions(color_correction=paste.color_correction, mask=paste.mask)
    with Pipeline.open(
        settings, model, options=options, backend=backend, precision=precision, report=report
    ) as pipeline:
        pipeline.enhance(degraded[images[0].name])  # warm-up: first-run costs out of the times
        for clean in images:
            start = time.perf_counter()
            result = pipeline.enhance(degraded[clean.name])
            seconds = time.perf_counter() - start
            write_image(out / model / f"{clean.name}.png", LoadedImage(result.image, None, 8))
            spec, shape = pipeline.restorer.spec, result.image.shape
            borders = face_borders(spec, result.faces, result.masks, shape)
            rows.append(
                {
                    "method": model,
                    "image": clean.name,
                    "faces": len(result.faces),
                    "seconds": round(seconds, 4),
                    **scores(clean, result.image),
                    **seam_scores(result.image, clean.image, borders),
                }
            )
            report(
                f"{model} {clean.name}: {rows[-1]['face_psnr_db']} dB on the faces, "
                f"seam {rows[-1]['seam']} levels"
            )
    return rows


def load_clean(
    settings: Settings, sources: list[tuple[str, Path]], report: Callable[[str], None]
) -> tuple[list[CleanImage], list[str]]:
    """The readable clean photos (faces found on each) and one error line per unreadable one."""
    images, errors = [], []
    for name, path in sources:
        try:
            loaded = read_image(path, settings.max_pixels)
        except FacertError as exc:
            errors.append(str(exc))
            continue
        boxes, scale = face_boxes_and_scale(settings, loaded.bgr)
        images.append(CleanImage(name, loaded.bgr, boxes, scale))
        report(f"{name}: {len(boxes)} face(s), face scale {scale:.2f}")
    return images, errors


def evaluate(
    settings: Settings,
    images: list[CleanImage],
    preset: Preset,
    seed: int,
    models: list[str],
    out: Path,
    engine: tuple[str, str] = ("auto", "auto"),
    report: Callable[[str], None] = lambda line: None,
    paste: Paste | None = None,
) -> dict[str, Any]:
    """Degrade, restore and score ``images`` (faces pasted as ``paste`` says, default the square
    mask without colour correction); writes OUT's images and returns eval.json's data."""
    paste = paste or Paste()
    degraded, params, results = {}, [], []
    for clean in images:
        drawn = draw(preset, seed, clean.name)
        degraded[clean.name] = degrade(clean.image, drawn, clean.scale)
        write_image(out / "clean" / f"{clean.name}.png", LoadedImage(clean.image, None, 8))
        write_image(out / "input" / f"{clean.name}.png", LoadedImage(degraded[clean.name], None, 8))
        params.append(
            {
                "image": clean.name,
                "faces": len(clean.boxes),
                "boxes": clean.boxes,
                "face_scale": round(clean.scale, 4),
                "degradation": drawn,
            }
        )
        results.append(
            {
                "method": "input",
                "image": clean.name,
                "faces": len(clean.boxes),
                "seconds": None,
                **scores(clean, degraded[clean.name]),
                **dict.fromkeys(SEAM_KEYS),
            }
        )
    for model in models:
        report(f"restoring {len(images)} image(s) with {model}")
        results += restore_all(settings, model, images, degraded, out, engine, report, paste)
    methods = ["input", *models]
    return {
        "schema": SCHEMA,
        "preset": {**preset.__dict__},
        "seed": seed,
        "engine": {"backend": engine[0], "precision": engine[1]},
        "mask": paste.mask,
        "color_correction": paste.color_correction,
        "methods": methods,
        "images": params,
        "results": results,
        "summary": summary(results, methods),
    }
