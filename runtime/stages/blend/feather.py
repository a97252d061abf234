"""facexlib's feathered square mask as a function of crop coordinates: the paste kernel's mask.

facexlib's ``paste_faces_to_input_image`` (``use_parse=False``) builds, over the whole background:

- ``mask = warpAffine(ones((S, S)), inverse)``: bilinear, zero border;
- ``erosion = erode(mask, ones((k, k)))`` with ``k = int(2 * upscale)``;
- ``w_edge = int(sqrt(sum(erosion))) // 20``;
- ``centre = erode(erosion, ones((2 * w_edge,) * 2))``; an EMPTY kernel (``w_edge == 0``) is 3 x 3;
- ``soft = GaussianBlur(centre, (2 * w_edge + 1,) * 2, 0)``;
- ``out = soft * (erosion * warped_face) + (1 - soft) * out``.

Here every step is a function of the crop coordinates ``(u, v) = forward @ (x, y, 1)`` of the
background pixel ``(x, y)``, one factor per crop axis, ``soft = P_u(u) * P_v(v)`` and
``erosion = E_u(u) * E_v(v)``:

1. ``mask = t(u) * t(v)``, ``t`` the trapezoid: 0 at -1, 1 on [0, S - 1], 0 at S.
2. A k x k window (offsets ``[-(k // 2), k - 1 - k // 2]`` on each axis, OpenCV's anchor) moves ``u``
   over ``[u + low, u + high]``, ``low``/``high`` the extremes of ``forward[0, :2] @ offset``
   (:func:`window_reach`); a trapezoid's minimum over an interval lies at an end, so erosion moves
   the left ramp in by ``-low`` and the right ramp in by ``high``: ``E`` is again a trapezoid.
3. The blur averages ``centre`` over the shifts ``forward[0, :2] @ (i, j)`` with weights
   ``g_i g_j``; along ``u`` that averages the trapezoid over a discrete set of shifts, exactly and
   cheaply (a trapezoid is a sum of four ramps ``relu(u - knot)``; a ramp averaged over sorted
   shifts is read from cumulative sums).

What is approximated: near the four corners the minimum of a product is not the product of minima,
and a discrete Gaussian factors in the crop's rotated axes only approximately (the continuous one
does exactly). Measured against OpenCV on random similarities with ``w_edge >= 4`` (faces of 80 px
and more; smaller ones are pasted otherwise, see :mod:`facert.stages.blend.paste`): ``soft`` off by 2e-5 on
average, 0.013 at most, at the corners (tests/runtime/stages/blend/test_feather.py). ``erosion`` is off by more at the
corners (up to 0.25 at upscale 3), where ``soft`` is already 0.

Matrix convention: ``forward`` is a (2, 3) float64 background -> crop matrix, pixel centres at
integer coordinates; ``forward[0, :2]`` (``axis_row``) is the gradient of ``u`` in background
pixels, ``forward[1, :2]`` that of ``v``.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np


def first_kernel_size(upscale: float) -> int:
    """facexlib's first erosion kernel: ``int(2 * upscale)``, 0 (empty) meaning OpenCV's 3 x 3."""
    size = int(2 * upscale)
    return 3 if size == 0 else size


def feather_width(eroded_area: float) -> int:
    """facexlib's ``w_edge = int(sqrt(area)) // 20`` from the eroded mask's sum in pixels."""
    return int(max(eroded_area, 0.0) ** 0.5) // 20


def window_reach(axis_row: np.ndarray, kernel_size: int) -> tuple[float, float]:
    """(low, high): how far a ``kernel_size`` square window moves one crop coordinate.

    ``axis_row``: (2,) the crop coordinate's gradient in background pixels (a row of the
    background -> crop matrix). ``kernel_size`` 0 is OpenCV's 3 x 3 default for an empty kernel.
    """
    size = 3 if kernel_size == 0 else kernel_size
    first, last = -(size // 2), size - 1 - size // 2
    low = float(np.minimum(axis_row * first, axis_row * last).sum())
    high = float(np.maximum(axis_row * first, axis_row * last).sum())
    return low, high


def estimated_eroded_area(forward: np.ndarray, size: int, upscale: float) -> float:
    """``sum(erosion)`` of a face wholly inside the background, in background pixels.

    ``forward``: (2, 3) background -> crop. The eroded trapezoids' integrals multiplied, over the
    Jacobian. A pixel sum is not an integral: each row of pixels crossing the mask can add up to its
    peak (1) and the rows' totals likewise, so axis-aligned edges of shrunken faces are the worst
    case; :func:`ambiguity` bounds the error, and a caller measures the area
    (:mod:`facert.stages.blend.feather_box`) when the estimate lies that close to a step of ``w_edge``.
    """
    lengths = []
    for axis_row in forward[:, :2]:
        low, high = window_reach(axis_row, first_kernel_size(upscale))
        lengths.append(max(size - (high - low), 0.0))
    return lengths[0] * lengths[1] / abs(float(np.linalg.det(forward[:, :2])))


def ambiguity(forward: np.ndarray) -> float:
    """How far (pixels of ``sqrt(area)``) :func:`estimated_eroded_area` may be off, about twice the
    worst measured.

    Where a crop pixel spans at least one background pixel (``forward``'s scale <= 1) the mask's
    edges are ramps at least a pixel wide, whose pixel sums follow their integrals closely
    (measured: 0.10 px at worst, over 340 placements with upscales 1 to 4); where it spans less, the
    edges are sharper than a pixel and whole rows of pixels fall in or out (measured: 0.67 px).
    """
    crop_per_background = abs(float(np.linalg.det(forward[:, :2]))) ** 0.5
    return 0.25 if crop_per_background <= 1.0 else 1.5


def is_ambiguous(eroded_area: float, margin: float) -> bool:
    """Whether ``sqrt(eroded_area)`` lies within ``margin`` pixels of a step of ``w_edge``."""
    root = max(eroded_area, 0.0) ** 0.5
    return feather_width((root - margin) ** 2) != feather_width((root + margin) ** 2)


def axis_ends(axis_row: np.ndarray, size: int, upscale: float, w_edge: int) -> np.ndarray:
    """(4,) float64 crop-coordinate ends: erosion's trapezoid (left, right), centre's (left, right).

    A trapezoid ``(left, right)`` is ``clip(min(u - left, right - u), 0, 1)``.
    """
    low, high = window_reach(axis_row, first_kernel_size(upscale))
    erosion_left, erosion_right = -1.0 - low, size - high
    low, high = window_reach(axis_row, 2 * w_edge)
    return np.array([erosion_left, erosion_right, erosion_left - low, erosion_right - high])


def blur_reach(axis_row: np.ndarray, w_edge: int) -> float:
    """How far (crop units) the blur spreads along the axis: ``w_edge * (|du/dx| + |du/dy|)``."""
    return w_edge * float(np.abs(axis_row).sum())


def axis_profiles(
    axis_row: np.ndarray, ends: np.ndarray, w_edge: int, positions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(soft, erosion) factors of one crop axis at ``positions`` (crop coordinates): float64 [0, 1].

    ``ends`` from :func:`axis_ends`; ``axis_row`` as in :func:`window_reach`.
    """
    erosion = np.clip(np.minimum(positions - ends[0], ends[1] - positions), 0.0, 1.0)
    shifts, tail_weight, tail_moment = _blur_shifts(
        *sorted(abs(float(c)) for c in axis_row), w_edge
    )
    soft = np.zeros_like(positions, dtype=np.float64)
    for knot, coefficient in _trapezoid_ramps(ends[2], ends[3]):
        offset = positions - knot  # sum_k weight_k * relu(offset + shift_k), from the tail sums
        index = np.searchsorted(shifts, -offset, side="right")
        soft += coefficient * (offset * tail_weight[index] + tail_moment[index])
    return np.clip(soft, 0.0, 1.0), erosion


def _trapezoid_ramps(left: float, right: float) -> list[tuple[float, float]]:
    """``clip(min(u - left, right - u), 0, 1)`` as ``sum(coefficient * relu(u - knot))``."""
    if right <= left:
        return []
    middle = 0.5 * (left + right)
    return [
        (left, 1.0),
        (min(left + 1, middle), -1.0),
        (max(right - 1, middle), -1.0),
        (right, 1.0),
    ]


@functools.lru_cache(maxsize=8)
def _blur_shifts(small: float, large: float, w_edge: int) -> tuple[np.ndarray, ...]:
    """The blur's shifts of a crop coordinate, sorted, with tail sums of weight and weight * shift.

    A coordinate with gradient ``(a, b)`` moves by ``a i + b j`` with weight ``g_i g_j``, ``g``
    OpenCV's kernel (``getGaussianKernel(2 w + 1, 0)``); as ``g`` is symmetric, only ``|a|`` and
    ``|b|`` matter, in either order (so the two axes of a similarity share one table).
    Returns (shifts (n,), tail_weight (n + 1,), tail_moment (n + 1,)): ``tail[k]`` sums from k on.
    """
    kernel = cv2.getGaussianKernel(2 * w_edge + 1, 0, ktype=cv2.CV_64F).ravel()
    offsets = np.arange(-w_edge, w_edge + 1, dtype=np.float64)
    shifts = (small * offsets[None, :] + large * offsets[:, None]).ravel()
    weights = np.outer(kernel, kernel).ravel()
    order = np.argsort(shifts, kind="stable")
    shifts, weights = shifts[order], weights[order]
    tail_weight = np.append(np.cumsum(weights[::-1])[::-1], 0.0)
    tail_moment = np.append(np.cumsum((weights * shifts)[::-1])[::-1], 0.0)
    for table in (shifts, tail_weight, tail_moment):
        table.flags.writeable = False  # cached, shared between calls and threads
    return shifts, tail_weight, tail_moment
