"""The face and its feathered mask tabulated on the crop's grid, ready for one 4-channel warp.

A paste kernel evaluates facexlib's mask per output pixel from its crop position (see
:mod:`facert.stages.blend.feather`). On the CPU the mask's factors are tabulated once per face on the crop's
pixel grid instead, widened by a margin where the blur reaches past the crop, and stored with the
face in one (S + 2m, S + 2m, 4) uint8 canvas: OpenCV's 4-channel bilinear ``warpAffine`` (twice as
fast as 3 channels) then samples face and mask together. The mask is smooth on that grid (its
blur's sigma is about 8 crop pixels whatever the face's size), so bilinear sampling of the table
costs under 1e-3 of error.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from facert.stages.blend.feather import axis_ends, axis_profiles, blur_reach
from facert.stages.blend.workspace import Workspace

_FLAT = 1 - 1e-6  # a profile this close to 1 keeps alpha at 255 (round(255 * x * y) == 255)


def feathered_crop(
    face: np.ndarray, forward: np.ndarray, upscale: float, w_edge: int, workspace: Workspace
) -> tuple[np.ndarray, int]:
    """The face and its mask on one grid: ((S + 2m, S + 2m, 4) uint8, margin m), in ``workspace``.

    ``face``: (S, S, 3) uint8 BGR; ``forward``: (2, 3) background -> crop. Pixel ``(r, c)`` holds
    crop position ``(u, v) = (c - m, r - m)``: BGR ``round(face * erosion)`` (zero outside the
    crop, as the warp's border is), A ``round(255 * soft)``. ``m`` is how far (crop pixels)
    ``soft`` reaches past the crop: about one crop pixel per background pixel for large faces
    (OpenCV's even-kernel anchor lets the blur outreach the erosion), more for small ones.
    """
    size = face.shape[0]
    margin, (soft_u, erosion_u), (soft_v, erosion_v) = canvas_profiles(
        forward, size, upscale, w_edge
    )
    side = size + 2 * margin
    canvas = workspace.array("canvas", (side, side, 4), np.uint8)
    inner = slice(margin, margin + size)
    written = cv2.cvtColor(face, cv2.COLOR_BGR2BGRA, dst=canvas[inner, inner])  # A = 255
    if not np.shares_memory(written, canvas):  # an OpenCV that does not write into views
        canvas[inner, inner] = written
    for strip in (np.s_[:margin], np.s_[margin + size :]):  # zero margins, as the warp's border
        canvas[strip] = 0
        canvas[inner, strip] = 0
    positions = np.arange(side, dtype=np.float64) - margin
    inside = (positions > -1) & (positions < size)
    columns = np.flatnonzero(inside & (erosion_u < 1))
    canvas[:, columns, :3] = np.rint(canvas[:, columns, :3] * erosion_u[columns, None])
    lines = np.flatnonzero(inside & (erosion_v < 1))
    canvas[lines, :, :3] = np.rint(canvas[lines, :, :3] * erosion_v[lines, None, None])
    _write_alpha(canvas, soft_u.astype(np.float32), soft_v.astype(np.float32))
    return canvas, margin


def canvas_profiles(
    forward: np.ndarray, size: int, upscale: float, w_edge: int
) -> tuple[int, tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The margin ``m`` and the mask's profiles on the canvas grid of :func:`feathered_crop`.

    ``forward``: (2, 3) background -> crop; ``size``: the crop's S. Returns ``(m, (soft_u,
    erosion_u), (soft_v, erosion_v))``, each profile (S + 2m,) float64 in [0, 1] at crop positions
    ``arange(S + 2m) - m``: ``_u`` per canvas column, ``_v`` per canvas row. The CUDA blend kernel
    samples the canvas from these (kernels/plan.py).
    """
    rows = forward[:, :2]
    ends = [axis_ends(row, size, upscale, w_edge) for row in rows]
    overhang = [
        max(blur_reach(row, w_edge) - e[2], e[3] + blur_reach(row, w_edge) - (size - 1))
        for row, e in zip(rows, ends, strict=True)
    ]
    margin = max(0, math.ceil(max(overhang)))
    positions = np.arange(size + 2 * margin, dtype=np.float64) - margin
    profile_u = axis_profiles(rows[0], ends[0], w_edge, positions)
    profile_v = axis_profiles(rows[1], ends[1], w_edge, positions)
    return margin, profile_u, profile_v


def _write_alpha(canvas: np.ndarray, soft_u: np.ndarray, soft_v: np.ndarray) -> None:
    """Set the (n, n, 4) uint8 canvas's A (255 before) to ``round(255 * soft_v x soft_u)``.

    Only the four strips around the plateau (both profiles 1, alpha 255) change.
    """
    flat_rows, flat_columns = np.flatnonzero(soft_v >= _FLAT), np.flatnonzero(soft_u >= _FLAT)
    if flat_rows.size == 0 or flat_columns.size == 0:
        _write_outer(canvas, soft_v, soft_u)
        return
    top, bottom = int(flat_rows[0]), int(flat_rows[-1]) + 1
    left, right = int(flat_columns[0]), int(flat_columns[-1]) + 1
    _write_outer(canvas[:top], soft_v[:top], soft_u)
    _write_outer(canvas[bottom:], soft_v[bottom:], soft_u)
    _write_outer(canvas[top:bottom, :left], soft_v[top:bottom], soft_u[:left])
    _write_outer(canvas[top:bottom, right:], soft_v[top:bottom], soft_u[right:])


def _write_outer(block: np.ndarray, soft_rows: np.ndarray, soft_columns: np.ndarray) -> None:
    """``block[..., 3] = round(255 * outer(soft_rows, soft_columns))``."""
    if block.size:
        outer = np.multiply.outer(np.float32(255) * soft_rows, soft_columns)
        block[:, :, 3] = cv2.convertScaleAbs(outer)  # rounds; outer is in [0, 255]
