"""WIPA, wavelet-based restoration of old prints: fading, scratches, grain. Weight-free.

The seed article names WIPA without a published method (a 2022 face super-resolution network shares
the name with another meaning); facert implements what it describes, in three steps on the aligned
face (N, 3, 512, 512) RGB in [0, 1]:

1. Fading, on the approximation band. A faded print is ``(1 - f) * x + f * paper`` per channel: the
   blacks are lifted towards the paper's tint and the contrast drops. From the level-4 Haar
   approximation (16x16 means, free of grain and scratches) the 1st and 99th percentiles of each
   channel are taken; each channel's black point is moved to :data:`BLACK_TARGET` (which removes the
   cast, assuming the darkest parts of a photo are neutral) and all channels share the gain that keeps
   the brightest channel's white point where it is. The gain is limited to [1, :data:`MAX_GAIN`] and
   blacks already below the target are left alone, so an unfaded photo is nearly unchanged; where the
   limit binds (a photo without dark parts: a flat grey wall) the black target rises so that the
   white point still stays put, and a flat photo is left as it is.
2. Scratches, located from the detail of the 1/2 and 1/4 scale approximations and filled from
   coarser levels (see :mod:`.scratches`).
3. Grain: an orthonormal ``db2`` wavelet transform of :attr:`Wipa.wavelet_levels` levels in opponent
   colour channels; per band, BayesShrink soft thresholds from the per-level noise estimated on the
   diagonal bands (see :mod:`.shrinkage`), times ``denoise``. The result is averaged over
   :data:`SHIFTS` circular shifts (cycle spinning) to remove the decimated transform's block
   artefacts.

Options (each an (N,) float32 graph input): ``denoise`` (threshold multiplier, 0 off), ``scratch``
(mask strength 0-1), ``fade`` (strength of the fading correction 0-1), ``scratch_width`` (expected
scratch width in crop pixels; the runtime gives the option in photo pixels times the magnification).

A faded, scratched print is faded and scratched everywhere, so the same three steps also run on the
whole photo, before the faces (:mod:`.wipa_frame`); the face graph then runs with ``fade`` 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facert.export.families.weightfree.selection import kth_largest
from facert.export.families.weightfree.shrinkage import (
    bayes_threshold,
    from_opponent,
    level_noise,
    opponent_matrix,
    to_opponent,
)
from facert.export.families.weightfree.wavelets import Wavelet2d, fixed_shape, soft_threshold
from facert.export.families.wipa.scratches import ScratchFiller
from facert.models.registry import ModelSpec

BLACK_TARGET = 0.03
MAX_GAIN = 2.0
FADE_LEVEL = 4  # the approximation band used for the levels: 16x16 means
PERCENTILE = 0.01
SHIFTS = ((0, 0), (1, 1), (2, 3), (3, 1))  # (dy, dx) circular shifts averaged by cycle spinning


class Wipa(nn.Module):
    """The WIPA restorer; structural parameters are fixed here and recorded in the manifest."""

    def __init__(
        self,
        wavelet: str = "db2",
        wavelet_levels: int = 5,
        *,
        full_scale_scratches: bool = False,
        noise_once: bool = False,
    ) -> None:
        super().__init__()
        self.noise_once = noise_once
        self.wavelet = Wavelet2d(wavelet, wavelet_levels)
        self.scratches = ScratchFiller(full_scale=full_scale_scratches)
        self.register_buffer("opponent", opponent_matrix(), persistent=False)

    def structure(self) -> dict[str, Any]:
        return {
            "wavelet": self.wavelet.wavelet,
            "wavelet_levels": self.wavelet.levels,
            "cycle_spins": len(SHIFTS),
            "fade_level": FADE_LEVEL,
            "threshold_rule": "BayesShrink per band, per-level MAD noise"
            + (" (first shift's)" if self.noise_once else ""),
            "scratch_levels": ["full", "1/2", "1/4"][0 if self.scratches.full_scale else 1 :],
        }

    def forward(
        self, image: Tensor, denoise: Tensor, scratch: Tensor, fade: Tensor, scratch_width: Tensor
    ) -> Tensor:
        unfaded = correct_fading(image, fade)
        filled = self.scratches(unfaded, scratch, scratch_width)
        return self.denoised(filled, denoise).clamp(0.0, 1.0)

    def denoised(
        self, image: Tensor, strength: Tensor, shifts: tuple[tuple[int, int], ...] = SHIFTS
    ) -> Tensor:
        """Cycle-spun wavelet shrinkage of (N, 3, H, W) RGB; ``strength`` (N,) scales thresholds.

        ``shifts``: the circular (dy, dx) shifts averaged; the noise is estimated on each (a median
        of every level's diagonal band) unless ``self.noise_once``, where the first shift's
        estimate serves them all (the medians were a quarter of a frame tile's time with ONNX
        Runtime's TopK; the shifted estimates agree to well under a level).
        """
        channels = to_opponent(image, self.opponent)
        total = torch.zeros_like(channels)
        noise: list[Tensor] = []
        for dy, dx in shifts:
            shifted = torch.roll(channels, shifts=(dy, dx), dims=(2, 3))
            approximation, details = self.wavelet(shifted)
            if not (noise and self.noise_once):
                noise = level_noise(details)
            shrunk = [
                soft_threshold(d, strength[:, None, None, None, None] * bayes_threshold(d, n))
                for d, n in zip(details, noise, strict=True)
            ]
            rebuilt = self.wavelet.inverse(approximation, shrunk)
            total = total + torch.roll(rebuilt, shifts=(-dy, -dx), dims=(2, 3))
        return from_opponent(total / len(shifts), self.opponent)


def correct_fading(image: Tensor, strength: Tensor) -> Tensor:
    """Per-channel affine fading correction (see the module doc); ``strength`` (N,) in [0, 1]."""
    means = F.avg_pool2d(image, 2**FADE_LEVEL).flatten(2)  # Haar approximation / 2**level
    gain, offset = fading_transform(means, strength)
    return image * gain[:, :, None, None] + offset[:, :, None, None]


def fading_transform(means: Tensor, strength: Tensor) -> tuple[Tensor, Tensor]:
    """``(gain, offset)``, each (N, 3): the correction ``image * gain + offset`` per channel.

    ``means``: (N, 3, K) block means of the image (grain and scratches averaged away), RGB [0, 1];
    ``strength``: (N,) in [0, 1], 0 giving gain 1 and offset 0.
    """
    count = max(1, int(PERCENTILE * fixed_shape(means)[-1] + 0.5))
    low = -kth_largest(-means, count)  # (N, 3)
    high = kth_largest(means, count)
    brightest = high.argmax(dim=1, keepdim=True)
    white = high.gather(1, brightest)
    black = low.gather(1, brightest)
    gain = ((white - BLACK_TARGET) / (white - black).clamp_min(1e-3)).clamp(1.0, MAX_GAIN)
    target = torch.maximum(white - gain * (white - black), torch.full_like(white, BLACK_TARGET))
    offset = target - gain * torch.maximum(low, target)
    weight = strength[:, None]
    return 1.0 + weight * (gain - 1.0), weight * offset


def build_wipa(spec: ModelSpec) -> Wipa:
    """The module exported for ``spec`` (the structural defaults above)."""
    return Wipa()


def export_wipa(spec: ModelSpec, sources: list[Path], workdir: Path) -> dict[str, Any]:
    """The exporter named by the ``wipa`` spec: the face graph and the frame-stage graph, each
    checked (:func:`facert.export.families.weightfree.export.export_weight_free`); manifest facts."""
    from facert.export.families.weightfree.export import export_weight_free
    from facert.export.families.wipa.frame import export_frame_stage

    module = build_wipa(spec)
    facts = export_weight_free(spec, module, workdir, structure=module.structure(), onednn=True)
    facts["frame_stage"] = export_frame_stage(spec, workdir)
    return facts
