"""Locating thin bright or dark lines (scratches) in a face and filling them from coarser levels.

Detection works on the luma of the level-1 and level-2 Haar approximations (the face at 1/2 and 1/4
scale: fine noise is averaged away, and a scratch one or two photo pixels wide, magnified into the
crop, becomes a line one or two samples wide). At every sample and for eight orientations, a line
shows as a value above (bright) or below (dark) both neighbours two samples away across it, while an
edge lies above one neighbour and below the other; the ridge response is

    r = max(min(a, b), min(-a, -b)) - SYMMETRY_PENALTY * |a - b|,  a, b = value - neighbour

which is positive on lines and near zero on edges. Scratches are long and straight, wrinkles, pores
and grain are not: r is averaged along each orientation over :data:`LINE_RADIUS` samples either side
and the best orientation kept. The two scales are blended by the expected scratch width in crop pixels
(``scratch_width``, which the runtime scales by the face's magnification): the 1/2 scale serves lines
up to about 3 crop pixels wide, the 1/4 scale wider ones.

A whole photo (WIPA's frame stage) is seen at its own scale, where a scratch is one or two sharp
pixels wide: there :class:`ScratchFiller` built with ``full_scale=True`` adds a finer level, the
ridge response of the full-resolution luma (whose neighbours two pixels away lie outside such a line
but inside anything wider, a glasses rim or a flag pole), averaged along lines at 1/2 scale, over 30
photo pixels, so that the many short thin features of a whole photo (stars, letters, wrinkles) stay
below the threshold. Levels are weighted by hat functions of the width centred at
:data:`LEVEL_WIDTHS` (1.5, 3 and 6 pixels), clamped at the ends: without the finer level this is the
two-scale blend above. Measured on the demo photos at 1 pixel, grain-free (Grace Hopper, astronaut):
the full-resolution level finds 54% and 42% of the scratch pixels flagging 3.0% and 2.1% of the
photo, +3.7 and +2.2 dB; the 1/2 scale 71% and 54% but flags 10.6% and 9.3%, +0.0 and -0.5 dB; and
an unscratched photo keeps 39.7 and 41.0 dB against 28.4 and 29.7 dB.

Filling uses the mask-weighted approximation pyramid (push-pull): 8x8 means of the unmasked samples
(16x16 where a block is mostly masked), upsampled bilinearly. Inside the mask each pixel is pulled
towards that fill, but only by as much as it deviates beyond :data:`SPREAD_ALLOWANCE` times the local
spread of the unmasked pixels, so real texture wrongly flagged (a wrinkle, a flag stripe) keeps most
of its contrast while a scratch, far outside its surroundings' spread, is removed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facert.export.families.weightfree.wavelets import fixed_shape

NORMALS = ((2, 0), (2, 1), (2, 2), (1, 2), (0, 2), (-1, 2), (-2, 2), (-2, 1))  # (dx, dy) across
LINE_RADIUS = 7
SYMMETRY_PENALTY = 0.5
RIDGE_THRESHOLD = 0.03  # ridge response (luma, [0, 1]) at which the mask starts; full at twice
FILL_LEVEL = 3  # the fill comes from 2**3 = 8x8 means
LEVEL_WIDTHS = (1.5, 3.0, 6.0)  # scratch widths served best by the full, 1/2 and 1/4 scale levels
SPREAD_ALLOWANCE = 1.5


def _neighbour_kernels() -> Tensor:
    """(16, 1, 5, 5): value minus the neighbour at +normal (first 8), at -normal (last 8)."""
    kernels = torch.zeros(2, len(NORMALS), 5, 5)
    for side, sign in enumerate((1, -1)):
        for index, (dx, dy) in enumerate(NORMALS):
            kernels[side, index, 2, 2] = 1.0
            kernels[side, index, 2 + sign * dy, 2 + sign * dx] -= 1.0
    return kernels.reshape(-1, 1, 5, 5)


def _line_kernels(radius: int = LINE_RADIUS) -> Tensor:
    """(8, 1, 2r+1, 2r+1): normalised averages along the line perpendicular to each normal."""
    steps = torch.arange(-radius, radius + 1, dtype=torch.float32)
    y, x = torch.meshgrid(steps, steps, indexing="ij")
    kernels = []
    for dx, dy in NORMALS:
        length = (dx * dx + dy * dy) ** 0.5
        across = (x * dx + y * dy).abs() / length
        along = (y * dx - x * dy).abs() / length
        kernel = (1.0 - across).clamp_min(0.0) * (along <= radius).float()
        kernels.append(kernel / kernel.sum())
    return torch.stack(kernels)[:, None]


class ScratchFiller(nn.Module):
    """``forward(image, strength, width)``: image (N, 3, H, W) in [0, 1] with scratches filled.

    ``strength`` (N,) in [0, 1] scales the mask (0: unchanged); ``width`` (N,) is the expected
    scratch width in pixels of ``image``. :meth:`mask` alone gives the (N, 1, H, W) mask in [0, 1].
    ``full_scale`` adds the full-resolution level (see the module doc); without it the 1/2 and 1/4
    scales serve every width.
    """

    def __init__(self, full_scale: bool = False) -> None:
        super().__init__()
        self.full_scale = full_scale
        self.register_buffer("neighbours", _neighbour_kernels(), persistent=False)
        self.register_buffer("lines", _line_kernels(), persistent=False)

    def forward(self, image: Tensor, strength: Tensor, width: Tensor) -> Tensor:
        mask = self.mask(image, width) * strength[:, None, None, None]
        return fill_from_coarse(image, mask)

    def mask(self, image: Tensor, width: Tensor) -> Tensor:
        luma = image.mean(dim=1, keepdim=True)
        size = fixed_shape(image)[-2:]
        half = F.avg_pool2d(luma, 2)
        levels = [self.ridges(half), self.ridges(F.avg_pool2d(half, 2))]
        centres = list(LEVEL_WIDTHS[1:])
        if self.full_scale:
            levels.insert(0, self.ridges(luma, average_at_half=True))
            centres.insert(0, LEVEL_WIDTHS[0])
        weights = _level_weights(width, centres)
        response = sum(
            w[:, None, None, None]
            * F.interpolate(r, size=size, mode="bilinear", align_corners=False)
            for w, r in zip(weights, levels, strict=True)
        )
        mask = ((response - RIDGE_THRESHOLD) / RIDGE_THRESHOLD).clamp(0.0, 1.0)
        return F.max_pool2d(mask, 3, stride=1, padding=1)

    def ridges(self, luma: Tensor, average_at_half: bool = False) -> Tensor:
        """(N, 1, h, w) luma -> best oriented, line-averaged ridge response: (N, 1, h, w), or
        (N, 1, h/2, w/2) when ``average_at_half`` (averaged along lines at half resolution)."""
        count = len(NORMALS)
        differences = F.conv2d(F.pad(luma, (2, 2, 2, 2), mode="replicate"), self.neighbours)
        ahead, behind = differences[:, :count], differences[:, count:]
        ridge = torch.maximum(torch.minimum(ahead, behind), torch.minimum(-ahead, -behind))
        ridge = ridge - SYMMETRY_PENALTY * (ahead - behind).abs()
        if average_at_half:
            ridge = F.avg_pool2d(ridge, 2)
        pad = LINE_RADIUS
        averaged = F.conv2d(
            F.pad(ridge, (pad, pad, pad, pad), mode="replicate"), self.lines, groups=count
        )
        return averaged.amax(dim=1, keepdim=True)


def _level_weights(width: Tensor, centres: list[float]) -> list[Tensor]:
    """(N,) weights of each level for ``width`` (N,): hat functions at ``centres``, clamped at the
    ends (the first level takes every narrower width, the last every wider one); they sum to 1."""
    weights = []
    for index, centre in enumerate(centres):
        weight = torch.ones_like(width)
        if index > 0:
            below = centres[index - 1]
            weight = torch.minimum(weight, ((width - below) / (centre - below)).clamp(0.0, 1.0))
        if index + 1 < len(centres):
            above = centres[index + 1]
            weight = torch.minimum(weight, ((above - width) / (above - centre)).clamp(0.0, 1.0))
        weights.append(weight)
    return weights


def _masked_mean(image: Tensor, weight: Tensor, level: int) -> Tensor:
    """Push-pull: weighted 2**level block means, coarser where a block is mostly masked, upsampled."""
    factor = 2**level
    weight_sum = F.avg_pool2d(weight, factor)
    mean = F.avg_pool2d(image * weight, factor) / weight_sum.clamp_min(1e-3)
    coarser = F.avg_pool2d(image * weight, 2 * factor) / F.avg_pool2d(weight, 2 * factor).clamp_min(
        1e-3
    )
    coarser = F.interpolate(coarser, scale_factor=2.0, mode="bilinear", align_corners=False)
    mean = torch.where(weight_sum > 0.05, mean, coarser)
    size = fixed_shape(image)[-2:]
    return F.interpolate(mean, size=size, mode="bilinear", align_corners=False)


def fill_from_coarse(image: Tensor, mask: Tensor) -> Tensor:
    """Pull masked pixels of ``image`` (N, C, H, W) towards the coarse fill (see the module doc)."""
    keep = 1.0 - mask
    fill = _masked_mean(image, keep, FILL_LEVEL)
    deviation = image - fill
    spread = _masked_mean(deviation * deviation, keep, FILL_LEVEL).clamp_min(1e-8).sqrt()
    allowed = SPREAD_ALLOWANCE * spread
    pulled = fill + torch.maximum(torch.minimum(deviation, allowed), -allowed)
    return image * keep + pulled * mask
