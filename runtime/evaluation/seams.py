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

The parse mask (``--mask parse``) joins by a branch of :func:`face_borders` that feeds each face's
soft mask (frame-sized, or its box and offset) to :func:`facert.stages.blend.seam.mask_border`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from facert.errors import UsageError
from facert.models.registry import ModelSpec
from facert.stages.align.warp import estimate_affine, face_template
from facert.stages.blend.seam import Border, Seam, pasted_border, seam_at
from facert.stages.faces import Face

MASKS = ("square",)  # masks whose borders are measured; a soft mask array: seam.mask_border
KEYS = ("seam", "seam_step", "seam_inside", "seam_tone")


def face_borders(spec: ModelSpec, faces: Sequence[Face], mask: str = "square") -> list[Border]:
    """The borders of the masks ``faces`` were pasted under by a restorer of ``spec`` (its crop
    size and alignment template, upscale 1): :func:`pasted_border` for the square mask."""
    if mask not in MASKS:
        raise UsageError(f"seams are measured for the {', '.join(MASKS)} mask, not {mask!r}")
    template = face_template(spec.input_size, spec.template)
    return [
        pasted_border(estimate_affine(face.landmarks, template), spec.input_size) for face in faces
    ]


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
