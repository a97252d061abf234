"""Seam at a pasted face's border: does the restored photo step where the face was blended back?

A face is pasted back under a soft mask: facexlib's feathered square (:mod:`facert.stages.blend.paste`:
the crop's square, mapped into the frame by the inverse of its affine, eroded and blurred over
``w_edge`` frame pixels) or any other soft mask (a face-parsing mask). A restorer that changes the
face differently from its surroundings (a fading correction inside the square only) leaves a step
in tone across that feathered edge. This module measures it.

The mask's border is a :class:`Border`: points every :data:`SPACING` frame pixels along the middle
of the feathered edge, with outward unit normals. :func:`pasted_border` builds it for the square
(``w_edge + 1`` frame pixels inside the square); :func:`mask_border` for any soft mask given as an
array, along its 0.5 level line, normals from the mask's gradient. At each point the *step* is the
difference between the image just inside the feathered edge and just outside it, ``reach`` pixels
along the inward and outward normal (bilinear samples, per channel). :func:`seam_at` compares the
restored photo's steps with the reference's (the clean photo, or the restorer's input), in uint8
levels:

- ``excess``: ``mean |step_restored - step_clean|`` over points and channels: the issue's measure,
  the mean absolute step of ``restored - clean`` across the mask's border;
- ``inside``: the same mean over the same line moved ``2 * reach`` into the face (where the mask is
  flat: nothing is blended there), the step the restoration makes anyway; ``over_inside =
  excess - inside`` is what the border adds (about 0 for a seamless paste);
- ``tone``: per side of the border (the square's four sides; a parse mask's contour cut in four
  arcs) and per channel, the mean of ``step_restored - step_clean``; the mean of their absolute
  values. A restoration whose error is the same on both sides of the border scores ~0 whatever its
  error, and errors that follow the photo's content average out along a side, while a tone offset
  inside the square (the old WIPA's darker square) adds up;
- ``abs_step``: ``mean |step_restored| - mean |step_clean|`` (> 0 where the restored photo steps
  more), which a photo restored less contrasty everywhere also moves.

:func:`shifted_seams` measures the same statistics on the same border moved elsewhere in the
photo, where no face was pasted; :func:`noise_level`, their ``tone``'s mean plus
:data:`NOISE_SIGMAS` standard deviations, is the level a seam must stand out from (a restorer's
error differs from the clean photo everywhere, not only at a face's border).

Matrix convention: ``affine`` is (2, 3) float64, frame -> crop (:mod:`facert.stages.align.warp`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from facert.stages.blend.feather import estimated_eroded_area, feather_width

SPACING = 2.0  # frame pixels between border points
MIN_VALID = 0.5  # fraction of a border's points whose samples must lie inside the frame
NOISE_SIGMAS = 3.0  # the noise level: mean + 3 standard deviations of the moved borders' tones
LEVEL = 0.5  # mask_border follows this level line of the mask
EMPTY = 0.5 / 255  # mask values below: nothing of the face shows (alpha rounds to 0 in 8 bits)
PLATEAU = 0.99  # mask values above: the face alone, where the inner line is sampled
MAX_REACH = 128.0  # frame pixels: the longest feathered edge mask_border's estimate follows


@dataclass(frozen=True)
class Border:
    """Points on a pasted face's feathered edge: ``points`` (K, 2) and outward unit ``normals``
    (K, 2), frame pixels (x, y) float64; ``reach``: how far inside and outside the step is
    sampled; ``sides`` (K,) int: which side (or arc) of the border each point lies on; ``inner``:
    the same kind of line ``2 * reach`` inside the face, where the mask is flat (None: no room)."""

    points: np.ndarray
    normals: np.ndarray
    reach: float
    sides: np.ndarray
    inner: Border | None = None

    def shifted(self, offset: tuple[float, float]) -> Border:
        inner = None if self.inner is None else self.inner.shifted(offset)
        return Border(self.points + np.asarray(offset), self.normals, self.reach, self.sides, inner)


@dataclass(frozen=True)
class Seam:
    """uint8 levels: ``tone``, the mean over sides and channels of |side mean of (step_restored -
    step_clean)|; ``excess``, mean |step_restored - step_clean|; ``abs_step``, mean |step_restored|
    - mean |step_clean| (over points and channels); ``inside``, ``excess`` on the border's inner
    line (NaN without one). ``points``: how many border points counted."""

    tone: float
    excess: float
    abs_step: float
    points: int
    inside: float = math.nan

    @property
    def over_inside(self) -> float:
        """``excess - inside``: how much more the restoration steps across the mask's border than
        across the same line inside the face (about 0 for a seamless paste; NaN without inside)."""
        return self.excess - self.inside


def _square(inverse: np.ndarray, low: float, high: float, spacing: float) -> tuple[np.ndarray, ...]:
    """Points every ``spacing`` crop pixels on the crop square ``[low, high]^2``, mapped into the
    frame by ``inverse`` (crop -> frame); their outward unit normals and side indices."""
    count = max(2, int((high - low) / spacing) + 1)
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
    return np.concatenate(points), np.concatenate(normals), np.repeat(np.arange(4), count)


def pasted_border(affine: np.ndarray, size: int) -> Border:
    """The feathered edge of the square a ``size`` crop made with ``affine`` is pasted under."""
    forward = np.asarray(affine, dtype=np.float64)
    inverse = cv2.invertAffineTransform(forward)
    w_edge = feather_width(estimated_eroded_area(forward, size, 1.0))
    scale = float(np.sqrt(abs(np.linalg.det(forward[:, :2]))))
    inset = (w_edge + 1) * scale  # crop pixels
    low, high = inset - 0.5, size - 0.5 - inset
    reach = float(w_edge + 2)
    inner = None
    depth = 2 * reach * scale  # crop pixels: the inner line's samples lie where the mask is 1
    if high - low - 2 * depth >= 4 * SPACING * scale:
        points, normals, sides = _square(inverse, low + depth, high - depth, SPACING * scale)
        inner = Border(points, normals, reach, sides)
    points, normals, sides = _square(inverse, low, high, SPACING * scale)
    return Border(points, normals, reach, sides, inner)


def grid_border(
    rows: Sequence[int], columns: Sequence[int], shape: tuple[int, ...], reach: float
) -> Border:
    """Straight borders across an (H, W) image, such as the edges between tiles: horizontal lines
    between pixel rows ``r - 1`` and ``r`` for each ``r`` of ``rows``, vertical ones between
    columns ``c - 1`` and ``c``; normals +y and +x; one side per line. The inner lines lie
    ``2 * reach`` before each line (inside the tile before it): keep tiles over ``3 * reach``."""
    height, width = shape[:2]
    lines = [(float(r) - 0.5, 1) for r in rows] + [(float(c) - 0.5, 0) for c in columns]

    def build(offset: float) -> Border:
        points, normals, sides = [], [], []
        for index, (at, axis) in enumerate(lines):
            length = width if axis == 1 else height
            along = np.arange(reach, length - 1 - reach, SPACING)
            xy = np.stack([along, np.full(len(along), at + offset)], 1)
            points.append(xy if axis == 1 else xy[:, ::-1])
            normals.append(np.tile((0.0, 1.0) if axis == 1 else (1.0, 0.0), (len(along), 1)))
            sides.append(np.full(len(along), index))
        return Border(np.concatenate(points), np.concatenate(normals), reach, np.concatenate(sides))

    inner = build(-2 * reach)
    whole = build(0.0)
    return Border(whole.points, whole.normals, reach, whole.sides, inner)


def _sample(values: np.ndarray, xy: np.ndarray, border: int = cv2.BORDER_CONSTANT) -> np.ndarray:
    """Bilinear samples of ``values`` (h, w) or (h, w, C) float32 at ``xy`` (K, 2): (K,) or (K, C)
    float32; outside the array 0 (``border`` another OpenCV border mode)."""
    count = len(xy)
    rows = -(-count // 1024) if count > 1024 else count  # remap's maps: under 32767 rows
    coords = np.zeros((rows * (1024 if count > 1024 else 1), 2), np.float32)
    coords[:count] = xy
    maps = coords.reshape(rows, -1, 2)
    sampled = cv2.remap(values, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR, borderMode=border)
    return sampled.reshape(-1, *values.shape[2:])[:count]


def _contour_points(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points every SPACING pixels along the pixel contours of ``values >= LEVEL`` ((K, 2) float64
    array pixels) and their arc index (K,) int: each contour cut in four arcs of equal length.
    Contours shorter than 4 SPACING (specks) are left out."""
    binary = (values >= LEVEL).astype(np.uint8)
    contours, _ = cv2.findContours(binary, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    points, arcs = [np.zeros((0, 2))], [np.zeros(0, int)]
    for index, contour in enumerate(contours):
        closed = np.concatenate([contour[:, 0], contour[:1, 0]]).astype(np.float64)
        lengths = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(closed, axis=0).T))])
        if lengths[-1] < 4 * SPACING:
            continue
        along = np.arange(0.0, lengths[-1], SPACING)
        points.append(np.stack([np.interp(along, lengths, closed[:, i]) for i in (0, 1)], 1))
        arcs.append(4 * index + np.minimum((4 * along / lengths[-1]).astype(int), 3))
    return np.concatenate(points), np.concatenate(arcs)


def _on_level(values: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``points`` moved onto the LEVEL line (Newton steps along the gradient), their outward unit
    normals, and which of them keep a gradient (a mask flat there has no border)."""
    gradient = np.dstack(
        [cv2.Sobel(values, cv2.CV_32F, dx, 1 - dx, ksize=3, scale=1 / 8) for dx in (1, 0)]
    )
    for _ in range(3):
        slope = _sample(gradient, points, cv2.BORDER_REPLICATE).astype(np.float64)
        length = np.maximum(np.linalg.norm(slope, axis=1), 1e-6)
        error = _sample(values, points, cv2.BORDER_REPLICATE) - LEVEL
        points = points + np.clip(error / length, -1.0, 1.0)[:, None] * (-slope / length[:, None])
    slope = _sample(gradient, points, cv2.BORDER_REPLICATE).astype(np.float64)
    length = np.linalg.norm(slope, axis=1)
    return points, -slope / np.maximum(length, 1e-6)[:, None], length > 1e-3


def _edge_width(values: np.ndarray, points: np.ndarray, normals: np.ndarray) -> float:
    """The median over points of how far along the normal the mask takes to fall below EMPTY
    outside or to rise above 1 - EMPTY inside, whichever is farther (at most MAX_REACH)."""
    steps = np.arange(0.0, MAX_REACH + 0.25, 0.5)
    widths = []
    for sign, done in ((1.0, lambda v: v <= EMPTY), (-1.0, lambda v: v >= 1 - EMPTY)):
        xy = points[:, None] + sign * steps[None, :, None] * normals[:, None]
        reached = done(_sample(values, xy.reshape(-1, 2)).reshape(len(points), len(steps)))
        widths.append(np.where(reached.any(1), steps[np.argmax(reached, axis=1)], MAX_REACH))
    return float(np.median(np.maximum(*widths)))


def mask_border(
    mask: np.ndarray, offset: tuple[float, float] = (0.0, 0.0), *, reach: float | None = None
) -> Border:
    """The border of a face pasted under the soft ``mask``: its :data:`LEVEL` level line.

    ``mask``: (h, w) float in [0, 1], the restored face's weight per pixel, frame-sized or over a
    box of the frame whose pixel (0, 0) is frame pixel ``offset`` (x, y); it should keep zeros
    around the face (points within a pixel of the array's edge are dropped: a mask cut there,
    by the frame's edge, has no seam to measure). ``reach`` (frame pixels): how far the steps are
    sampled; by default the feathered edge's own width plus 2 (:func:`_edge_width`: for the
    feathered square about ``w_edge`` + 1, as :func:`pasted_border`'s ``w_edge + 2``).
    Raises ValueError when the mask has no border inside the array.
    """
    values = np.ascontiguousarray(mask, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"mask must be (h, w), got {values.shape}")
    height, width = values.shape
    points, arcs = _contour_points(values)
    kept = np.zeros(0, bool)
    if len(points):
        points, normals, kept = _on_level(values, points)
        kept &= (points[:, 0] >= 1) & (points[:, 0] <= width - 2)
        kept &= (points[:, 1] >= 1) & (points[:, 1] <= height - 2)
    if kept.sum() < 4:
        raise ValueError(f"the mask ({height}x{width}) has no {LEVEL} level line inside it")
    points, normals, arcs = points[kept], normals[kept], arcs[kept]
    if reach is None:
        reach = _edge_width(values, points, normals) + 2.0
    inner = points - 2 * reach * normals
    flat = np.ones(len(points), bool)
    for sign in (-1.0, 1.0):
        flat &= _sample(values, inner + sign * reach * normals) >= PLATEAU
    shift = np.asarray(offset, np.float64)
    inside = None
    if flat.sum() >= 4 and flat.mean() >= MIN_VALID / 2:
        inside = Border(inner[flat] + shift, normals[flat], reach, arcs[flat])
    return Border(points + shift, normals, float(reach), arcs, inside)


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
    values = [_sample(pixels, samples).reshape(len(samples), -1) for samples in (inside, outside)]
    return values[0] - values[1], valid


def _inside(restored: np.ndarray, clean: np.ndarray, inner: Border | None) -> float:
    """``excess`` on the inner line; NaN without one or with too few of its points in the frame."""
    if inner is None:
        return math.nan
    step_restored, valid = _steps(restored, inner)
    step_clean, _ = _steps(clean, inner)
    if valid.mean() < MIN_VALID:
        return math.nan
    return float(np.abs(step_restored[valid] - step_clean[valid]).mean())


def seam_at(restored: np.ndarray, clean: np.ndarray, border: Border) -> Seam:
    """The seam statistics (see the module doc) of ``restored`` against ``clean``, both (H, W, 3)
    uint8, at ``border``; NaN when fewer than :data:`MIN_VALID` of its points lie inside."""
    step_restored, valid = _steps(restored, border)
    step_clean, _ = _steps(clean, border)
    inside = _inside(restored, clean, border.inner)
    if valid.mean() < MIN_VALID:
        return Seam(math.nan, math.nan, math.nan, int(valid.sum()), inside)
    restored_kept, clean_kept = step_restored[valid], step_clean[valid]
    difference, sides = restored_kept - clean_kept, border.sides[valid]
    side_means = [difference[sides == side].mean(axis=0) for side in np.unique(sides)]
    return Seam(
        tone=float(np.abs(np.array(side_means)).mean()),
        excess=float(np.abs(difference).mean()),
        abs_step=float(np.abs(restored_kept).mean() - np.abs(clean_kept).mean()),
        points=int(valid.sum()),
        inside=inside,
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
