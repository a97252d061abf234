"""Paste-back: restored faces warped into the (upscaled) frame under facexlib's feathered square mask.

:func:`paste_faces` computes what facexlib's ``FaceRestoreHelper.paste_faces_to_input_image`` computes
with ``use_parse=False``, face by face, later faces over earlier ones:

- ``inverse = invertAffineTransform(affine) * upscale``, plus ``0.5 * upscale`` on its shift when
  ``upscale > 1``; the restored face and a ones mask are warped with it (bilinear, zero border);
- the feathered square mask ``soft`` and ``erosion`` from the warped ones mask (:mod:`facert.feather`);
- ``out = soft * (erosion * warped_face) + (1 - soft) * out`` in float32, truncated to uint8 once at
  the end (facexlib's ``astype``).

Unlike facexlib it touches only each face's box: the box of the warped crop, padded by the erosion and
blur reach, clipped to the frame. Inside that box every step sees what the full-frame step sees (the
mask is zero over the padding, and the frame edges are the same edges), so the masks are equal and
the float32 arithmetic is facexlib's, operation for operation. The one difference: OpenCV computes
each sample's source position in float32 from the destination pixel's position, so box-relative
positions round differently (by about 1e-4 pixel); where that tips a value across a rounding or
truncation boundary the output differs by 1 level (measured: under 1 pixel in 2000 of a face's box,
never more than 1). Overlapping boxes are blended together in one float32 canvas, so the truncation
happens once, as in facexlib. Pixels outside every box keep the background's values exactly.

Matrix convention: ``affines`` are (2, 3) float64 frame -> crop matrices (see :mod:`facert.align`)
in ORIGINAL frame pixels; ``upscale`` maps original frame pixels onto background pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from facert.feather import Workspace, soft_mask

Box = tuple[int, int, int, int]  # x0, y0, x1, y1: columns x0..x1-1, rows y0..y1-1
_PAD = 3  # zero pixels kept around a warped mask's support (2 are needed, see facert.feather)
_BAND_ROWS = 32  # rows blended at a time: ~0.25 MB float32 temporaries for a 700-pixel-wide box
_WORKSPACE = Workspace()


def upscale_background(frame: np.ndarray, upscale: float) -> np.ndarray:
    """The frame resized to ``(int(H * upscale), int(W * upscale))``: (Hu, Wu, 3) uint8, bicubic.

    facexlib resizes with INTER_LANCZOS4; bicubic is close and cheaper. Same size gives a copy.
    """
    height, width = frame.shape[:2]
    size = (int(width * upscale), int(height * upscale))
    if size[0] <= 0 or size[1] <= 0:
        raise ValueError(f"upscale {upscale} leaves no pixels of a {width}x{height} frame")
    if size == (width, height):
        return frame.copy()
    return cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC)


@dataclass(frozen=True)
class _Placement:
    """Where one face lands: its crop -> background matrix and the box it may change."""

    inverse: np.ndarray  # (2, 3) float64, crop pixels -> background pixels
    box: Box


def paste_faces(
    background: np.ndarray,
    restored: Sequence[np.ndarray],
    affines: Sequence[np.ndarray],
    upscale: float,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Blend restored faces into the background; facexlib's square-mask paste-back.

    ``background``: (Hu, Wu, 3) uint8 BGR, the frame already upscaled (:func:`upscale_background`).
    ``restored``: faces, each (S, S, 3) uint8 BGR on the pixel grid of the crop its affine made.
    ``affines``: one (2, 3) frame -> crop matrix per face, in original frame pixels. Returns (Hu, Wu, 3) uint8 BGR, later faces over earlier ones:
    a new array, or ``out`` when given (it may be ``background`` itself, to paste in place).
    """
    if background.ndim != 3 or background.shape[2] != 3 or background.dtype != np.uint8:
        raise ValueError(
            f"background must be (H, W, 3) uint8, got {background.shape} {background.dtype}"
        )
    if len(restored) != len(affines):
        raise ValueError(f"{len(restored)} restored faces but {len(affines)} affine matrices")
    if not upscale > 0:
        raise ValueError(f"upscale must be positive, got {upscale}")
    if out is None:
        output = background.copy()
    else:
        if out.shape != background.shape or out.dtype != np.uint8:
            raise ValueError(f"out must be {background.shape} uint8, got {out.shape} {out.dtype}")
        output = out
        if out is not background:
            np.copyto(output, background)
    placements = [
        _place(face, affine, upscale, output.shape[:2])
        for face, affine in zip(restored, affines, strict=True)
    ]
    placed = [(face, p) for face, p in zip(restored, placements, strict=True) if p is not None]
    for group in _overlapping_groups([p.box for _, p in placed]):
        if len(group) == 1:  # blend straight into the uint8 output, truncating
            face, placement = placed[group[0]]
            _blend_face(output, (0, 0), face, placement, upscale)
            continue
        x0, y0, x1, y1 = _union([placed[i][1].box for i in group])
        canvas = output[y0:y1, x0:x1].astype(np.float32)  # overlapping faces: truncate once
        for index in group:
            face, placement = placed[index]
            _blend_face(canvas, (x0, y0), face, placement, upscale)
        output[y0:y1, x0:x1] = canvas.astype(np.uint8)  # truncation, as facexlib's final astype
    return output


def _place(
    face: np.ndarray, affine: np.ndarray, upscale: float, frame_shape: tuple[int, ...]
) -> _Placement | None:
    """The face's crop -> background matrix and its box, or None when it misses the background."""
    size = face.shape[0]
    if face.ndim != 3 or face.shape != (size, size, 3) or face.dtype != np.uint8:
        raise ValueError(f"restored faces must be (S, S, 3) uint8, got {face.shape} {face.dtype}")
    inverse = cv2.invertAffineTransform(np.asarray(affine, dtype=np.float64)) * upscale
    if upscale > 1:
        inverse[:, 2] += 0.5 * upscale
    # Bilinear sampling with a zero border is non-zero only for crop coordinates in (-1, S); one more
    # crop pixel each side covers any rounding of the sample positions.
    corners = np.array(
        [[-2.0, -2.0], [size + 1.0, -2.0], [-2.0, size + 1.0], [size + 1.0, size + 1.0]]
    )
    mapped = corners @ inverse[:, :2].T + inverse[:, 2]
    left, top = np.floor(mapped.min(axis=0)) - _PAD
    right, bottom = np.ceil(mapped.max(axis=0)) + 1 + _PAD
    height, width = frame_shape
    box = (int(max(left, 0)), int(max(top, 0)), int(min(right, width)), int(min(bottom, height)))
    if box[0] >= box[2] or box[1] >= box[3]:
        return None
    return _Placement(inverse=inverse, box=box)


def _blend_face(
    target: np.ndarray,
    origin: tuple[int, int],
    face: np.ndarray,
    placement: _Placement,
    upscale: float,
) -> None:
    """Blend one face into ``target`` (h, w, 3) in place: float32, or uint8 (then truncated).

    ``target``'s top-left pixel is background pixel ``origin``.
    """
    x0, y0, x1, y1 = placement.box
    local = placement.inverse.copy()
    local[:, 2] -= (x0, y0)  # crop -> box pixels
    size = (x1 - x0, y1 - y0)
    # OpenCV warps 4-channel uint8 images about twice as fast as 3-channel ones, with equal values.
    face_bgra = cv2.cvtColor(
        face, cv2.COLOR_BGR2BGRA, dst=_WORKSPACE.array("bgra", (*face.shape[:2], 4), np.uint8)
    )
    warped_face = _WORKSPACE.array("face", (size[1], size[0], 4), np.uint8)
    cv2.warpAffine(face_bgra, local, size, dst=warped_face, flags=cv2.INTER_LINEAR)
    ones = _WORKSPACE.array("ones", face.shape[:2], np.float32)
    ones.fill(1.0)
    warped_mask = _WORKSPACE.array("mask", (size[1], size[0]), np.float32)
    cv2.warpAffine(ones, local, size, dst=warped_mask, flags=cv2.INTER_LINEAR)
    soft, erosion = soft_mask(warped_mask, upscale, _WORKSPACE)
    box = target[y0 - origin[1] : y1 - origin[1], x0 - origin[0] : x1 - origin[0]]
    _blend_rows(box, warped_face[:, :, :3], erosion, soft)


def _blend_rows(
    box: np.ndarray, warped_face: np.ndarray, erosion: np.ndarray, soft: np.ndarray
) -> None:
    """``box = soft * (erosion * warped_face) + (1 - soft) * box``, in place, band by band.

    facexlib's float32 arithmetic, operation for operation; bands of rows keep the temporaries in
    cache, and columns where ``soft`` is 0 (which leave ``box`` exactly as it is) are skipped.
    """
    for top in range(0, box.shape[0], _BAND_ROWS):
        rows = slice(top, top + _BAND_ROWS)
        used = np.flatnonzero(soft[rows].any(axis=0))
        if used.size == 0:
            continue
        columns = slice(int(used[0]), int(used[-1]) + 1)
        soft3 = cv2.cvtColor(soft[rows, columns], cv2.COLOR_GRAY2BGR)
        pasted = warped_face[rows, columns].astype(np.float32)
        pasted *= cv2.cvtColor(erosion[rows, columns], cv2.COLOR_GRAY2BGR)  # erosion * face
        pasted *= soft3  # soft * (erosion * face)
        region = box[rows, columns]
        under = region if region.dtype == np.float32 else region.astype(np.float32)
        under *= np.subtract(np.float32(1), soft3, out=soft3)  # (1 - soft) * under
        under += pasted
        if region.dtype != np.float32:
            region[...] = under.astype(np.uint8)  # truncation, as facexlib's final astype


def _overlapping_groups(boxes: Sequence[Box | None]) -> list[list[int]]:
    """Indices of the boxes grouped by overlap (transitively), each group in ascending order."""
    groups: list[list[int]] = []
    group_boxes: list[Box] = []
    for index, box in enumerate(boxes):
        if box is None:
            continue
        joined = [g for g, other in enumerate(group_boxes) if _overlap(box, other)]
        members = [index] + [i for g in joined for i in groups[g]]
        merged = _union([box] + [group_boxes[g] for g in joined])
        groups = [g for k, g in enumerate(groups) if k not in joined] + [sorted(members)]
        group_boxes = [b for k, b in enumerate(group_boxes) if k not in joined] + [merged]
    return groups


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _union(boxes: Sequence[Box]) -> Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
