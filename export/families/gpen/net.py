"""GPEN-BFR (yangxy/GPEN ``FullGenerator``): a conv encoder whose features and latent drive a StyleGAN2.

A faithful port of the official ``FullGenerator`` as ``face_model/face_gan.py`` builds it (style_dim
512, n_mlp 8, blur kernel [1, 3, 3, 1], lr_mlp 0.01, isconcat): the same keys and shapes, so the
official files load unchanged, and the same arithmetic, so outputs match the official code (its
custom CUDA ops replaced by their plain-PyTorch CPU fallbacks, see :mod:`.gpen_layers`). It computes
the modulated convolution the official way (per-sample weights, batch folded into conv groups); the
deployable form is :mod:`facert.export.families.gpen.export`.

There is no random noise: GPEN's "noise" inputs are the encoder's features. The encoder's output at
resolution r, times a learned strength, is concatenated to the decoder's features at r (``isconcat``),
which doubles the decoder's channels. One style ``w = style_mlp(final_linear(encoder))`` is used by
every layer.

Input (N, 3, S, S) float32 RGB in [-1, 1]; output (N, 3, S, S) RGB, roughly [-1, 1] (not clamped).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from facert.export.families.gpen.layers import (
    Blur,
    ConvLayer,
    EqualLinear,
    FusedLeakyReLU,
    PixelNorm,
    Upsample,
)
from facert.export.families.stylegan2.net import stylegan_channels
from facert.export.harness.checkpoint import load_strict


@dataclass(frozen=True)
class GPENConfig:
    """Sizes of a GPEN FullGenerator. The defaults are GPEN-BFR-512's (and GPEN-BFR-1024's)."""

    out_size: int = 512
    style_dim: int = 512
    num_mlp: int = 8
    channel_multiplier: int = 2
    narrow: float = 1.0

    @property
    def log_size(self) -> int:
        return int(math.log2(self.out_size))

    def channels(self) -> dict[int, int]:
        """Channels per resolution (4 ... 2048), the official table."""
        table = stylegan_channels(self.narrow, self.channel_multiplier)
        return {**table, 2048: int(8 * self.channel_multiplier * self.narrow)}


# The official GPEN-BFR checkpoints (demo.py's comments; ModelScope's pipeline for 1024).
OFFICIAL_CONFIGS = {
    256: GPENConfig(out_size=256, channel_multiplier=1, narrow=0.5),
    512: GPENConfig(out_size=512),
    1024: GPENConfig(out_size=1024),
}


class ModulatedConv2d(nn.Module):
    """Modulated conv: ``weight`` (1, C_out, C_in, k, k) x 1/sqrt(C_in k k) x style, demodulated.

    ``modulation`` maps w (N, style_dim) to the style (N, C_in) (bias initialised to 1). With
    ``upsample`` it is a stride-2 transposed conv followed by ``blur`` (kernel x4, pad (1, 1)).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        style_dim: int,
        demodulate: bool = True,
        upsample: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.demodulate = demodulate
        self.upsample = upsample
        self.eps = 1e-8
        if upsample:
            self.blur = Blur((1, 1), gain=4.0)
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)
        shape = (1, out_channels, in_channels, kernel_size, kernel_size)
        self.weight = nn.Parameter(torch.randn(shape))
        self.modulation = EqualLinear(style_dim, in_channels, bias_init=1.0)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """x (N, C_in, H, W), w (N, style_dim) -> (N, C_out, H', W'), H' = 2H with upsample."""
        batch, _, height, width = x.shape
        style = self.modulation(w).view(batch, 1, self.in_channels, 1, 1)
        weight = self.scale * self.weight * style
        if self.demodulate:
            demod = torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + self.eps)
            weight = weight * demod.view(batch, self.out_channels, 1, 1, 1)
        k = self.kernel_size
        x = x.reshape(1, batch * self.in_channels, height, width)
        if self.upsample:
            weight = weight.transpose(1, 2).reshape(
                batch * self.in_channels, self.out_channels, k, k
            )
            out = F.conv_transpose2d(x, weight, stride=2, groups=batch)
            return self.blur(out.view(batch, self.out_channels, *out.shape[2:]))
        weight = weight.reshape(batch * self.out_channels, self.in_channels, k, k)
        out = F.conv2d(x, weight, padding=k // 2, groups=batch)
        return out.view(batch, self.out_channels, *out.shape[2:])


class NoiseInjection(nn.Module):
    """``cat([x, weight * feature], dim 1)`` with ``weight`` (1,): the encoder feature as noise."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.weight * feature], dim=1)


class StyledConv(nn.Module):
    """Modulated 3x3 conv, the encoder feature concatenated, FusedLeakyReLU over 2 C_out channels."""

    def __init__(self, in_channels: int, out_channels: int, style_dim: int, upsample: bool) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, style_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(2 * out_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, w), feature))


class ToRGB(nn.Module):
    """Modulated 1x1 conv to RGB (no demodulation) + ``bias`` (1, 3, 1, 1) + the upsampled skip."""

    def __init__(self, in_channels: int, style_dim: int, upsample: bool = True) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample()
        self.conv = ModulatedConv2d(in_channels, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(
        self, x: torch.Tensor, w: torch.Tensor, skip: torch.Tensor | None = None
    ) -> torch.Tensor:
        out = self.conv(x, w) + self.bias
        return out if skip is None else out + self.upsample(skip)


class ConstantInput(nn.Module):
    """The learned 4x4 start of the decoder, ``input`` (1, C, 4, 4), repeated over the batch."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, 4, 4))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.repeat(batch, 1, 1, 1)


class Generator(nn.Module):
    """The StyleGAN2 decoder: mapping MLP ``style``, ``input``, ``conv1``, ``to_rgb1``, ``convs``,
    ``to_rgbs``. Each level's convs see the encoder feature of their resolution."""

    def __init__(self, config: GPENConfig) -> None:
        super().__init__()
        channels, style_dim = config.channels(), config.style_dim
        mlp = [
            EqualLinear(style_dim, style_dim, lr_mul=0.01, activate=True)
            for _ in range(config.num_mlp)
        ]
        self.style = nn.Sequential(PixelNorm(), *mlp)
        self.input = ConstantInput(channels[4])
        self.conv1 = StyledConv(channels[4], channels[4], style_dim, upsample=False)
        self.to_rgb1 = ToRGB(2 * channels[4], style_dim, upsample=False)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        in_channels = channels[4]
        for level in range(3, config.log_size + 1):
            out_channels = channels[2**level]
            self.convs.append(StyledConv(2 * in_channels, out_channels, style_dim, True))
            self.convs.append(StyledConv(2 * out_channels, out_channels, style_dim, False))
            self.to_rgbs.append(ToRGB(2 * out_channels, style_dim))
            in_channels = out_channels

    def forward(self, latent: torch.Tensor, features: list[torch.Tensor]) -> torch.Tensor:
        """latent (N, style_dim), features [f4, f8, ..., fS] (coarse to fine) -> (N, 3, S, S)."""
        w = self.style(latent)
        out = self.conv1(self.input(latent.shape[0]), w, features[0])
        skip = self.to_rgb1(out, w)
        for level, to_rgb in enumerate(self.to_rgbs):
            feature = features[level + 1]
            out = self.convs[2 * level](out, w, feature)
            out = self.convs[2 * level + 1](out, w, feature)
            skip = to_rgb(out, w, skip)
        return skip


class GPEN(nn.Module):
    """GPEN's FullGenerator (inference path): encoder ``ecd0`` ... ``ecd{log2(S) - 2}``,
    ``final_linear``, ``generator``."""

    def __init__(self, config: GPENConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or GPENConfig()
        channels = config.channels()
        self.generator = Generator(config)
        self.ecd0 = nn.Sequential(ConvLayer(3, channels[config.out_size], 1, downsample=False))
        in_channels = channels[config.out_size]
        for index, level in enumerate(range(config.log_size, 2, -1), start=1):
            out_channels = channels[2 ** (level - 1)]
            encoder = nn.Sequential(ConvLayer(in_channels, out_channels, 3, downsample=True))
            self.add_module(f"ecd{index}", encoder)
            in_channels = out_channels
        self.final_linear = nn.Sequential(
            EqualLinear(channels[4] * 4 * 4, config.style_dim, activate=True)
        )

    def encoders(self) -> list[nn.Module]:
        """ecd0 (full resolution) ... the last one (4x4), in order."""
        return [getattr(self, f"ecd{i}") for i in range(self.config.log_size - 1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, 3, S, S) float32 RGB [-1, 1] -> restored (N, 3, S, S), roughly [-1, 1]."""
        features: list[torch.Tensor] = []
        for encoder in self.encoders():
            x = encoder(x)
            features.insert(0, x)
        latent = self.final_linear(x.flatten(1))
        return self.generator(latent, features)


def load_gpen(
    state_dict: Mapping[str, torch.Tensor],
    config: GPENConfig | None = None,
    path: Path | None = None,
) -> GPEN:
    """A :class:`GPEN` holding ``state_dict`` (exact keys and shapes), in eval mode.

    ``path`` names the checkpoint in the one-line error raised when keys or shapes differ.
    """
    model = GPEN(config)
    load_strict(model, state_dict, path)
    return model.eval()
