"""Colour decorrelation, noise estimation and threshold rules shared by ISPL and WIPA.

Both restorers work on faces magnified into the 512 crop, where photo grain is no longer white: a
face magnified ``s`` times carries grain ``s`` crop pixels wide, so the finest wavelet levels of the
crop hold little noise and the levels near ``log2(s) + 1`` hold most of it. The noise is therefore
estimated per level, from that level's diagonal band (Donoho's median absolute deviation, applied
level by level as Johnstone and Silverman do for correlated noise); from level
:data:`CAPPED_FROM` on, where the bands are dominated by the face rather than grain, an estimate may
not exceed the largest one of the finer levels (upsampled white noise has a flat spectrum below its
cut-off, so its level-wise deviation stops growing once the grain is resolved; faces magnified up to
about 4x are covered).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from facert.export.families.weightfree.selection import kth_largest
from facert.export.families.weightfree.wavelets import fixed_shape

CAPPED_FROM = 4  # 1-based wavelet level from which noise estimates are capped by finer levels
MAD_TO_SIGMA = 1.0 / 0.6745  # median absolute deviation of a Gaussian, in standard deviations

# Orthonormal opponent colour transform (rows: luma, red-blue, green-magenta). Being orthonormal it
# keeps independent, equal per-channel noise independent and equal, and its inverse is its transpose.
_OPPONENT = (
    (1 / math.sqrt(3), 1 / math.sqrt(3), 1 / math.sqrt(3)),
    (1 / math.sqrt(2), 0.0, -1 / math.sqrt(2)),
    (1 / math.sqrt(6), -2 / math.sqrt(6), 1 / math.sqrt(6)),
)


def opponent_matrix() -> Tensor:
    """(3, 3) float32: maps RGB to the opponent channels (rows are output channels)."""
    return torch.tensor(_OPPONENT, dtype=torch.float32)


def to_opponent(image: Tensor, matrix: Tensor) -> Tensor:
    """(N, 3, H, W) RGB -> (N, 3, H, W) opponent channels (luma first; luma = sqrt(3) * mean)."""
    return F.conv2d(image, matrix[:, :, None, None])


def from_opponent(image: Tensor, matrix: Tensor) -> Tensor:
    """The inverse of :func:`to_opponent` (the transpose of the orthonormal matrix)."""
    return F.conv2d(image, matrix.t()[:, :, None, None])


def robust_sigma(band: Tensor) -> Tensor:
    """Noise standard deviation of a detail band (N, C, h, w) by the median absolute value: (N, C)."""
    magnitudes = band.abs().flatten(2)
    return kth_largest(magnitudes, fixed_shape(magnitudes)[-1] // 2) * MAD_TO_SIGMA


def level_noise(details: list[Tensor]) -> list[Tensor]:
    """Per-level noise std (N, C) from each level's diagonal band, finest first, capped as above.

    ``details``: the wavelet details, finest first, each (N, C, 3, h, w) with the diagonal band last.
    """
    estimates: list[Tensor] = []
    for level, detail in enumerate(details, start=1):
        sigma = robust_sigma(detail[:, :, 2])
        if level >= CAPPED_FROM:
            sigma = torch.minimum(sigma, torch.stack(estimates).amax(dim=0))
        estimates.append(sigma)
    return estimates


def bayes_threshold(detail: Tensor, noise: Tensor) -> Tensor:
    """BayesShrink (Chang, Yu and Vetterli 2000) per band: ``noise^2 / signal_std``, (N, C, 3, 1, 1).

    ``detail``: (N, C, 3, h, w) one level's bands; ``noise``: (N, C) that level's noise std. The
    signal std is ``sqrt(max(var - noise^2, 0))``, floored so that a band of pure noise gets a
    threshold above its largest coefficients (it is removed).
    """
    noise_power = (noise * noise)[:, :, None]
    band_power = (detail * detail).mean(dim=(3, 4))
    signal_std = (band_power - noise_power).clamp_min(1e-10).sqrt()
    return (noise_power / signal_std)[..., None, None]
