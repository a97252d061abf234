"""ISPL, iterative sparse progressive restoration: a weight-free deblurring and denoising restorer.

The seed article names ISPL without a published method; facert implements what it describes. The
aligned face ``y`` (opponent colour channels) is restored coarse to fine over an image pyramid of
:attr:`Ispl.pyramid_levels` levels (each half the size of the next, by 2x2 averaging). At each level a
fixed number of monotone FISTA iterations (Beck and Teboulle 2009, MFISTA) minimise

    F(x) = 0.5 * ||k * x - y||^2 + sum_j lambda_j * ||W_j x||_1

where ``k`` is a Gaussian blur of the face's width (``blur_sigma`` crop pixels, divided by two per
pyramid level), ``W`` an orthonormal wavelet transform (``W_j`` its level ``j`` details; the
approximation is not penalised), so the proximal step is soft thresholding; and
``lambda_j = lam * sigma_j`` with ``sigma_j`` the noise of level ``j`` estimated from ``y`` (see
:mod:`.shrinkage`). Each level starts from the bilinear upsampling of the level below; the coarsest
starts from ``y``. The fixed iteration count also regularises: FISTA is stopped well before the
deconvolution converges and amplifies the grain left by compression.

Inputs: ``image`` (N, 3, 512, 512) float32 RGB in [0, 1]; ``blur_sigma`` (N,) float32, the blur std in
crop pixels (the runtime multiplies the option, given in photo pixels, by the face's magnification;
0 turns deblurring off and leaves wavelet-sparse denoising); ``lam`` (N,) float32. Output
``restored``: (N, 3, 512, 512) float32 RGB in [0, 1].
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facert.export.families.ispl.gaussian import GaussianBlur
from facert.export.families.weightfree.shrinkage import (
    from_opponent,
    level_noise,
    opponent_matrix,
    to_opponent,
)
from facert.export.families.weightfree.wavelets import Wavelet2d, soft_threshold
from facert.models.registry import ModelSpec


class Ispl(nn.Module):
    """The ISPL restorer; structural parameters are fixed here and recorded in the manifest."""

    def __init__(
        self,
        pyramid_levels: int = 3,
        iterations: tuple[int, ...] = (10, 10, 6),
        wavelet: str = "sym4",
        wavelet_levels: int = 4,
    ) -> None:
        super().__init__()
        if len(iterations) != pyramid_levels:
            raise ValueError("give one iteration count per pyramid level, coarsest first")
        self.pyramid_levels = pyramid_levels
        self.iterations = tuple(iterations)
        self.wavelet = Wavelet2d(wavelet, wavelet_levels)
        self.blur = GaussianBlur()
        self.register_buffer("opponent", opponent_matrix(), persistent=False)

    def structure(self) -> dict[str, Any]:
        """The parameters baked into the graph, for the manifest."""
        return {
            "pyramid_levels": self.pyramid_levels,
            "iterations": list(self.iterations),
            "wavelet": self.wavelet.wavelet,
            "wavelet_levels": self.wavelet.levels,
            "solver": "monotone FISTA, step 1 (the blur has norm <= 1)",
        }

    def forward(self, image: Tensor, blur_sigma: Tensor, lam: Tensor) -> Tensor:
        observed = to_opponent(image, self.opponent)
        pyramid = [observed]
        for _ in range(self.pyramid_levels - 1):
            pyramid.append(F.avg_pool2d(pyramid[-1], 2))
        estimate = pyramid[-1]
        for level, count in enumerate(self.iterations):
            target = pyramid[self.pyramid_levels - 1 - level]
            if level > 0:
                estimate = F.interpolate(
                    estimate, scale_factor=2.0, mode="bilinear", align_corners=False
                )
            shrink = 2.0 ** (self.pyramid_levels - 1 - level)
            blocks = self.blur.matrices(blur_sigma / shrink)
            thresholds = self.thresholds(target, lam)
            estimate, _ = self.solve(target, estimate, blocks, thresholds, count)
        return from_opponent(estimate, self.opponent).clamp(0.0, 1.0)

    def thresholds(self, observed: Tensor, lam: Tensor) -> list[Tensor]:
        """``lambda_j`` per level (finest first), each (N, C, 1, 1, 1)."""
        _, details = self.wavelet(observed)
        return [(lam[:, None] * noise)[..., None, None, None] for noise in level_noise(details)]

    def objective_terms(self, image: Tensor, thresholds: list[Tensor]) -> tuple[Tensor, Tensor]:
        """The proximal map of the L1 term at ``image`` and that term's value there: (x, (N,))."""
        approximation, details = self.wavelet(image)
        shrunk = [soft_threshold(d, t) for d, t in zip(details, thresholds, strict=True)]
        return self.wavelet.inverse(approximation, shrunk), _weighted_l1(shrunk, thresholds)

    def objective(
        self, image: Tensor, observed: Tensor, blocks: Tensor, thresholds: list[Tensor]
    ) -> Tensor:
        """F(image) per sample (N,), for tests and diagnostics."""
        _, details = self.wavelet(image)
        penalty = _weighted_l1(details, thresholds)
        residual = self.blur.apply_matrices(image, blocks) - observed
        return 0.5 * (residual * residual).sum(dim=(1, 2, 3)) + penalty

    def solve(
        self,
        observed: Tensor,
        start: Tensor,
        blocks: Tensor,
        thresholds: list[Tensor],
        iterations: int,
    ) -> tuple[Tensor, list[Tensor]]:
        """``iterations`` of monotone FISTA from ``start``; returns x and F after each step (N,).

        Blurred copies of the iterates are carried along (the blur is linear), so each iteration
        blurs twice: the candidate, and the residual at the extrapolated point.
        """
        current = start
        blurred = self.blur.apply_matrices(current, blocks)
        # With step 1 >= ||k||^2 one proximal-gradient step never increases F, so the first
        # candidate is always taken: no need to evaluate F at the start.
        value = torch.full_like(blurred[:, 0, 0, 0], float("inf"))
        point, blurred_point = current, blurred
        step = 1.0
        trace = []
        for _ in range(iterations):
            gradient = self.blur.apply_matrices(blurred_point - observed, blocks)
            candidate, penalty = self.objective_terms(point - gradient, thresholds)
            blurred_candidate = self.blur.apply_matrices(candidate, blocks)
            residual = blurred_candidate - observed
            candidate_value = 0.5 * (residual * residual).sum(dim=(1, 2, 3)) + penalty
            better = (candidate_value <= value)[:, None, None, None]
            following = torch.where(better, candidate, current)
            blurred_following = torch.where(better, blurred_candidate, blurred)
            next_step = (1.0 + math.sqrt(1.0 + 4.0 * step * step)) / 2.0
            toward, inertia = step / next_step, (step - 1.0) / next_step
            point = following + toward * (candidate - following) + inertia * (following - current)
            blurred_point = (
                blurred_following
                + toward * (blurred_candidate - blurred_following)
                + inertia * (blurred_following - blurred)
            )
            current, blurred, step = following, blurred_following, next_step
            value = torch.minimum(candidate_value, value)
            trace.append(value)
        return current, trace


def _weighted_l1(details: list[Tensor], thresholds: list[Tensor]) -> Tensor:
    """``sum_j lambda_j * ||d_j||_1`` per sample: (N,)."""
    total = (thresholds[0] * details[0].abs()).sum(dim=(1, 2, 3, 4))
    for detail, threshold in zip(details[1:], thresholds[1:], strict=True):
        total = total + (threshold * detail.abs()).sum(dim=(1, 2, 3, 4))
    return total


def build_ispl(spec: ModelSpec) -> Ispl:
    """The module exported for ``spec`` (the structural defaults above)."""
    return Ispl()


def export_ispl(spec: ModelSpec, sources: list[Path], workdir: Path) -> dict[str, Any]:
    """The exporter named by the ``ispl`` spec: ONNX graph, parity checks, manifest facts."""
    from facert.export.families.weightfree.export import export_weight_free

    module = build_ispl(spec)
    return export_weight_free(spec, module, workdir, structure=module.structure())
