"""The demo's paste-back case: a colour-cast face under the square mask, and under the parse mask
with colour correction, side by side.

facert ships no learned restorer weights, so the cast is put on a real restoration: ISPL (the
default) restores the photo's first face through the pipeline, then the restored crop gets the cast
a network might add (:func:`color_cast`) before it is pasted. Panels: the photo; the cast face under
facexlib's feathered square (the seam and the cast show); the same face colour-corrected (mean-std
over the mask) under the parse mask (``--mask parse``). Without ParseNet's export or weights in the
cache (a fresh machine cannot download them here) the last panel is square + colour correction, and
one line says what to fetch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facert.config import Settings
from facert.demo.samples import photo_path
from facert.errors import InputError, UsageError
from facert.io.images import LoadedImage, read_image, write_image
from facert.pipeline.frame import Pipeline
from facert.stages.blend.color import correct_colors, paste_weights
from facert.stages.blend.parse import PARSER, build_parser
from facert.stages.blend.paste import paste_faces

PHOTO = "grace_hopper"
CAST_SHIFT_BGR = (24.0, 0.0, -14.0)  # levels added per channel: a blue cast
CAST_CONTRAST, CAST_OFFSET = 0.85, 5.0  # contrast about mid-grey, then an offset


def color_cast(faces: np.ndarray) -> np.ndarray:
    """``faces`` (..., 3) uint8 BGR with a network-like colour cast: +24 blue, -14 red, contrast
    x 0.85 about 128, +5 levels; clipped, uint8."""
    shifted = faces.astype(np.float32) + np.asarray(CAST_SHIFT_BGR, np.float32)
    return np.clip((shifted - 128) * CAST_CONTRAST + 128 + CAST_OFFSET, 0, 255).astype(np.uint8)


@dataclass
class PasteCaseResult:
    file: Path
    panels: list[str]  # each panel's label
    face_errors: list[float]  # mean |pasted - photo| over the face box, uint8 levels, per paste
    note: str = ""  # the one line said when the parse panel was replaced


def _label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(out, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
    return out


def _parse_masks(settings: Settings, restored: np.ndarray) -> tuple[list[np.ndarray] | None, str]:
    """The parse masks of ``restored`` ((N, S, S, 3) uint8 BGR), or None and the line saying why."""
    try:
        parser = build_parser(settings.cache_dir, settings.threads)
    except UsageError:
        return None, (
            f"the parse-mask panel needs `facert models fetch {PARSER}` (ParseNet is not in the "
            "cache): it shows square mask + colour correction instead"
        )
    with parser:
        return parser.masks(restored), ""


def run_paste_case(settings: Settings, out_dir: Path) -> PasteCaseResult:
    """Write ``<photo>-paste-side-by-side.png`` under ``out_dir``; its panels and colour errors."""
    photo = read_image(photo_path(PHOTO), settings.max_pixels).bgr
    with Pipeline.open(settings, "ispl") as pipeline:
        faces = pipeline.detect(photo)[:1]
        if not faces:
            raise InputError("no face found for the paste-back case", path=PHOTO)
        crops, affines = pipeline.align(photo, faces)
        cast = color_cast(pipeline.restorer.restore(crops))
    masks, note = _parse_masks(settings, cast)
    weights = paste_weights(affines, photo.shape, crops.shape[1], masks)
    corrected = correct_colors(cast, crops, weights, "mean-std")
    square = paste_faces(photo, list(cast), affines, 1.0)
    fixed = paste_faces(photo, list(corrected), affines, 1.0, masks=masks)
    x1, y1, x2, y2 = (int(v) for v in faces[0].box)
    errors = [
        float(np.abs(image[y1:y2, x1:x2].astype(np.float32) - photo[y1:y2, x1:x2]).mean())
        for image in (square, fixed)
    ]
    labels = [
        "input",
        f"cast face, square mask: error {errors[0]:.1f}",
        f"{'parse' if masks is not None else 'square'} mask + mean-std: error {errors[1]:.1f}",
    ]
    sheet = np.hstack([_label(i, t) for i, t in zip((photo, square, fixed), labels, strict=True)])
    target = out_dir / f"{PHOTO}-paste-side-by-side.png"
    write_image(target, LoadedImage(sheet))
    return PasteCaseResult(target, labels, errors, note)
