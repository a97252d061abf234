"""Seams in ``facert eval``: does a restored photo step where its faces were pasted back?

Per restored photo, the seam measure of :mod:`facert.stages.blend.seam` at the border of the mask
every face the pipeline pasted was blended under, against the clean photo, in uint8 levels:

- ``seam``: ``excess - inside`` (``Seam.over_inside``), what the border adds: the mean absolute
  step of ``restored - clean`` across the mask's border, minus the same step on a line inside the
  face (about 0 for a seamless paste; a face brightened under the mask only scores its brightening);
- ``seam_step``: the step across the border (``excess``), ``seam_inside``: the one inside the face;
- ``seam_tone``: the steps' mean per side of the border (``tone``): a tone offset along a side.

Faces are weighted by their border's points (larger faces count more). A face is left out when
most of its border lies outside the photo, or when it is too small for a line inside it (a pasted
square under about 20 pixels a side: smaller than the faces detectors find); a photo without a
face measured has None.

The parse mask (``--mask parse``): each face's own mask as the paste used it (its 8-bit alpha,
``round(255 * mask)``, warped bilinearly into the frame over the face's box), its border the 0.5
level line (:func:`facert.stages.blend.seam.mask_border`); a face whose mask has no such line
inside the frame (a parser that kept nothing of it) is left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from facert.models.registry import ModelSpec
from facert.stages.align.warp import estimate_affine, face_template
from facert.stages.blend.paste import canvas_placement, crop_to_background, mask_alpha
from facert.stages.blend.seam import Border, Seam, mask_border, pasted_border, seam_at
from facert.stages.faces import Face

KEYS = ("seam", "seam_step", "seam_inside", "seam_tone")


def face_borders(
    spec: ModelSpec,
    faces: Sequence[Face],
    masks: Sequence[np.ndarray] | None = None,
    shape: tuple[int, ...] = (),
) -> list[Border]:
    """The borders of the masks ``faces`` were pasted under by a restorer of ``spec`` (its crop
    size and alignment template, upscale 1): :func:`pasted_border` for the square mask (``masks``
    None), else :func:`parse_border` of each face's mask ((S, S) float32 [0, 1] on its crop's
    grid, ``EnhanceResult.masks``) in a frame of ``shape`` (H, W); faces without one left out."""
    template = face_template(spec.input_size, spec.template)
    affines = [estimate_affine(face.landmarks, template) for face in faces]
    if masks is None:
        return [pasted_border(affine, spec.input_size) for affine in affines]
    if len(masks) != len(faces):
        raise ValueError(f"{len(faces)} faces but {len(masks)} masks")
    borders = [parse_border(a, m, shape[:2]) for a, m in zip(affines, masks, strict=True)]
    return [border for border in borders if border is not None]


def parse_border(affine: np.ndarray, mask: np.ndarray, shape: tuple[int, ...]) -> Border | None:
    """The border of a face pasted with ``affine`` ((2, 3) float64 frame -> crop) under ``mask``
    ((S, S) float32 [0, 1] on the crop's grid) into an (H, W) ``shape`` frame at upscale 1: the
    mask as :func:`facert.stages.blend.paste.paste_masked` warps it (8-bit alpha, bilinear, over
    the face's box) through :func:`mask_border`; None when it has no border in the frame."""
    placed = canvas_placement(crop_to_background(affine, 1.0), mask.shape[0], 0, shape)
    if placed is None:
        return None
    box, local = placed
    size = (box[2] - box[0], box[3] - box[1])
    warped = cv2.warpAffine(mask_alpha(mask), local, size, flags=cv2.INTER_LINEAR)
    try:
        return mask_border(warped.astype(np.float32) / 255, (float(box[0]), float(box[1])))
    except ValueError:
        return None


def seam_scores(
    restored: np.ndarray, clean: np.ndarray, borders: Sequence[Border]
) -> dict[str, float | None]:
    """The seam columns (module doc) of ``restored`` against ``clean``, both (H, W, 3) uint8 BGR,
    at ``borders``, rounded to 3 decimals; None where no face was measured."""
    seams = [seam_at(restored, clean, border) for border in borders]
    measured: list[Seam] = [s for s in seams if math.isfinite(s.excess + s.inside)]
    if not measured:
        return dict.fromkeys(KEYS)
    weights = np.array([s.points for s in measured], np.float64)

    def mean(values: list[float]) -> float:
        return round(float(np.average(values, weights=weights)), 3)

    return {
        "seam": mean([s.over_inside for s in measured]),
        "seam_step": mean([s.excess for s in measured]),
        "seam_inside": mean([s.inside for s in measured]),
        "seam_tone": mean([s.tone for s in measured]),
    }
