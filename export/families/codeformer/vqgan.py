"""VQGAN building blocks of CodeFormer: encoder and generator stacks, the codebook.

A re-implementation of the blocks in sczhou/CodeFormer ``basicsr/archs/vqgan_arch.py`` with the same
state-dict keys (``blocks.<index>.*``). All feature maps are (N, C, H, W) in the module's dtype.

Precision (:mod:`facert.export.precision.policy`): :class:`GroupNorm32` normalises, and :class:`AttnBlock`
computes its attention scores and softmax, in ``pinned_dtype`` when that is set (None: in the
input's dtype, as the official code).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facert.export.families.codeformer.group_norm import group_norm
from facert.export.precision.policy import cast


class GroupNorm32(nn.GroupNorm):
    """GroupNorm with 32 groups, eps 1e-6, affine (the official ``normalize``).

    With ``pinned_dtype`` None (the faithful port) it is ``nn.GroupNorm``; with a pinned dtype it
    computes the written-out :func:`~facert.export.families.codeformer.group_norm.group_norm` in that dtype and
    returns the input's dtype.
    """

    def __init__(self, channels: int) -> None:
        super().__init__(num_groups=32, num_channels=channels, eps=1e-6, affine=True)
        self.pinned_dtype: torch.dtype | None = None

    def forward(self, x: Tensor) -> Tensor:
        dtype = self.pinned_dtype
        if dtype is None:
            return super().forward(x)
        weight, bias = cast(self.weight, dtype), cast(self.bias, dtype)
        return cast(group_norm(cast(x, dtype), self.num_groups, weight, bias, self.eps), x.dtype)


def swish(x: Tensor) -> Tensor:
    """x * sigmoid(x) (the official jit-scripted ``swish``)."""
    return x * torch.sigmoid(x)


class ResBlock(nn.Module):
    """norm1 -> swish -> conv1 3x3 -> norm2 -> swish -> conv2 3x3, plus the input (1x1 ``conv_out``
    when the channel count changes)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm1 = GroupNorm32(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = GroupNorm32(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.conv_out = (
            nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None
        )

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        return h + (x if self.conv_out is None else self.conv_out(x))


class AttnBlock(nn.Module):
    """Single-head spatial self-attention over all H*W positions, added to the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.pinned_dtype: torch.dtype | None = None  # of scores and softmax; None: the input's
        self.norm = GroupNorm32(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.attend(self.norm(x))

    def attend(self, h: Tensor) -> Tensor:
        """The residual branch after the norm: ``h`` (N, C, H, W) normalised -> proj_out(...)."""
        dtype = self.pinned_dtype or h.dtype
        query = cast(self.q(h).flatten(2).transpose(1, 2), dtype)  # (N, HW, C)
        key = cast(self.k(h).flatten(2), dtype)  # (N, C, HW)
        scores = torch.bmm(query, key) * (self.channels**-0.5)  # (N, HW query, HW key)
        weights = cast(F.softmax(scores, dim=2), h.dtype)
        value = self.v(h).flatten(2)  # (N, C, HW)
        attended = torch.bmm(value, weights.transpose(1, 2)).reshape_as(h)
        return self.proj_out(attended)


class Downsample(nn.Module):
    """Zero pad right and bottom by one, then a 3x3 convolution with stride 2 (halves H and W)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Nearest-neighbour x2, then a 3x3 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Encoder(nn.Module):
    """Image (N, 3, S, S) -> latent (N, emb_dim, S / 2**(L-1), same), L = len(ch_mult).

    ``skip_blocks`` maps a resolution to the index of the block whose output CodeFormer keeps for
    fusion: the last ResBlock of that resolution (``{512: 2, 256: 5, ..., 16: 18}`` for the
    official layout).
    """

    def __init__(
        self,
        nf: int,
        emb_dim: int,
        ch_mult: Sequence[int],
        res_blocks: int,
        resolution: int,
        attn_resolutions: Sequence[int],
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(3, nf, 3, padding=1)]
        self.skip_blocks: dict[int, int] = {}
        channels, size = nf, resolution
        for level, multiplier in enumerate(ch_mult):
            for _ in range(res_blocks):
                blocks.append(ResBlock(channels, nf * multiplier))
                channels = nf * multiplier
                self.skip_blocks[size] = len(blocks) - 1
                if size in attn_resolutions:
                    blocks.append(AttnBlock(channels))
            if level != len(ch_mult) - 1:
                blocks.append(Downsample(channels))
                size //= 2
        blocks += [ResBlock(channels, channels), AttnBlock(channels), ResBlock(channels, channels)]
        blocks += [GroupNorm32(channels), nn.Conv2d(channels, emb_dim, 3, padding=1)]
        self.blocks = nn.ModuleList(blocks)


class Generator(nn.Module):
    """Latent (N, emb_dim, s, s) -> image (N, 3, s * 2**(L-1), same).

    ``fuse_blocks`` maps a resolution to the block after which CodeFormer fuses encoder features:
    the first ResBlock of a resolution, or its last ResBlock where the resolution has attention
    (``{16: 6, 32: 9, 64: 12, 128: 15, 256: 18, 512: 21}`` for the official layout).
    """

    def __init__(
        self,
        nf: int,
        emb_dim: int,
        ch_mult: Sequence[int],
        res_blocks: int,
        resolution: int,
        attn_resolutions: Sequence[int],
    ) -> None:
        super().__init__()
        channels = nf * ch_mult[-1]
        size = resolution // 2 ** (len(ch_mult) - 1)
        blocks: list[nn.Module] = [nn.Conv2d(emb_dim, channels, 3, padding=1)]
        blocks += [ResBlock(channels, channels), AttnBlock(channels), ResBlock(channels, channels)]
        self.fuse_blocks: dict[int, int] = {}
        for level in reversed(range(len(ch_mult))):
            for repeat in range(res_blocks):
                blocks.append(ResBlock(channels, nf * ch_mult[level]))
                channels = nf * ch_mult[level]
                if repeat == 0 or size in attn_resolutions:
                    self.fuse_blocks[size] = len(blocks) - 1
                if size in attn_resolutions:
                    blocks.append(AttnBlock(channels))
            if level != 0:
                blocks.append(Upsample(channels))
                size *= 2
        blocks += [GroupNorm32(channels), nn.Conv2d(channels, 3, 3, padding=1)]
        self.blocks = nn.ModuleList(blocks)


class Codebook(nn.Module):
    """The learned code vectors, ``embedding.weight`` (codebook_size, emb_dim) (``quantize.*``)."""

    def __init__(self, codebook_size: int, emb_dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(codebook_size, emb_dim)
