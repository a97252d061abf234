"""CodeFormer's generator from the first fusion on, with features stored divided by a per-sample scale.

Why: each fusion computes ``dec + w * (dec * scale(e) + shift(e))`` with ``e = encode_enc(cat(enc,
dec))``; ``e`` grows with ``dec`` (through the 1x1 shortcut of ``encode_enc``) and ``scale(e)`` with
``e``, so every fusion roughly squares the feature magnitude. With facert.export.harness.fill weights on a
real face the decoder features reach 6.2e3 after the 128 px fusion and 3.6e6 after the 256 px one
at w = 1: far past float16's 65504, although the final GroupNorm makes the output independent of
that size.

How: the features ``x`` travel as :class:`Scaled` ``(values, scale)`` with ``x = scale * values``,
``scale`` (N, 1, 1, 1) >= 1 in the pinned dtype, ``values`` in the activation dtype with
``|values| <= FEATURE_LIMIT`` right after each fusion. Every generator block is computed on
``values`` exactly as on ``x``, because

- a GroupNorm of ``scale * v`` with ``eps`` is the GroupNorm of ``v`` with ``eps / scale**2``;
- a convolution is linear: ``conv(scale * v) / scale`` is the convolution without bias, plus
  ``bias / scale``; leaky ReLU is positively homogeneous;
- every residual branch starts with a GroupNorm, so its output is not scaled: it is added to
  ``values`` times ``1 / scale``.

The fusion's own products (``dec * (1 + w * scale(e))``) are computed in the pinned dtype, where
they fit, and the result is divided by ``max(1, peak / FEATURE_LIMIT)`` per sample before it goes
back to the activation dtype; ``e`` gets the same bound before ``scale`` and ``shift`` see it. So
float16 convolutions only ever see inputs of at most FEATURE_LIMIT, whatever ``w``: 64, about 4x
the peak of the decoder features and of ``e`` at w = 0 with fill weights (10-20), so w = 0 runs
unscaled, while float16 still has 20 binary orders of normal range below it. The final GroupNorm
returns ordinary, unscaled features. Cost: per fusion, two per-sample max reductions and a few
elementwise float32 operations on the fused tensor; every convolution stays float16.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facert.export.families.codeformer.group_norm import group_norm
from facert.export.families.codeformer.net import FuseSftBlock
from facert.export.families.codeformer.vqgan import (
    AttnBlock,
    GroupNorm32,
    ResBlock,
    Upsample,
    swish,
)
from facert.export.precision.policy import cast

FEATURE_LIMIT = 64.0  # bound of |values| after a fusion and of e / scale (see module doc)


class Scaled(NamedTuple):
    """Features ``scale * values``: ``values`` (N, C, H, W) activation dtype, ``scale``
    (N, 1, 1, 1) pinned dtype, >= 1."""

    values: Tensor
    scale: Tensor


def inverse(scale: Tensor, dtype: torch.dtype) -> Tensor:
    """1 / scale in ``dtype`` (N, 1, 1, 1) (0 where it underflows: terms too small to matter)."""
    return cast(1.0 / scale, dtype)


def scaled_group_norm(norm: nn.GroupNorm, values: Tensor, eps: Tensor) -> Tensor:
    """``norm`` on ``values`` (N, C, H, W) with a per-sample, per-group epsilon ``eps`` (N, 1 or
    groups, 1, 1, 1), computed in the dtype of ``norm``'s parameters (pinned); returned in the
    dtype of ``values``."""
    dtype = norm.weight.dtype
    normed = group_norm(
        cast(values, dtype), norm.num_groups, norm.weight, norm.bias, cast(eps, dtype)
    )
    return cast(normed, values.dtype)


def scaled_eps(norm: nn.GroupNorm, scale: Tensor) -> Tensor:
    """``norm.eps / scale**2`` as (N, 1, 1, 1, 1)."""
    return (norm.eps / scale.square())[:, :, None]


def conv(layer: nn.Conv2d, values: Tensor, scale: Tensor) -> Tensor:
    """``layer(scale * values) / scale``: ``values`` (N, C, H, W), ``scale`` (N, 1, 1, 1)."""
    out = F.conv2d(values, layer.weight, None, layer.stride, layer.padding)
    if layer.bias is None:
        return out
    return out + cast(cast(layer.bias, scale.dtype)[:, None, None] / scale, out.dtype)


def res_block(block: ResBlock, x: Scaled) -> Scaled:
    h = block.conv1(
        swish(scaled_group_norm(block.norm1, x.values, scaled_eps(block.norm1, x.scale)))
    )
    h = block.conv2(swish(block.norm2(h)))
    shortcut = x.values if block.conv_out is None else conv(block.conv_out, x.values, x.scale)
    return Scaled(shortcut + h * inverse(x.scale, h.dtype), x.scale)


def generator_block(block: nn.Module, x: Scaled) -> Scaled | Tensor:
    """One block of the VQGAN generator on scaled features; the final GroupNorm returns plain ones."""
    if isinstance(block, ResBlock):
        return res_block(block, x)
    if isinstance(block, AttnBlock):
        h = scaled_group_norm(block.norm, x.values, scaled_eps(block.norm, x.scale))
        return Scaled(x.values + block.attend(h) * inverse(x.scale, h.dtype), x.scale)
    if isinstance(block, Upsample):
        upsampled = F.interpolate(x.values, scale_factor=2.0, mode="nearest")
        return Scaled(conv(block.conv, upsampled, x.scale), x.scale)
    if isinstance(block, GroupNorm32):
        return scaled_group_norm(block, x.values, scaled_eps(block, x.scale))
    if isinstance(block, nn.Conv2d):
        return Scaled(conv(block, x.values, x.scale), x.scale)
    raise TypeError(f"no scaled form for {type(block).__name__}")


def encode(block: ResBlock, encoder_features: Tensor, dec: Scaled) -> Tensor:
    """``encode_enc(cat(enc, dec)) / dec.scale``. The concatenation's GroupNorm groups never mix
    the two halves (an even number of groups), so the decoder half's groups get the scaled epsilon."""
    norm = block.norm1
    if block.conv_out is None or norm.num_channels % norm.num_groups or norm.num_groups % 2:
        raise ValueError("encode_enc must map 2C -> C channels with groups that split the halves")
    eps = scaled_eps(norm, dec.scale).expand(-1, norm.num_groups // 2, -1, -1, -1)
    eps = torch.cat([torch.full_like(eps, norm.eps), eps], dim=1)
    h = block.conv1(
        swish(scaled_group_norm(norm, torch.cat([encoder_features, dec.values], 1), eps))
    )
    h = block.conv2(swish(block.norm2(h)))
    inverse_scale = inverse(dec.scale, h.dtype)
    both = torch.cat([encoder_features * inverse_scale, dec.values], 1)
    return conv(block.conv_out, both, dec.scale) + h * inverse_scale


def branch(layers: nn.Sequential, values: Tensor, scale: Tensor) -> Tensor:
    """``layers(scale * values) / scale`` for conv, leaky ReLU, conv (``scale`` and ``shift``)."""
    first, activation, second = layers
    hidden = F.leaky_relu(conv(first, values, scale), activation.negative_slope)
    return conv(second, hidden, scale)


def fuse(block: FuseSftBlock, encoder_features: Tensor, dec: Scaled, weight: Tensor) -> Scaled:
    """The fusion ``dec + w * (dec * scale(e) + shift(e))`` on scaled features, renormalised.

    ``encoder_features`` (N, C, H, W) activation dtype (unscaled); ``weight`` (N, 1, 1, 1) pinned.
    """
    pinned, s = dec.scale.dtype, dec.scale
    encoded = bounded(encode(block.encode_enc, encoder_features, dec))  # e / (s * r)
    ratio = cast(encoded.scale, pinned)  # r
    scale = cast(branch(block.scale, encoded.values, s * ratio), pinned)  # scale(e) / (s * r)
    shift = cast(branch(block.shift, encoded.values, s * ratio), pinned)  # shift(e) / (s * r)
    values = cast(dec.values, pinned)
    fused = values * (1.0 + weight * s * ratio * scale) + weight * ratio * shift  # result / s
    renormalised = bounded(fused)
    return Scaled(cast(renormalised.values, dec.values.dtype), s * renormalised.scale)


def bounded(values: Tensor) -> Scaled:
    """``values`` (N, C, H, W) divided by ``max(1, peak / FEATURE_LIMIT)`` per sample (computed in
    the dtype of ``values``), and that factor (N, 1, 1, 1)."""
    peak = values.abs().amax(dim=(1, 2, 3), keepdim=True)
    factor = (peak / FEATURE_LIMIT).clamp_min(1.0)
    return Scaled(values / factor, factor)
