"""Colour correction: a restored face's colours matched to the input face's before it is pasted.

A network that shifts the colours of the face it draws (a warmer skin, a grey cast, a different white
balance) leaves that shift inside the pasted square, and the feathered edge only spreads it: the
face looks stuck on. Matching the restored crop's colour statistics to the input crop's removes the
shift while keeping what the network restored (detail, sharpness, local contrast):

- ``mean-std``: per channel of CIE L*a*b* (OpenCV's 8-bit Lab, float arithmetic), the restored
  crop's weighted mean and standard deviation moved onto the input's: ``(x - m_r) / s_r * s_i +
  m_i``. A uniform cast or a change of contrast is undone exactly; detail stays.
- ``histogram``: per Lab channel, the restored crop's weighted cumulative histogram mapped onto the
  input's (256 bins, linear interpolation between quantiles): also corrects non-linear tone changes,
  at the price of following the input's noise and blocking more closely.

Statistics are weighted by the crop pixels that show the photo: pixels that fell outside the frame
when the crop was cut (filled with the border colour) carry no information about its colours and
are left out (:func:`frame_weights`). The correction is applied to the whole crop (it is pasted
whole under the feathered mask).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import cv2
import numpy as np

from facert.errors import UsageError

ColorCorrection = Literal["none", "mean-std", "histogram"]
METHODS: tuple[str, ...] = get_args(ColorCorrection)
MIN_STD = 1.0  # Lab levels: a flat restored channel is shifted, never stretched from nothing
MIN_WEIGHT = 64.0  # frame pixels a crop must show for its statistics to mean anything


def check_method(name: str) -> ColorCorrection:
    """``name`` as a :data:`ColorCorrection`; :class:`UsageError` listing the methods otherwise."""
    if name not in METHODS:
        raise UsageError(f"unknown colour correction {name!r}; choose one of {', '.join(METHODS)}")
    return name  # type: ignore[return-value]


def frame_weights(affine: np.ndarray, frame_shape: tuple[int, ...], size: int) -> np.ndarray:
    """(size, size) float32: 1 where the crop pixel samples the frame, 0 where it fell outside
    (``affine``: (2, 3) frame -> crop, as everywhere; the crop pixel's centre mapped back into
    the frame must lie within its pixel centres)."""
    inverse = cv2.invertAffineTransform(affine)
    grid = np.arange(size, dtype=np.float64)
    u, v = grid[None, :], grid[:, None]
    x = inverse[0, 0] * u + inverse[0, 1] * v + inverse[0, 2]
    y = inverse[1, 0] * u + inverse[1, 1] * v + inverse[1, 2]
    height, width = frame_shape[:2]
    inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
    return inside.astype(np.float32)


def paste_weights(
    affines: Sequence[np.ndarray],
    frame_shape: tuple[int, ...],
    size: int,
    masks: Sequence[np.ndarray] | None = None,
) -> list[np.ndarray]:
    """The weights :func:`correct_colors` takes for faces cropped with ``affines`` from a frame of
    ``frame_shape``: each face's :func:`frame_weights`, times its own paste mask ((S, S) float32
    [0, 1], ``--mask parse``) when ``masks`` are given (the statistics of what the mask pastes)."""
    weights = [frame_weights(affine, frame_shape, size) for affine in affines]
    if masks is None:
        return weights
    return [w * m for w, m in zip(weights, masks, strict=True)]


def _histograms(crop: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``crop`` ((S, S, 3) uint8 BGR) in 8-bit Lab, and each Lab channel's weighted histogram
    (3, 256) normalised to sum 1."""
    lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB)
    flat = weights.ravel()
    counts = np.stack([np.bincount(lab[..., c].ravel(), flat, minlength=256) for c in range(3)])
    return lab, counts / counts.sum(axis=1, keepdims=True)


def _apply(lab: np.ndarray, mappings: np.ndarray) -> np.ndarray:
    """Lab levels mapped through (3, 256) float tables, rounded, back to BGR."""
    table = np.clip(np.rint(mappings), 0, 255).astype(np.uint8).T.reshape(1, 256, 3)
    return cv2.cvtColor(cv2.LUT(lab, np.ascontiguousarray(table)), cv2.COLOR_LAB2BGR)


LEVELS = np.arange(256, dtype=np.float64)


def match_mean_std(restored: np.ndarray, reference: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``restored`` ((S, S, 3) uint8 BGR) with its Lab mean and standard deviation (weighted by
    ``weights``, (S, S)) made those of ``reference``."""
    lab, hist_r = _histograms(restored, weights)
    _, hist_i = _histograms(reference, weights)
    mean_r, mean_i = hist_r @ LEVELS, hist_i @ LEVELS
    std_r = np.sqrt(np.maximum(hist_r @ LEVELS**2 - mean_r**2, 0.0))
    std_i = np.sqrt(np.maximum(hist_i @ LEVELS**2 - mean_i**2, 0.0))
    gain = std_i / np.maximum(std_r, MIN_STD)
    return _apply(lab, (LEVELS - mean_r[:, None]) * gain[:, None] + mean_i[:, None])


def match_histogram(restored: np.ndarray, reference: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``restored`` ((S, S, 3) uint8 BGR) with each Lab channel's weighted distribution mapped
    onto ``reference``'s: level v goes to the reference level at the same cumulative fraction
    (each level at the middle of its own mass; linear between the reference's levels)."""
    lab, hist_r = _histograms(restored, weights)
    _, hist_i = _histograms(reference, weights)
    mappings = np.empty((3, 256))
    for c in range(3):
        mid_r = np.cumsum(hist_r[c]) - 0.5 * hist_r[c]
        used = hist_i[c] > 0  # the reference's levels: their mid fractions rise strictly
        mid_i = np.cumsum(hist_i[c]) - 0.5 * hist_i[c]
        mappings[c] = np.interp(mid_r, mid_i[used], LEVELS[used])
    return _apply(lab, mappings)


def correct_colors(
    restored: np.ndarray,
    inputs: np.ndarray,
    weights: list[np.ndarray],
    method: ColorCorrection,
) -> np.ndarray:
    """(N, S, S, 3) uint8 BGR: each ``restored`` crop's colours matched to its ``inputs`` crop
    (the crop the restorer saw) by ``method``, statistics weighted by ``weights`` (N of (S, S),
    :func:`frame_weights`). ``none``, or a face that shows fewer than :data:`MIN_WEIGHT` frame
    pixels, is returned as it is."""
    if method == "none" or not len(restored):
        return restored
    match = match_mean_std if method == "mean-std" else match_histogram
    out = restored.copy()
    for i, (face, reference, weight) in enumerate(zip(restored, inputs, weights, strict=True)):
        if float(weight.sum()) >= MIN_WEIGHT:
            out[i] = match(face, reference, weight)
    return out
