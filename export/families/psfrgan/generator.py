"""PSFR-GAN's PSFRGenerator (chaofengc/PSFRGAN ``models/psfrnet.py``): SPADE blocks from a constant.

A faithful port of the official ``PSFRGenerator(3, 3, in_size=512, out_size=512, min_feat_size=16,
relu_type='LeakyReLU', parse_ch=19, norm_type='spade', ch_range=[32, 1024])`` with torch's
``spectral_norm`` on every ``nn.Conv2d`` (``networks.define_G(use_norm='spectral_norm')``): every conv
stores ``weight_orig``, ``weight_u``, ``weight_v`` and ``bias``. Eval mode only: the weight is
``weight_orig / sigma`` with ``sigma = u . (W v)``, ``W`` = ``weight_orig`` flattened to
(out, in*k*k), from the stored ``u`` and ``v`` with no power iteration (what torch's spectral_norm
computes in eval mode). The same keys, order included, and the same arithmetic as the official code.

Graph: a learned constant (1, C, 16, 16) -> conv -> SPADEResBlock, then per level nearest x2 ->
conv -> SPADEResBlock up to the output size, then a 3x3 conv to RGB. Every SPADE norm reads ``ref``
= concat(LQ image (3), parsing one-hot (19)), bicubically resized (align_corners False) to the
feature size when it differs: ``InstanceNorm(x) * gamma(ref) + beta(ref)`` (no "1 + gamma").
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

SLOPE = 0.2  # LeakyReLU negative slope everywhere in the generator
SPADE_HIDDEN = 64  # SPADENorm's mid_c


@dataclass(frozen=True)
class GeneratorConfig:
    """PSFRGenerator's sizes; the defaults are the official file's (define_G at 512)."""

    out_size: int = 512
    min_feat_size: int = 16
    parse_ch: int = 19
    ch_range: tuple[int, int] = (32, 1024)

    def clip(self, channels: int) -> int:
        return max(self.ch_range[0], min(channels, self.ch_range[1]))

    @property
    def head_channels(self) -> int:  # get_ch(min_feat_size) = ch_clip(1024 * 16 // size)
        return self.clip(1024 * 16 // self.min_feat_size)


class SpectralConv2d(nn.Module):
    """``nn.Conv2d`` under torch's spectral_norm (eval): keys bias, weight_orig, weight_u, weight_v."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, padding: int = 1) -> None:
        super().__init__()
        self.padding = padding
        self.bias = nn.Parameter(torch.zeros(cout))
        self.weight_orig = nn.Parameter(torch.zeros(cout, cin, kernel, kernel))
        self.register_buffer("weight_u", torch.zeros(cout))
        self.register_buffer("weight_v", torch.zeros(cin * kernel * kernel))

    def weight(self) -> torch.Tensor:
        """``weight_orig / sigma``, sigma = u . (W v), as torch's SpectralNorm.compute_weight."""
        matrix = self.weight_orig.flatten(1)
        sigma = torch.dot(self.weight_u, torch.mv(matrix, self.weight_v))
        return self.weight_orig / sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight(), self.bias, padding=self.padding)


class SPADENorm(nn.Module):
    """InstanceNorm2d(affine=False)(x) * gamma + beta, gamma and beta convs of the resized ref."""

    def __init__(self, channels: int, ref_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(SpectralConv2d(ref_channels, SPADE_HIDDEN))
        self.gamma_conv = SpectralConv2d(SPADE_HIDDEN, channels)
        self.beta_conv = SpectralConv2d(SPADE_HIDDEN, channels)

    def forward(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        normalized = F.instance_norm(x, eps=1e-5)
        if x.shape[-1] != ref.shape[-1]:
            ref = F.interpolate(ref, x.shape[2:], mode="bicubic", align_corners=False)
        act = F.leaky_relu(self.conv1(ref), SLOPE)
        return normalized * self.gamma_conv(act) + self.beta_conv(act)


class SPADEResBlock(nn.Module):
    """x + conv_1(lrelu(norm_1(conv_0(lrelu(norm_0(x, ref))), ref)))."""

    def __init__(self, channels: int, ref_channels: int) -> None:
        super().__init__()
        self.conv_0 = SpectralConv2d(channels, channels)
        self.conv_1 = SpectralConv2d(channels, channels)
        self.norm_0 = SPADENorm(channels, ref_channels)
        self.norm_1 = SPADENorm(channels, ref_channels)

    def forward(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        res = self.conv_0(F.leaky_relu(self.norm_0(x, ref), SLOPE))
        res = self.conv_1(F.leaky_relu(self.norm_1(res, ref), SLOPE))
        return x + res


class UpLevel(nn.Module):
    """One body level: nearest x2 (``0``, no keys), conv (``1``), SPADEResBlock (``2``)."""

    def __init__(self, cin: int, cout: int, ref_channels: int) -> None:
        super().__init__()
        self.add_module("1", SpectralConv2d(cin, cout))
        self.add_module("2", SPADEResBlock(cout, ref_channels))

    def forward(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        conv, block = getattr(self, "1"), getattr(self, "2")
        return block(conv(F.interpolate(x, scale_factor=2.0, mode="nearest")), ref)


class PSFRGenerator(nn.Module):
    """The official PSFRGenerator with spectral norm (eval): ``forward(image, parsing) -> image``."""

    def __init__(self, config: GeneratorConfig | None = None) -> None:
        super().__init__()
        c = config or GeneratorConfig()
        self.config = c
        ref = 3 + c.parse_ch
        head = c.head_channels
        self.const_input = nn.Parameter(torch.zeros(1, head, c.min_feat_size, c.min_feat_size))
        levels: list[nn.Module] = []
        for _ in range(int(math.log2(c.out_size // c.min_feat_size))):
            levels.append(UpLevel(c.clip(head), c.clip(head // 2), ref))
            head //= 2
        self.img_out = SpectralConv2d(c.clip(head), 3)
        self.head = nn.ModuleDict({"0": SpectralConv2d(c.head_channels, c.head_channels)})
        self.head.add_module("1", SPADEResBlock(c.head_channels, ref))
        self.body = nn.Sequential(*levels)

    def forward(self, image: torch.Tensor, parsing: torch.Tensor) -> torch.Tensor:
        """image (N, 3, S, S) RGB [-1, 1], parsing (N, 19, S, S) one-hot -> (N, 3, S, S)."""
        ref = torch.cat((image, parsing), dim=1)
        feat = self.const_input.repeat(image.shape[0], 1, 1, 1)
        feat = self.head["1"](self.head["0"](feat), ref)
        for level in self.body:
            feat = level(feat, ref)
        return self.img_out(feat)


def load_generator(
    state: Mapping[str, torch.Tensor],
    config: GeneratorConfig | None = None,
    path: Path | None = None,
) -> PSFRGenerator:
    """A PSFRGenerator holding ``state`` (strict keys and shapes), eval mode."""
    model = PSFRGenerator(config)
    load_strict(model, state, path)
    return model.eval()


def one_hot_of_max(logits: torch.Tensor) -> torch.Tensor:
    """The official one-hot: 1 where a class's logit equals the per-pixel max (every tied class)."""
    return (logits == logits.amax(dim=1, keepdim=True)).to(logits.dtype)
