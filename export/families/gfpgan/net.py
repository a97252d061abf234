"""GFPGAN v1.2 / v1.3 / v1.4 ("clean" architecture): a U-Net encoder whose features steer a StyleGAN2
decoder through spatial feature transforms (SFT).

A faithful port of the official GFPGANv1Clean as GFPGANer builds it (``different_w``, ``sft_half``,
``input_is_latent``): the same keys and shapes, so the official checkpoints load unchanged, and the
same arithmetic, so outputs match the official code. Sizes are configurable (:class:`GFPGANConfig`)
so tests can run small models; the official checkpoints all use the defaults.

Input (N, 3, S, S) float32 RGB in [-1, 1] with S = ``out_size``; output the same layout, roughly in
[-1, 1] (not clamped).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from facert.export.families.stylegan2.net import LEAKY_SLOPE, StyleGAN2Decoder, stylegan_channels
from facert.export.harness.checkpoint import load_strict


@dataclass(frozen=True)
class GFPGANConfig:
    """Sizes of a GFPGANv1Clean. The defaults are those of the official v1.2-v1.4 checkpoints."""

    out_size: int = 512
    num_style_feat: int = 512
    channel_multiplier: int = 2
    narrow: float = 1.0
    num_mlp: int = 8

    @property
    def log_size(self) -> int:
        return int(math.log2(self.out_size))

    @property
    def num_latent(self) -> int:
        """Per-layer latents (W+) the encoder predicts: 2 * log2(out_size) - 2."""
        return 2 * self.log_size - 2

    def unet_channels(self) -> dict[int, int]:
        """U-Net channels per resolution: the decoder's table at half the width."""
        return stylegan_channels(self.narrow * 0.5, self.channel_multiplier)


def resize2x(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Bilinear resize by ``scale`` (0.5 or 2), ``align_corners=False``."""
    return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


class ResBlock(nn.Module):
    """conv3x3 -> LReLU -> resize -> conv3x3 -> LReLU, plus a 1x1 (no bias) skip of the resized input."""

    def __init__(self, in_channels: int, out_channels: int, scale: float) -> None:
        super().__init__()
        self.scale = scale
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.leaky_relu(self.conv1(x), LEAKY_SLOPE)
        out = F.leaky_relu(self.conv2(resize2x(out, self.scale)), LEAKY_SLOPE)
        return out + self.skip(resize2x(x, self.scale))


class SFTDecoder(StyleGAN2Decoder):
    """StyleGAN2 decoder with SFT on half the channels after each upsampling style conv."""

    def forward(
        self,
        latent: torch.Tensor,
        conditions: list[torch.Tensor],
        randomize_noise: bool = False,
    ) -> torch.Tensor:
        """latent (N, num_latent, F); conditions [scale_8, shift_8, scale_16, ...] -> (N, 3, S, S).

        ``randomize_noise`` draws fresh noise per call as GFPGANer does; False uses the stored maps.
        """
        noises: list[torch.Tensor | None] = (
            [None] * self.num_layers if randomize_noise else list(self.stored_noise())
        )
        out = self.constant_input(latent.shape[0])
        out = self.style_conv1(out, latent[:, 0], noises[0])
        skip = self.to_rgb1(out, latent[:, 1])
        for level, to_rgb in enumerate(self.to_rgbs):
            i = 2 * level + 1
            out = self.style_convs[2 * level](out, latent[:, i], noises[i])
            same, transformed = torch.split(out, out.shape[1] // 2, dim=1)
            transformed = transformed * conditions[2 * level] + conditions[2 * level + 1]
            out = torch.cat([same, transformed], dim=1)
            out = self.style_convs[2 * level + 1](out, latent[:, i + 1], noises[i + 1])
            skip = to_rgb(out, latent[:, i + 2], skip)
        return skip


def _condition(channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels, channels, 3, 1, 1),
        nn.LeakyReLU(LEAKY_SLOPE),
        nn.Conv2d(channels, channels, 3, 1, 1),
    )


class GFPGAN(nn.Module):
    """GFPGANv1Clean (inference path, ``return_rgb=False``)."""

    def __init__(self, config: GFPGANConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or GFPGANConfig()
        channels = config.unet_channels()
        log_size = config.log_size
        self.conv_body_first = nn.Conv2d(3, channels[config.out_size], 1)
        self.conv_body_down = nn.ModuleList(
            ResBlock(channels[2**level], channels[2 ** (level - 1)], 0.5)
            for level in range(log_size, 2, -1)
        )
        self.final_conv = nn.Conv2d(channels[4], channels[4], 3, 1, 1)
        self.conv_body_up = nn.ModuleList(
            ResBlock(channels[2 ** (level - 1)], channels[2**level], 2.0)
            for level in range(3, log_size + 1)
        )
        # Intermediate RGB heads: unused at inference, but in the checkpoint.
        self.toRGB = nn.ModuleList(
            nn.Conv2d(channels[2**level], 3, 1) for level in range(3, log_size + 1)
        )
        self.final_linear = nn.Linear(
            channels[4] * 4 * 4, config.num_latent * config.num_style_feat
        )
        self.stylegan_decoder = SFTDecoder(
            config.out_size,
            config.num_style_feat,
            config.num_mlp,
            config.channel_multiplier,
            config.narrow,
        )
        levels = range(3, log_size + 1)
        self.condition_scale = nn.ModuleList(_condition(channels[2**level]) for level in levels)
        self.condition_shift = nn.ModuleList(_condition(channels[2**level]) for level in levels)

    def forward(self, x: torch.Tensor, randomize_noise: bool = False) -> torch.Tensor:
        """x (N, 3, S, S) float32 RGB [-1, 1] -> restored (N, 3, S, S), roughly [-1, 1]."""
        feat = F.leaky_relu(self.conv_body_first(x), LEAKY_SLOPE)
        skips: list[torch.Tensor] = []
        for block in self.conv_body_down:
            feat = block(feat)
            skips.insert(0, feat)
        feat = F.leaky_relu(self.final_conv(feat), LEAKY_SLOPE)
        latent = self.final_linear(feat.flatten(1))
        latent = latent.view(latent.shape[0], -1, self.config.num_style_feat)
        conditions: list[torch.Tensor] = []
        for skip, block, scale, shift in zip(
            skips, self.conv_body_up, self.condition_scale, self.condition_shift, strict=True
        ):
            feat = block(feat + skip)
            conditions += [scale(feat), shift(feat)]
        return self.stylegan_decoder(latent, conditions, randomize_noise)


def load_gfpgan(
    state_dict: Mapping[str, torch.Tensor],
    config: GFPGANConfig | None = None,
    path: Path | None = None,
) -> GFPGAN:
    """A :class:`GFPGAN` holding ``state_dict`` (exact keys and shapes), in eval mode.

    ``path`` names the checkpoint in the one-line error raised when keys or shapes differ.
    """
    model = GFPGAN(config)
    load_strict(model, state_dict, path)
    return model.eval()
