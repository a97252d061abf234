"""Paste-back: restored faces warped into the (upscaled) frame under facexlib's feathered square mask.

:func:`paste_faces` reproduces facexlib's ``FaceRestoreHelper.paste_faces_to_input_image`` with
``use_parse=False`` (later faces over earlier ones), touching only each face's box. Per output pixel
``(x, y)`` of the box it computes what a paste kernel would:

1. ``(u, v) = forward @ (x, y, 1)``, the crop position (``forward``: background -> crop);
2. ``face = round(bilinear(crop, u, v))`` (zero outside the crop); facexlib's masks as products of
   one-axis profiles, ``erosion = E_u(u) E_v(v)`` and ``soft = P_u(u) P_v(v)``
   (:mod:`facert.stages.blend.feather`);
3. ``out = round(face * erosion * alpha / 255) + round(out * (255 - alpha) / 255)``,
   ``alpha = round(255 * soft)``.

On the CPU the profiles are tabulated on the crop's grid and ``erosion`` (below 1 only on the
crop's outermost pixels) is applied to the face there (:mod:`facert.stages.blend.feather_crop`), so one
4-channel ``warpAffine`` samples face and mask together; the blend is a few uint8 OpenCV calls.

Two kinds of face take facexlib's own operations over the box instead (:mod:`facert.stages.blend.feather_box`),
then the same blend: a face whose mask's support (plus the erosion windows) reaches the
background's edge, because facexlib does not feather along the frame's edge (its erosions see +inf
outside, its blur reflects), which no product of crop-axis profiles expresses; and a face with
``w_edge < SMALLEST_MODELLED_FEATHER`` (small: its box is cheap, and the model is poor there).

``w_edge`` is always facexlib's: estimated from the matrix
(:func:`facert.stages.blend.feather.estimated_eroded_area`), measured over the box when the estimate lies
within :func:`facert.stages.blend.feather.ambiguity` of a step. What differs from facexlib (PSNR over the faces'
boxes above 50 dB, see tests/runtime/stages/blend/test_paste.py): facexlib sums in float32 and truncates once at the
end, this rounds each term and each face (most of the difference: 1 level on about half the
feathered pixels; and where facexlib's float32 ``soft`` is 1 - 6e-8 over a face's plateau, its
truncation takes 1 level off a third of those pixels); the mask's 8-bit steps; the model's corners
(at most about 0.013 of ``soft``).

With ``masks`` (``--mask parse``, :mod:`facert.stages.blend.parse`) each face is pasted under its
own mask instead, warped with it (:func:`paste_masked`): facexlib's ``use_parse=True`` paste.

Matrix convention: ``affines`` are (2, 3) float64 frame -> crop matrices (see :mod:`facert.stages.align.warp`)
in ORIGINAL frame pixels; ``upscale`` maps original frame pixels onto background pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from facert.stages.blend.feather import (
    ambiguity,
    estimated_eroded_area,
    feather_width,
    is_ambiguous,
)
from facert.stages.blend.feather_box import eroded_mask, soft_mask
from facert.stages.blend.feather_crop import feathered_crop
from facert.stages.blend.workspace import Workspace

Box = tuple[int, int, int, int]  # x0, y0, x1, y1: columns x0..x1-1, rows y0..y1-1
_PAD = 3  # zero pixels kept around the mask's support where facexlib's operations run on a box
# Smaller w_edge (blur kernels of 7 taps or fewer, OpenCV's fixed tables rather than Gaussians;
# faces under about 80 px) takes the box path: the model's corners there erred by 10-40 levels.
SMALLEST_MODELLED_FEATHER = 4
_WORKSPACE = Workspace()


def upscale_background(
    frame: np.ndarray, upscale: float, interpolation: int = cv2.INTER_CUBIC
) -> np.ndarray:
    """The frame resized to ``(int(H * upscale), int(W * upscale))``: (Hu, Wu, 3) uint8, bicubic
    unless ``interpolation`` (an OpenCV flag) says otherwise.

    facexlib resizes with INTER_LANCZOS4; bicubic is close and cheaper. Same size gives a copy.
    """
    height, width = frame.shape[:2]
    size = (int(width * upscale), int(height * upscale))
    if size[0] <= 0 or size[1] <= 0:
        raise ValueError(f"upscale {upscale} leaves no pixels of a {width}x{height} frame")
    if size == (width, height):
        return frame.copy()
    return cv2.resize(frame, size, interpolation=interpolation)


def paste_faces(
    background: np.ndarray,
    restored: Sequence[np.ndarray],
    affines: Sequence[np.ndarray],
    upscale: float,
    *,
    out: np.ndarray | None = None,
    masks: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """Blend restored faces into the background; facexlib's square-mask paste-back, or its
    parse-mask one when ``masks`` are given.

    ``background``: (Hu, Wu, 3) uint8 BGR, the frame already upscaled (:func:`upscale_background`).
    ``restored``: faces, each (S, S, 3) uint8 BGR on the pixel grid of the crop its affine made.
    ``affines``: one (2, 3) frame -> crop matrix per face, in original frame pixels.
    ``masks``: one (S, S) float32 [0, 1] mask per face on its crop's grid
    (:func:`facert.stages.blend.parse.soft_mask`), warped with the face and pasted under as it is
    (:func:`paste_masked`); None: facexlib's feathered square.
    Returns (Hu, Wu, 3) uint8 BGR, later faces over earlier ones: a new array, or ``out`` when
    given (it may be ``background`` itself, to paste in place).
    """
    if background.ndim != 3 or background.shape[2] != 3 or background.dtype != np.uint8:
        raise ValueError(
            f"background must be (H, W, 3) uint8, got {background.shape} {background.dtype}"
        )
    if len(restored) != len(affines):
        raise ValueError(f"{len(restored)} restored faces but {len(affines)} affine matrices")
    if not upscale > 0:
        raise ValueError(f"upscale must be positive, got {upscale}")
    for face in restored:
        if face.ndim != 3 or face.shape[:2] != (face.shape[0],) * 2 or face.shape[2] != 3:
            raise ValueError(f"restored faces must be (S, S, 3) uint8, got {face.shape}")
        if face.dtype != np.uint8:
            raise ValueError(f"restored faces must be (S, S, 3) uint8, got {face.dtype}")
    if out is None:
        output = background.copy()
    else:
        if out.shape != background.shape or out.dtype != np.uint8:
            raise ValueError(f"out must be {background.shape} uint8, got {out.shape} {out.dtype}")
        output = out
        if out is not background:
            np.copyto(output, background)
    if masks is not None and len(masks) != len(restored):
        raise ValueError(f"{len(restored)} restored faces but {len(masks)} masks")
    for index, (face, affine) in enumerate(zip(restored, affines, strict=True)):
        inverse = crop_to_background(affine, upscale)
        if masks is None:
            _paste_face(output, face, inverse, upscale)
        else:
            paste_masked(output, face, masks[index], inverse)
    return output


def paste_path(
    affine: np.ndarray, face_size: int, upscale: float, background_shape: tuple[int, ...]
) -> str:
    """How :func:`paste_faces` pastes a face: ``"profiles"`` (the separable mask), ``"box"``
    (facexlib's operations over the box: cut by the frame's edge, or small) or ``"none"`` (its
    mask misses the background). Arguments as :func:`paste_faces`'s, for one face."""
    inverse = crop_to_background(affine, upscale)
    support, w_edge = mask_plan(inverse, face_size, upscale, background_shape[:2])
    return "none" if support is None else ("box" if w_edge is None else "profiles")


def crop_to_background(affine: np.ndarray, upscale: float) -> np.ndarray:
    """facexlib's inverse affine: (2, 3) float64 crop -> background pixels."""
    inverse = cv2.invertAffineTransform(np.asarray(affine, dtype=np.float64)) * upscale
    if upscale > 1:
        inverse[:, 2] += 0.5 * upscale
    return inverse


def _paste_face(output: np.ndarray, face: np.ndarray, inverse: np.ndarray, upscale: float) -> None:
    """Blend one face into ``output`` (H, W, 3) uint8 in place; ``inverse``: crop -> background."""
    support, w_edge = mask_plan(inverse, face.shape[0], upscale, output.shape[:2])
    if support is None:
        return  # the mask misses the background
    if w_edge is None:
        _paste_by_box(output, face, inverse, upscale, support)
    else:
        _paste_by_profiles(output, face, inverse, upscale, w_edge)


def mask_plan(
    inverse: np.ndarray, size: int, upscale: float, shape: tuple[int, ...]
) -> tuple[Box | None, int | None]:
    """The box of the face's mask support (None: off the background) and which path pastes it.

    The second value is facexlib's ``w_edge`` when the separable model applies, None when the
    face takes the box path (the frame's edge cuts it, or ``w_edge < SMALLEST_MODELLED_FEATHER``).
    """
    # the warped ones mask's support
    support, cut = background_box(inverse, -2.0, size + 1.0, _PAD, shape)
    if support is None or cut:
        return support, None
    forward = cv2.invertAffineTransform(inverse)
    area = estimated_eroded_area(forward, size, upscale)
    if is_ambiguous(area, ambiguity(forward)):
        local, box_size = to_box(inverse, support)
        area = float(eroded_mask(local, size, box_size, upscale, _WORKSPACE).sum(dtype=np.float64))
    w_edge = feather_width(area)
    return support, (w_edge if w_edge >= SMALLEST_MODELLED_FEATHER else None)


def _paste_by_profiles(
    output: np.ndarray, face: np.ndarray, inverse: np.ndarray, upscale: float, w_edge: int
) -> None:
    """Blend a face with the separable mask: one canvas, one 4-channel warp, one blend."""
    forward = cv2.invertAffineTransform(inverse)
    canvas, margin = feathered_crop(face, forward, upscale, w_edge, _WORKSPACE)
    placed = canvas_placement(inverse, face.shape[0], margin, output.shape[:2])
    if placed is None:
        return
    box, local = placed
    _warp_and_blend(output, canvas, local, box)


def _warp_and_blend(output: np.ndarray, canvas: np.ndarray, local: np.ndarray, box: Box) -> None:
    """Warp ``canvas`` ((n, m, 4) uint8: the face with its alpha, ``round(255 * soft)``) into
    ``box`` of ``output`` with ``local`` (canvas -> box pixels), bilinear, and blend it there."""
    box_size = (box[2] - box[0], box[3] - box[1])
    warped = _WORKSPACE.array("warped", (box_size[1], box_size[0], 4), np.uint8)
    cv2.warpAffine(canvas, local, box_size, dst=warped, flags=cv2.INTER_LINEAR)
    pasted = _WORKSPACE.array("pasted", (box_size[1], box_size[0], 3), np.uint8)
    cv2.cvtColor(warped, cv2.COLOR_BGRA2BGR, dst=pasted)
    alpha = _WORKSPACE.array("alpha", (box_size[1], box_size[0]), np.uint8)
    cv2.extractChannel(warped, 3, dst=alpha)
    _blend(output[box[1] : box[3], box[0] : box[2]], pasted, alpha)


def paste_masked(
    output: np.ndarray, face: np.ndarray, mask: np.ndarray, inverse: np.ndarray
) -> None:
    """Blend one face into ``output`` ((H, W, 3) uint8 BGR, in place) under its own ``mask``
    ((S, S) float32 [0, 1] on the face's grid): facexlib's ``use_parse`` paste over the face's box.

    ``round(255 * mask)`` rides as the face's alpha through one 4-channel bilinear warp
    (``inverse``: crop -> background), then the uint8 blend of the square path, without the
    erosion factor (facexlib pastes the warped face as it is under a parse mask).
    """
    placed = canvas_placement(inverse, face.shape[0], 0, output.shape[:2])
    if placed is None:
        return
    box, local = placed
    bgra = _WORKSPACE.array("bgra", (*face.shape[:2], 4), np.uint8)
    cv2.cvtColor(face, cv2.COLOR_BGR2BGRA, dst=bgra)
    bgra[:, :, 3] = mask_alpha(mask, _WORKSPACE.array("mask_alpha", mask.shape, np.uint8))
    _warp_and_blend(output, bgra, local, box)


def mask_alpha(mask: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The alpha a face's own ``mask`` ((S, S) float32 [0, 1]) pastes it with: ``round(255 *
    mask)``, (S, S) uint8, written into ``out`` when given."""
    alpha = np.empty(mask.shape, np.uint8) if out is None else out
    cv2.convertScaleAbs(mask, dst=alpha, alpha=255)
    return alpha


def _paste_by_box(
    output: np.ndarray, face: np.ndarray, inverse: np.ndarray, upscale: float, box: Box
) -> None:
    """Blend a face with facexlib's own mask operations over its ``box`` (see feather_box)."""
    local, box_size = to_box(inverse, box)
    erosion = eroded_mask(local, face.shape[0], box_size, upscale, _WORKSPACE)
    soft = soft_mask(erosion, feather_width(float(erosion.sum(dtype=np.float64))), _WORKSPACE)
    bgra = _WORKSPACE.array("bgra", (*face.shape[:2], 4), np.uint8)
    cv2.cvtColor(face, cv2.COLOR_BGR2BGRA, dst=bgra)  # 4-channel warps are twice as fast
    warped = _WORKSPACE.array("warped", (box_size[1], box_size[0], 4), np.uint8)
    cv2.warpAffine(bgra, local, box_size, dst=warped, flags=cv2.INTER_LINEAR)
    pasted = _WORKSPACE.array("pasted", (box_size[1], box_size[0], 3), np.uint8)
    cv2.cvtColor(warped, cv2.COLOR_BGRA2BGR, dst=pasted)
    erosion3 = _WORKSPACE.array("erosion3", pasted.shape, np.float32)
    cv2.cvtColor(erosion, cv2.COLOR_GRAY2BGR, dst=erosion3)
    cv2.multiply(pasted, erosion3, dst=pasted, dtype=cv2.CV_8U)  # erosion * face, rounded
    alpha = _WORKSPACE.array("alpha", erosion.shape, np.uint8)
    cv2.convertScaleAbs(soft, dst=alpha, alpha=255)  # round(255 * soft)
    _blend(output[box[1] : box[3], box[0] : box[2]], pasted, alpha)


def canvas_placement(
    inverse: np.ndarray, size: int, margin: int, shape: tuple[int, ...]
) -> tuple[Box, np.ndarray] | None:
    """Where the profiles path warps a face's canvas (``size`` + 2 ``margin`` crop pixels a side):
    its background box (clipped to ``shape`` (H, W)) and the (2, 3) float64 canvas -> box
    matrix, or None when the canvas misses the background. ``inverse``: crop -> background."""
    box, _ = background_box(inverse, -margin - 2.0, size + margin + 1.0, 0, shape)
    if box is None:
        return None
    local, _ = to_box(inverse, box)
    local[:, 2] -= inverse[:, :2] @ (margin, margin)  # canvas -> box pixels
    return box, local


def to_box(inverse: np.ndarray, box: Box) -> tuple[np.ndarray, tuple[int, int]]:
    """(crop -> box pixels matrix, (width, height)) for a background box."""
    local = inverse.copy()
    local[:, 2] -= (box[0], box[1])
    return local, (box[2] - box[0], box[3] - box[1])


def background_box(
    inverse: np.ndarray, first: float, last: float, pad: int, shape: tuple[int, ...]
) -> tuple[Box | None, bool]:
    """Background box of the crop square ``[first, last]^2`` (+ ``pad``), clipped; and if clipped.

    Bilinear sampling is non-zero only strictly inside one pixel of the sampled grid; callers pass
    one crop pixel more each side, which covers any rounding of the sample positions.
    """
    corners = np.array([[first, first], [last, first], [first, last], [last, last]])
    mapped = corners @ inverse[:, :2].T + inverse[:, 2]
    left, top = np.floor(mapped.min(axis=0)) - pad
    right, bottom = np.ceil(mapped.max(axis=0)) + 1 + pad
    height, width = shape
    box = (int(max(left, 0)), int(max(top, 0)), int(min(right, width)), int(min(bottom, height)))
    cut = left < 0 or top < 0 or right > width or bottom > height
    return (None if box[0] >= box[2] or box[1] >= box[3] else box), cut


def _blend(region: np.ndarray, pasted: np.ndarray, alpha: np.ndarray) -> None:
    """``region = round(pasted * alpha / 255) + round(region * (255 - alpha) / 255)``, in place.

    ``region``: (h, w, 3) uint8 BGR view of the output; ``pasted``: (h, w, 3) uint8 BGR, the face
    times ``erosion`` (overwritten); ``alpha``: (h, w) uint8, ``round(255 * soft)``. The sum
    exceeds 255 only by rounding, and OpenCV's add saturates.
    """
    alpha3 = _WORKSPACE.array("alpha3", pasted.shape, np.uint8)
    cv2.cvtColor(alpha, cv2.COLOR_GRAY2BGR, dst=alpha3)
    cv2.multiply(pasted, alpha3, scale=1 / 255, dst=pasted)
    cv2.bitwise_not(alpha3, dst=alpha3)  # 255 - alpha
    cv2.multiply(region, alpha3, scale=1 / 255, dst=region)
    cv2.add(region, pasted, dst=region)
