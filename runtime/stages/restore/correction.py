"""Weight-free restorers as corrections of the photo's own pixels (the spec's ``paste="correction"``).

ISPL does not draw a new face: it corrects the one in the photo (deblurs, denoises). Two things make
that do no harm where nothing needs correcting:

* **Paste the change, not the face.** The aligned crop is the photo resampled (magnified several
  times for a small face), and pasting a face back resamples it again: on a sharp, lightly
  compressed face that round trip alone costs up to 0.8 dB over the face (measured with an identity
  restorer; ``bench/ispl_jpeg_family.py``). :func:`paste_corrections` adds ``restored - input crop``
  through the same feathered mask instead, so the photo keeps its own pixels wherever the restorer
  changed nothing.
* **Remove JPEG blocking first** (spec ``deblock_jpeg``): when the frame shows the quantisation
  lattice of a JPEG (:func:`facert.stages.restore.jpeg.estimate_quantisation`), the luma around each face is
  deblocked in the photo, on the file's own 8x8 grid (:func:`facert.stages.restore.jpeg.deblock`), before the crop
  the restorer sees is cut: block edges are then not read as detail (or as sharp edges by the blur
  estimate) and not deconvolved.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from facert.models.registry import CropBorder
from facert.stages.align.warp import warp_crop
from facert.stages.blend.paste import paste_faces
from facert.stages.faces import Face
from facert.stages.restore.jpeg import deblock, estimate_quantisation

MARGIN = 0.25  # the deblocked region: each face box grown by this fraction of its size per side
MAX_SIDE = 1024  # longest side of one deblocked region (about 1 s on 2 cores at that size)


def deblocked_crops(
    frame: np.ndarray,
    faces: Sequence[Face],
    affines: Sequence[np.ndarray],
    size: int,
    border: CropBorder,
) -> np.ndarray | None:
    """The faces' crops ((N, size, size, 3) uint8 BGR) cut from ``frame`` ((H, W, 3) uint8 BGR) with
    JPEG blocking removed around each face, or None when the frame shows no JPEG quantisation."""
    quantisation = estimate_quantisation(frame)
    if quantisation is None or not faces:
        return None
    source = frame
    for face in faces:
        source = deblock(source, quantisation, _region(face, frame.shape))
    return np.stack([warp_crop(source, affine, size, border=border) for affine in affines])


def _region(face: Face, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The face box grown by MARGIN per side, at most MAX_SIDE per side around its centre."""
    x1, y1, x2, y2 = (float(v) for v in face.box)
    half_w = min((x2 - x1) * (0.5 + MARGIN), MAX_SIDE / 2)
    half_h = min((y2 - y1) * (0.5 + MARGIN), MAX_SIDE / 2)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return (
        max(0, int(cx - half_w)),
        max(0, int(cy - half_h)),
        min(shape[1], int(np.ceil(cx + half_w))),
        min(shape[0], int(np.ceil(cy + half_h))),
    )


def paste_corrections(
    background: np.ndarray,
    restored: Sequence[np.ndarray],
    inputs: Sequence[np.ndarray],
    affines: Sequence[np.ndarray],
    upscale: float,
    masks: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """``background`` plus what the restorer changed: the faces' ``restored - inputs`` pasted
    through facexlib's feathered mask, or through ``masks`` (one (S, S) float32 [0, 1] per face,
    ``--mask parse``) when given (:func:`facert.stages.blend.paste.paste_faces`).

    ``background``: (Hu, Wu, 3) uint8 BGR (the frame, upscaled); ``restored``: the restorer's
    output; ``inputs``: the crops of the frame as it is (before any deblocking), each (S, S, 3) uint8
    BGR; ``affines``: frame -> crop. Returns a new (Hu, Wu, 3) uint8 BGR array. With ``restored == inputs`` it equals
    ``background`` exactly.
    """
    with_restored = paste_faces(background, restored, affines, upscale, masks=masks)
    with_inputs = paste_faces(background, inputs, affines, upscale, masks=masks)
    gain = cv2.subtract(
        with_restored, with_inputs
    )  # saturating: each pixel gains or loses, not both
    loss = cv2.subtract(with_inputs, with_restored)
    return cv2.add(cv2.subtract(background, loss), gain)
