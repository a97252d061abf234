"""GFPGAN's deployable form and its exporter.

The same function as :class:`facert.export.families.gfpgan.net.GFPGAN` with ``randomize_noise=False`` (the
checkpoint's stored noise maps), written for ONNX/TensorRT: static conv weights, no batch-dependent
Python (the batch is free: constant input and noise broadcast), FP16-safe style path (see
:mod:`facert.export.families.stylegan2.export`). Graph: ``image`` (N, 3, 512, 512) RGB [-1, 1] ->
``restored`` (N, 3, 512, 512) RGB, roughly [-1, 1].
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from facert.export.families.gfpgan.net import GFPGAN, GFPGANConfig, load_gfpgan
from facert.export.families.stylegan2.export import (
    StaticModulatedConv,
    StaticStyleConv,
    StaticToRGB,
)
from facert.export.families.stylegan2.net import LEAKY_SLOPE
from facert.export.harness.source_check import Build, LearnedExporter
from facert.export.precision.policy import Precision, apply_precision, cast
from facert.models.registry import ModelSpec


class GFPGANExport(nn.Module):
    """Export form of a loaded :class:`GFPGAN` (built from its tensors; the source is not modified)."""

    def __init__(self, model: GFPGAN, precision: Precision, rescale_styles: bool = True) -> None:
        super().__init__()
        self.num_latent = model.config.num_latent
        self.num_style_feat = model.config.num_style_feat
        # The U-Net is plain convolutions: used as they are (copies; the source stays untouched).
        self.conv_body_first = copy.deepcopy(model.conv_body_first)
        self.conv_body_down = copy.deepcopy(model.conv_body_down)
        self.final_conv = copy.deepcopy(model.final_conv)
        self.final_linear = copy.deepcopy(model.final_linear)
        self.conv_body_up = copy.deepcopy(model.conv_body_up)
        self.condition_scale = copy.deepcopy(model.condition_scale)
        self.condition_shift = copy.deepcopy(model.condition_shift)
        decoder = model.stylegan_decoder
        noises = decoder.stored_noise()
        self.constant = nn.Parameter(decoder.constant_input.weight.detach().clone())
        self.style_conv1 = StaticStyleConv(
            decoder.style_conv1, noises[0], precision, rescale_styles
        )
        self.to_rgb1 = StaticToRGB(decoder.to_rgb1, precision, rescale_styles)
        self.style_convs = nn.ModuleList(
            StaticStyleConv(conv, noise, precision, rescale_styles)
            for conv, noise in zip(decoder.style_convs, noises[1:], strict=True)
        )
        self.to_rgbs = nn.ModuleList(
            StaticToRGB(to_rgb, precision, rescale_styles) for to_rgb in decoder.to_rgbs
        )
        # SFT acts on the second half of each level's channels (a Python int: a static Split).
        self.sft_split = [
            conv.modulated_conv.out_channels // 2 for conv in decoder.style_convs[::2]
        ]

    def encode(self, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """image (N, 3, S, S) -> latents (N, num_latent, F) and SFT conditions [scale, shift] x levels."""
        feat = F.leaky_relu(self.conv_body_first(image), LEAKY_SLOPE)
        skips: list[torch.Tensor] = []
        for block in self.conv_body_down:
            feat = block(feat)
            skips.insert(0, feat)
        feat = F.leaky_relu(self.final_conv(feat), LEAKY_SLOPE)
        latent = self.final_linear(feat.flatten(1)).reshape(
            -1, self.num_latent, self.num_style_feat
        )
        conditions: list[torch.Tensor] = []
        for skip, block, scale, shift in zip(
            skips, self.conv_body_up, self.condition_scale, self.condition_shift, strict=True
        ):
            feat = block(feat + skip)
            conditions += [scale(feat), shift(feat)]
        return latent, conditions

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """image (N, 3, S, S) RGB [-1, 1], float32 or the module's dtype -> restored (N, 3, S, S),
        in the module's dtype."""
        latent, conditions = self.encode(cast(image, self.conv_body_first.weight.dtype))
        out = self.style_conv1(self.constant, latent[:, 0])
        skip = self.to_rgb1(out, latent[:, 1])
        for level, to_rgb in enumerate(self.to_rgbs):
            i = 2 * level + 1
            out = self.style_convs[2 * level](out, latent[:, i])
            same, transformed = torch.split(out, self.sft_split[level], dim=1)
            transformed = transformed * conditions[2 * level] + conditions[2 * level + 1]
            out = self.style_convs[2 * level + 1](
                torch.cat([same, transformed], 1), latent[:, i + 1]
            )
            skip = to_rgb(out, latent[:, i + 2], skip)
        return skip


def build_gfpgan_export(
    state_dict: Mapping[str, torch.Tensor],
    precision: Precision,
    config: GFPGANConfig | None = None,
    rescale_styles: bool = True,
) -> GFPGANExport:
    """The export form of the GFPGAN holding ``state_dict``, in ``precision`` (the style modulation
    layers pinned), eval mode.

    Raises :class:`facert.errors.WeightsError` (without a path) when keys or shapes differ.
    """
    module = GFPGANExport(load_gfpgan(state_dict, config), precision, rescale_styles)
    modulations = [m.modulation for m in module.modules() if isinstance(m, StaticModulatedConv)]
    apply_precision(module, precision, modulations)
    return module.eval()


def gfpgan_build(spec: ModelSpec) -> Build:
    """The build of a gfpgan-* spec: the clean architecture at the spec's input size."""
    return functools.partial(build_gfpgan_export, config=GFPGANConfig(out_size=spec.input_size))


# The exporter of the gfpgan-* specs (v1.2-v1.4 checkpoints, 512 px).
export_gfpgan = LearnedExporter(gfpgan_build)
