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

from facert.export.restorers.wavelets import fixed_shape

NORMALS = ((2, 0), (2, 1), (2, 2), (1, 2), (0, 2), (-1, 2), (-2, 2), (-2, 1))  # (dx, dy) across
LINE_RADIUS = 7
SYMMETRY_PENALTY = 0.5
RIDGE_THRESHOLD = 0.03  # ridge response (luma, [0, 1]) at which the mask starts; full at twice
FILL_LEVEL = 3  # the fill comes from 2**3 = 8x8 means
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
    scratch width in crop pixels. :meth:`mask` alone gives the (N, 1, H, W) mask in [0, 1].
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("neighbours", _neighbour_kernels(), persistent=False)
        self.register_buffer("lines", _line_kernels(), persistent=False)

    def forward(self, image: Tensor, strength: Tensor, width: Tensor) -> Tensor:
        mask = self.mask(image, width) * strength[:, None, None, None]
        return fill_from_coarse(image, mask)

    def mask(self, image: Tensor, width: Tensor) -> Tensor:
        luma = image.mean(dim=1, keepdim=True)
        size = fixed_shape(image)[-2:]
        half = F.avg_pool2d(luma, 2)
        fine = F.interpolate(self.ridges(half), size=size, mode="bilinear", align_corners=False)
        coarse = F.interpolate(
            self.ridges(F.avg_pool2d(half, 2)), size=size, mode="bilinear", align_corners=False
        )
        blend = ((width - 3.0) / 3.0).clamp(0.0, 1.0)[:, None, None, None]
        response = (1.0 - blend) * fine + blend * coarse
        mask = ((response - RIDGE_THRESHOLD) / RIDGE_THRESHOLD).clamp(0.0, 1.0)
        return F.max_pool2d(mask, 3, stride=1, padding=1)

    def ridges(self, luma: Tensor) -> Tensor:
        """(N, 1, h, w) luma -> (N, 1, h, w) best oriented, line-averaged ridge response."""
        count = len(NORMALS)
        differences = F.conv2d(F.pad(luma, (2, 2, 2, 2), mode="replicate"), self.neighbours)
        ahead, behind = differences[:, :count], differences[:, count:]
        ridge = torch.maximum(torch.minimum(ahead, behind), torch.minimum(-ahead, -behind))
        ridge = ridge - SYMMETRY_PENALTY * (ahead - behind).abs()
        pad = LINE_RADIUS
        averaged = F.conv2d(
            F.pad(ridge, (pad, pad, pad, pad), mode="replicate"), self.lines, groups=count
        )
        return averaged.amax(dim=1, keepdim=True)


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
