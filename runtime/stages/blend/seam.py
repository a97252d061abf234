"""Seam at a pasted face's border: does the restored photo step where the face was blended back?

A face is pasted back under facexlib's feathered square mask (:mod:`facert.stages.blend.paste`): the crop's
square, mapped into the frame by the inverse of its affine, eroded and blurred over ``w_edge`` frame
pixels. A restorer that changes the face differently from its surroundings (a fading correction
inside the square only) leaves a step in tone across that feathered edge. This module measures it.

Points are taken every :data:`SPACING` frame pixels along the square's border, at the middle of the
feathered edge (``w_edge + 1`` frame pixels inside the square); at each, the *step* is the difference
between the image just inside the feathered edge and just outside it, ``w_edge + 2`` pixels along the
inward and outward normal (bilinear samples, per channel). :func:`seam_at` compares the restored
photo's steps with the clean photo's, in uint8 levels:

- ``tone``: per side of the square and per channel, the mean of ``step_restored - step_clean``;
  the mean of their absolute values. A restoration whose error is the same on both sides of the
  border scores ~0 whatever its error, and errors that follow the photo's content average out along
  a side, while a tone offset inside the square (the old WIPA's darker square) adds up;
- ``excess``: ``mean |step_restored - step_clean|`` over points and channels;
- ``abs_step``: ``mean |step_restored| - mean |step_clean|``, the issue's form (> 0 where the
  restored photo steps more), which a photo restored less contrasty everywhere also moves.

:func:`shifted_seams` measures the same statistics on the same square moved elsewhere in the photo,
where no face was pasted; :func:`noise_level`, their ``tone``'s mean plus :data:`NOISE_SIGMAS`
standard deviations, is the level a seam must stand out from (a restorer's error differs from the
clean photo everywhere, not only at a face's border).

Matrix convention: ``affine`` is (2, 3) float64, frame -> crop (:mod:`facert.stages.align.warp`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facert.stages.blend.feather import estimated_eroded_area, feather_width

SPACING = 2.0  # frame pixels between border points
MIN_VALID = 0.5  # fraction of a border's points whose samples must lie inside the frame
NOISE_SIGMAS = 3.0  # the noise level: mean + 3 standard deviations of the moved borders' tones


@dataclass(frozen=True)
class Border:
    """Points on a pasted square's feathered edge: ``points`` (K, 2) and outward unit ``normals``
    (K, 2), frame pixels (x, y); ``reach``: how far inside and outside the step is sampled."""

    points: np.ndarray
    normals: np.ndarray
    reach: float
    sides: np.ndarray  # (K,) int: which side of the square each point lies on (0-3)

    def shifted(self, offset: tuple[float, float]) -> Border:
        return Border(self.points + np.asarray(offset), self.normals, self.reach, self.sides)


@dataclass(frozen=True)
class Seam:
    """uint8 levels: ``tone``, the mean over sides and channels of |side mean of (step_restored -
    step_clean)|; ``excess``, mean |step_restored - step_clean|; ``abs_step``, mean |step_restored|
    - mean |step_clean| (over points and channels). ``points``: how many points counted."""

    tone: float
    excess: float
    abs_step: float
    points: int


def pasted_border(affine: np.ndarray, size: int) -> Border:
    """The feathered edge of the square a ``size`` crop made with ``affine`` is pasted under."""
    forward = np.asarray(affine, dtype=np.float64)
    inverse = cv2.invertAffineTransform(forward)
    w_edge = feather_width(estimated_eroded_area(forward, size, 1.0))
    scale = float(np.sqrt(abs(np.linalg.det(forward[:, :2]))))
    inset = (w_edge + 1) * scale  # crop pixels
    low, high = inset - 0.5, size - 0.5 - inset
    count = max(2, int((high - low) / (SPACING * scale)) + 1)
    along = np.linspace(low, high, count)
    sides = [
        (np.stack([along, np.full(count, low)], 1), (0.0, -1.0)),  # top
        (np.stack([np.full(count, high), along], 1), (1.0, 0.0)),  # right
        (np.stack([along, np.full(count, high)], 1), (0.0, 1.0)),  # bottom
        (np.stack([np.full(count, low), along], 1), (-1.0, 0.0)),  # left
    ]
    points, normals = [], []
    for crop_points, crop_normal in sides:
        points.append(crop_points @ inverse[:, :2].T + inverse[:, 2])
        direction = inverse[:, :2] @ np.asarray(crop_normal)
        normals.append(np.tile(direction / np.linalg.norm(direction), (count, 1)))
    sides_index = np.repeat(np.arange(4), count)
    return Border(np.concatenate(points), np.concatenate(normals), float(w_edge + 2), sides_index)


def _steps(image: np.ndarray, border: Border) -> tuple[np.ndarray, np.ndarray]:
    """(K, C) inside-minus-outside differences and the (K,) mask of points inside the frame."""
    inside = border.points - border.reach * border.normals
    outside = border.points + border.reach * border.normals
    height, width = image.shape[:2]
    valid = np.ones(len(inside), bool)
    for samples in (inside, outside):
        valid &= (samples[:, 0] >= 0) & (samples[:, 0] <= width - 1)
        valid &= (samples[:, 1] >= 0) & (samples[:, 1] <= height - 1)
    pixels = image.astype(np.float32)
    values = []
    for samples in (inside, outside):
        xy = samples.astype(np.float32)
        sampled = cv2.remap(pixels, xy[:, 0:1], xy[:, 1:2], cv2.INTER_LINEAR)
        values.append(sampled.reshape(len(samples), -1))
    return values[0] - values[1], valid


def seam_at(restored: np.ndarray, clean: np.ndarray, border: Border) -> Seam:
    """The seam statistics (see the module doc) of ``restored`` against ``clean``, both (H, W, 3)
    uint8, at ``border``; NaN when fewer than :data:`MIN_VALID` of its points lie inside."""
    step_restored, valid = _steps(restored, border)
    step_clean, _ = _steps(clean, border)
    if valid.mean() < MIN_VALID:
        return Seam(float("nan"), float("nan"), float("nan"), int(valid.sum()))
    restored_kept, clean_kept = step_restored[valid], step_clean[valid]
    difference, sides = restored_kept - clean_kept, border.sides[valid]
    side_means = [difference[sides == side].mean(axis=0) for side in np.unique(sides)]
    return Seam(
        tone=float(np.abs(np.array(side_means)).mean()),
        excess=float(np.abs(difference).mean()),
        abs_step=float(np.abs(restored_kept).mean() - np.abs(clean_kept).mean()),
        points=int(valid.sum()),
    )


def shifted_seams(
    restored: np.ndarray,
    clean: np.ndarray,
    border: Border,
    *,
    count: int = 64,
    seed: int = 0,
) -> list[Seam]:
    """:func:`seam_at` at ``count`` copies of ``border`` moved by random offsets of at least
    ``4 * reach`` along both axes (so a moved side never runs along a true one, only crosses it)."""
    rng = np.random.default_rng(seed)
    height, width = restored.shape[:2]
    low = -border.points.min(axis=0)
    high = np.array([width - 1, height - 1]) - border.points.max(axis=0)
    spread = np.maximum(np.abs(low), np.abs(high)) + 1.0
    seams: list[Seam] = []
    for _ in range(50 * count):
        offset = rng.uniform(-spread, spread)
        if np.abs(offset).min() < 4 * border.reach:
            continue
        seam = seam_at(restored, clean, border.shifted((offset[0], offset[1])))
        if np.isfinite(seam.excess):
            seams.append(seam)
        if len(seams) == count:
            break
    return seams


def noise_level(seams: list[Seam]) -> float:
    """The ``tone`` a seam must exceed to stand out from ``seams`` (:func:`shifted_seams`)."""
    tones = np.array([seam.tone for seam in seams])
    return float(tones.mean() + NOISE_SIGMAS * tones.std())
