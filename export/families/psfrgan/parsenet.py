"""PSFR-GAN's ParseNet (chaofengc/PSFRGAN ``models/networks.py``): 19-class face parsing of the LQ face.

A faithful port of the official ``ParseNet`` as ``networks.define_P`` builds it (base_ch 64, 19
classes, 10 residual blocks, LeakyReLU(0.2), BatchNorm, ch_range [32, 256], min_feat_size 32): the
same keys and shapes, so ``parse_multi_iter_90000.pth`` (a plain state dict; the official loader is
strict) loads unchanged, and the same arithmetic. facexlib's ``parsing_parsenet.pth`` is the same
class with the same keys (``ParseNet(in_size=512, out_size=512, parsing_ch=19)``).

Layers: every conv is ``ConvLayer`` (ReflectionPad(1) + 3x3 conv without padding, stride 2 for
"down", nearest x2 before the conv for "up"); ``ResidualBlock`` = shortcut (identity, or a ConvLayer
with bias) + conv1 (BatchNorm, LeakyReLU) + conv2 (BatchNorm, no activation). Eval mode only (the
BatchNorms use their running statistics). Input (N, 3, S, S) RGB [-1, 1]; ``forward`` returns
(parsing logits (N, 19, S, S), image (N, 3, S, S)) as the official one does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from facert.export.harness.checkpoint import load_strict

SLOPE = 0.2  # LeakyReLU negative slope (blocks.ReluLayer 'leakyrelu')


@dataclass(frozen=True)
class ParseNetConfig:
    """ParseNet's sizes; the defaults are the official file's (define_P at 512)."""

    in_size: int = 512
    out_size: int = 512
    min_feat_size: int = 32
    base_ch: int = 64
    parsing_ch: int = 19
    res_depth: int = 10
    ch_range: tuple[int, int] = (32, 256)

    def clip(self, channels: int) -> int:
        return max(self.ch_range[0], min(channels, self.ch_range[1]))


class ConvLayer(nn.Module):
    """blocks.ConvLayer with norm 'bn' or 'none', relu 'leakyrelu' or 'none', scale down/up/none."""

    def __init__(
        self, cin: int, cout: int, scale: str = "none", norm: bool = False, relu: bool = False
    ) -> None:
        super().__init__()
        self.scale = scale
        self.relu = relu
        self.conv2d = nn.Conv2d(cin, cout, 3, 2 if scale == "down" else 1, bias=not norm)
        self.norm = BatchNormLayer(cout) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale == "up":
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        out = self.norm(self.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect")))
        return F.leaky_relu(out, SLOPE) if self.relu else out


class BatchNormLayer(nn.Module):
    """blocks.NormLayer('bn'): the BatchNorm sits at ``.norm`` (keys ``norm.norm.*``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x)


class ResidualBlock(nn.Module):
    """blocks.ResidualBlock(norm 'bn', relu 'leakyrelu'): identity (or conv) + conv1 + conv2."""

    def __init__(self, cin: int, cout: int, scale: str = "none") -> None:
        super().__init__()
        self.shortcut_func: nn.Module = (
            nn.Identity() if scale == "none" and cin == cout else ConvLayer(cin, cout, scale)
        )
        first, second = {"down": ("none", "down"), "up": ("up", "none")}.get(scale, ("none",) * 2)
        self.conv1 = ConvLayer(cin, cout, first, norm=True, relu=True)
        self.conv2 = ConvLayer(cout, cout, second, norm=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut_func(x) + self.conv2(self.conv1(x))


class ParseNet(nn.Module):
    """The official ParseNet (eval mode): ``forward(x) -> (parsing logits, image)``."""

    def __init__(self, config: ParseNetConfig | None = None) -> None:
        super().__init__()
        c = config or ParseNetConfig()
        self.config = c
        min_feat = min(c.in_size, c.min_feat_size)
        down_steps = int(math.log2(c.in_size // min_feat))
        up_steps = int(math.log2(c.out_size // min_feat))
        encoder: list[nn.Module] = [ConvLayer(3, c.base_ch)]
        head = c.base_ch
        for _ in range(down_steps):
            encoder.append(ResidualBlock(c.clip(head), c.clip(head * 2), "down"))
            head *= 2
        body = [ResidualBlock(c.clip(head), c.clip(head)) for _ in range(c.res_depth)]
        decoder: list[nn.Module] = []
        for _ in range(up_steps):
            decoder.append(ResidualBlock(c.clip(head), c.clip(head // 2), "up"))
            head //= 2
        self.encoder = nn.Sequential(*encoder)
        self.body = nn.Sequential(*body)
        self.decoder = nn.Sequential(*decoder)
        self.out_img_conv = ConvLayer(c.clip(head), 3)
        self.out_mask_conv = ConvLayer(c.clip(head), c.parsing_ch)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feat = self.encoder(x)
        x = self.decoder(feat + self.body(feat))
        return self.out_mask_conv(x), self.out_img_conv(x)


def load_parsenet(
    state: Mapping[str, torch.Tensor],
    config: ParseNetConfig | None = None,
    path: Path | None = None,
) -> ParseNet:
    """A ParseNet holding ``state`` (strict keys and shapes), eval mode."""
    model = ParseNet(config)
    load_strict(model, state, path)
    return model.eval()
