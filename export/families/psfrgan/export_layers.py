"""PSFR-GAN's deployable layers: static convs (BatchNorm and spectral norm folded), FP16-safe norms.

Built from the tensors of the faithful ports (:mod:`.parsenet`, :mod:`.generator`); the ports are
not modified. Spectral norm is folded from the stored u and v (``weight_orig / (u . W v)``, the
eval-mode weight, computed once in float32 as the official code computes it per call), BatchNorm
into the conv before it (running statistics).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facert.export.families.psfrgan.generator import SLOPE, SPADENorm, SpectralConv2d
from facert.export.families.psfrgan.parsenet import ConvLayer, ParseNet
from facert.export.precision.policy import cast


def static_conv(
    weight: torch.Tensor, bias: torch.Tensor | None, stride: int, padding: int
) -> nn.Conv2d:
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2], stride, padding)
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(bias if bias is not None else torch.zeros(weight.shape[0]))
    return conv


def folded_spectral(conv: SpectralConv2d) -> nn.Conv2d:
    with torch.no_grad():
        return static_conv(conv.weight(), conv.bias, 1, conv.padding)


class StaticConvLayer(nn.Module):
    """A ParseNet ConvLayer with its BatchNorm folded: [nearest x2] + reflect pad 1 + conv [+ lrelu]."""

    def __init__(self, layer: ConvLayer) -> None:
        super().__init__()
        self.up, self.relu = layer.scale == "up", layer.relu
        weight, bias = layer.conv2d.weight.detach(), layer.conv2d.bias
        norm = getattr(layer.norm, "norm", None)
        if isinstance(norm, nn.BatchNorm2d):
            scale = norm.weight.detach() / torch.sqrt(norm.running_var + norm.eps)
            weight = weight * scale.view(-1, 1, 1, 1)
            bias = norm.bias.detach() - norm.running_mean * scale
        self.conv = static_conv(
            weight, None if bias is None else bias.detach(), layer.conv2d.stride[0], 0
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        out = self.conv(F.pad(x, (1, 1, 1, 1), mode="reflect"))
        return F.leaky_relu(out, SLOPE) if self.relu else out


class StaticBlock(nn.Module):
    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        shortcut = block.shortcut_func
        self.shortcut = StaticConvLayer(shortcut) if isinstance(shortcut, ConvLayer) else None
        self.conv1, self.conv2 = StaticConvLayer(block.conv1), StaticConvLayer(block.conv2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        return identity + self.conv2(self.conv1(x))


class ParseNetExport(nn.Module):
    """ParseNet's parsing logits (the official ``out_mask``; its image head is dropped), computed
    in ``pinned_dtype`` when set (the FP16 build keeps the whole ParseNet in FP32: a float16 logit
    gap of a few ulps would flip the one-hot's class)."""

    def __init__(self, model: ParseNet) -> None:
        super().__init__()
        self.pinned_dtype: torch.dtype | None = None
        self.encoder = nn.Sequential(
            StaticConvLayer(model.encoder[0]), *map(StaticBlock, model.encoder[1:])
        )
        self.body = nn.Sequential(*map(StaticBlock, model.body))
        self.decoder = nn.Sequential(*map(StaticBlock, model.decoder))
        self.out_mask = StaticConvLayer(model.out_mask_conv)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image if self.pinned_dtype is None else cast(image, self.pinned_dtype)
        feat = self.encoder(x)
        return self.out_mask(self.decoder(feat + self.body(feat)))


def instance_norm(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """InstanceNorm2d(affine=False) written out, means one axis at a time: ONNX Runtime's
    InstanceNormalization sums a 512x512 map in one float32 run (see codeformer/group_norm.py)."""
    mean = x.mean(dim=3, keepdim=True).mean(dim=2, keepdim=True)
    centred = x - mean
    var = (centred * centred).mean(dim=3, keepdim=True).mean(dim=2, keepdim=True)
    return centred * torch.rsqrt(var + eps)


class StaticSPADENorm(nn.Module):
    """SPADENorm with folded convs; the instance norm in ``pinned_dtype`` (its variance sums
    squares of activations up to a few hundred: float16 would overflow them)."""

    def __init__(self, norm: SPADENorm) -> None:
        super().__init__()
        self.pinned_dtype: torch.dtype | None = None
        self.conv1 = folded_spectral(norm.conv1[0])
        self.gamma = folded_spectral(norm.gamma_conv)
        self.beta = folded_spectral(norm.beta_conv)

    def forward(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """``ref``: already at x's size (resized once per level by the caller)."""
        pinned = self.pinned_dtype or x.dtype
        normalized = cast(instance_norm(cast(x, pinned)), x.dtype)
        act = F.leaky_relu(self.conv1(ref), SLOPE)
        return normalized * self.gamma(act) + self.beta(act)


class StaticSPADEResBlock(nn.Module):
    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.conv_0, self.conv_1 = folded_spectral(block.conv_0), folded_spectral(block.conv_1)
        self.norm_0, self.norm_1 = StaticSPADENorm(block.norm_0), StaticSPADENorm(block.norm_1)

    def forward(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        res = self.conv_0(F.leaky_relu(self.norm_0(x, ref), SLOPE))
        return x + self.conv_1(F.leaky_relu(self.norm_1(res, ref), SLOPE))
