"""Building blocks of RestoreFormer and RestoreFormer++ (wzhouxiff/RestoreFormerPlusPlus).

Feature maps are (N, C, H, W) tensors. Every block can run with a *pinned dtype*
(:mod:`facert.export.precision.policy`): when ``pinned_dtype`` is set, the numerically fragile parts (group
normalisation, attention scores, softmax and weighted sum) are computed in that dtype whatever the
dtype of the surrounding convolutions, and the result is cast back. With ``pinned_dtype=None`` the
blocks compute exactly as the official code does, in the input's dtype.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facert.export.precision.policy import cast


class PinnedGroupNorm(nn.GroupNorm):
    """GroupNorm with 32 groups, eps 1e-6, affine (the official ``Normalize``)."""

    def __init__(self, channels: int) -> None:
        super().__init__(num_groups=32, num_channels=channels, eps=1e-6, affine=True)
        self.pinned_dtype: torch.dtype | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = self.pinned_dtype
        if dtype is None:
            return super().forward(x)
        weight, bias = cast(self.weight, dtype), cast(self.bias, dtype)
        out = F.group_norm(cast(x, dtype), self.num_groups, weight, bias, self.eps)
        return cast(out, x.dtype)


def swish(x: torch.Tensor) -> torch.Tensor:
    """x * sigmoid(x), written out as the official ``nonlinearity``."""
    return x * torch.sigmoid(x)


class ResnetBlock(nn.Module):
    """norm1-swish-conv1-norm2-swish-conv2 plus a shortcut (1x1 ``nin_shortcut`` when C changes)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm1 = PinnedGroupNorm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = PinnedGroupNorm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.nin_shortcut = (
            nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        shortcut = x if self.nin_shortcut is None else self.nin_shortcut(x)
        return shortcut + h


class Downsample(nn.Module):
    """Zero padding right and bottom by one pixel, then a 3x3 convolution with stride 2."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Nearest-neighbour upsampling by 2, then a 3x3 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class MultiHeadAttention(nn.Module):
    """The official ``MultiHeadAttnBlock``: attention over all H*W positions, ``heads`` heads.

    ``forward(x, context)``: keys and values come from ``norm1(x)``; queries come from
    ``norm2(context)`` when a context is given (the decoder's cross-attention to encoder features of
    the same size), else from ``norm1(x)`` (self-attention). Heads split the channels in order
    (head ``i`` owns channels ``i*C/heads`` to ``(i+1)*C/heads - 1``); the scale is
    ``(C/heads) ** -0.5``, applied to the queries before the product. Returns ``x + proj_out(...)``.
    """

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"{channels} channels cannot be split into {heads} heads")
        self.heads = heads
        self.head_channels = channels // heads
        self.norm1 = PinnedGroupNorm(channels)
        self.norm2 = PinnedGroupNorm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)
        self.pinned_dtype: torch.dtype | None = None

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, heads, C/heads, H*W)."""
        return t.flatten(2).unflatten(1, (self.heads, self.head_channels))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm1(x)
        source = h if context is None else cast(self.norm2(context), h.dtype)
        q, k, v = self._split(self.q(source)), self._split(self.k(h)), self._split(self.v(h))
        if self.pinned_dtype is not None:
            dtype = self.pinned_dtype
            q, k, v = cast(q, dtype), cast(k, dtype), cast(v, dtype)
        q = q.transpose(2, 3) * float(self.head_channels) ** -0.5  # (N, heads, HW, C/heads)
        weights = torch.softmax(torch.matmul(q, k), dim=3)  # (N, heads, HW queries, HW keys)
        out = torch.matmul(weights, v.transpose(2, 3))  # (N, heads, HW, C/heads)
        out = cast(out.transpose(2, 3).flatten(1, 2).reshape(x.shape), x.dtype)
        return x + self.proj_out(out)
