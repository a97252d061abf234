"""RestoreFormer (CVPR 2022) and RestoreFormer++ (TPAMI 2023): one configurable network family.

Re-implements ``VQVAEGANMultiHeadTransformer`` of wzhouxiff/RestoreFormerPlusPlus
(``RestoreFormer/modules/vqvae/vqvae_arch.py``) and GFPGAN's ``RestoreFormer`` (the same network with
``head_size=8, ex_multi_scale_num=0``), with the same module names, so official state dicts load
unchanged. Input: (N, 3, 512, 512) float32 RGB in [-1, 1]; output: the restored face, same layout
and range (the official inference clamps it to [-1, 1] afterwards; the network does not).

The encoder keeps the features the decoder's cross-attention reads: ``block_{i}`` (level ``i``
before its downsampling), ``block_{L-1}_atten`` (after the middle's first block) and ``mid_atten``
(after the middle). ``ex_multi_scale_num=1`` (RestoreFormer++) adds decoder attention at 32x32 that
reads ``block_{L-2}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from facert.export.families.restoreformer.blocks import (
    Downsample,
    MultiHeadAttention,
    PinnedGroupNorm,
    ResnetBlock,
    Upsample,
    swish,
)
from facert.export.families.restoreformer.quantizer import VectorQuantizer
from facert.export.precision.policy import cast


@dataclass(frozen=True)
class RestoreFormerConfig:
    """Constructor arguments of the official class (dropout 0 and ``double_z=False`` are implied)."""

    n_embed: int = 1024
    embed_dim: int = 256
    ch: int = 64
    out_ch: int = 3
    ch_mult: tuple[int, ...] = (1, 2, 2, 4, 4, 8)
    num_res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (16,)
    in_channels: int = 3
    resolution: int = 512
    z_channels: int = 256
    enable_mid: bool = True
    head_size: int = 4
    ex_multi_scale_num: int = 1

    def decoder_attn_resolutions(self) -> tuple[int, ...]:
        """As the official constructor: each extra scale replaces the list by [first, last * 2]."""
        resolutions = self.attn_resolutions
        for _ in range(self.ex_multi_scale_num):
            resolutions = (resolutions[0], resolutions[-1] * 2)
        return resolutions


RESTOREFORMER = RestoreFormerConfig(head_size=8, ex_multi_scale_num=0)
RESTOREFORMER_PP = RestoreFormerConfig(head_size=4, ex_multi_scale_num=1)
VARIANTS = {"restoreformer": RESTOREFORMER, "restoreformer-pp": RESTOREFORMER_PP}


def _level(blocks: list[nn.Module], attn: list[nn.Module], resample: nn.Module | None) -> nn.Module:
    level = nn.Module()
    level.block = nn.ModuleList(blocks)
    level.attn = nn.ModuleList(attn)
    if resample is not None:
        level.add_module("downsample" if isinstance(resample, Downsample) else "upsample", resample)
    return level


def _middle(channels: int, heads: int) -> nn.Module:
    mid = nn.Module()
    mid.block_1 = ResnetBlock(channels, channels)
    mid.attn_1 = MultiHeadAttention(channels, heads)
    mid.block_2 = ResnetBlock(channels, channels)
    return mid


class Encoder(nn.Module):
    """The official ``MultiHeadEncoder``; ``forward`` returns the feature dict (``out`` included)."""

    def __init__(self, config: RestoreFormerConfig) -> None:
        super().__init__()
        c = config
        self.conv_in = nn.Conv2d(c.in_channels, c.ch, 3, padding=1)
        self.down = nn.ModuleList()
        channels, resolution, last = c.ch, c.resolution, len(c.ch_mult) - 1
        for i, mult in enumerate(c.ch_mult):
            blocks, attn = [], []
            for _ in range(c.num_res_blocks):
                blocks.append(ResnetBlock(channels, c.ch * mult))
                channels = c.ch * mult
                if resolution in c.attn_resolutions:
                    attn.append(MultiHeadAttention(channels, c.head_size))
            self.down.append(_level(blocks, attn, Downsample(channels) if i != last else None))
            resolution = resolution // 2 if i != last else resolution
        self.mid = _middle(channels, c.head_size) if c.enable_mid else None
        self.norm_out = PinnedGroupNorm(channels)
        self.conv_out = nn.Conv2d(channels, c.z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features: dict[str, torch.Tensor] = {}
        h = self.conv_in(x)
        for i, level in enumerate(self.down):
            for j, block in enumerate(level.block):
                h = block(h)
                if len(level.attn):
                    h = level.attn[j](h)
            if hasattr(level, "downsample"):
                features[f"block_{i}"] = h
                h = level.downsample(h)
        if self.mid is not None:
            h = self.mid.block_1(h)
            features[f"block_{len(self.down) - 1}_atten"] = h
            h = self.mid.block_2(self.mid.attn_1(h))
            features["mid_atten"] = h
        features["out"] = self.conv_out(swish(self.norm_out(h)))
        return features


class Decoder(nn.Module):
    """The official ``MultiHeadDecoderTransformer``: cross-attends to the encoder's features."""

    def __init__(self, config: RestoreFormerConfig) -> None:
        super().__init__()
        c = config
        last = len(c.ch_mult) - 1
        channels, resolution = c.ch * c.ch_mult[last], c.resolution // 2**last
        attn_resolutions = c.decoder_attn_resolutions()
        self.conv_in = nn.Conv2d(c.z_channels, channels, 3, padding=1)
        self.mid = _middle(channels, c.head_size) if c.enable_mid else None
        levels: list[nn.Module] = []
        self.contexts: list[str] = []  # per level, lowest first: the encoder feature it reads
        for i in reversed(range(len(c.ch_mult))):
            blocks, attn = [], []
            for _ in range(c.num_res_blocks + 1):
                blocks.append(ResnetBlock(channels, c.ch * c.ch_mult[i]))
                channels = c.ch * c.ch_mult[i]
                if resolution in attn_resolutions:
                    attn.append(MultiHeadAttention(channels, c.head_size))
            levels.insert(0, _level(blocks, attn, Upsample(channels) if i != 0 else None))
            self.contexts.insert(
                0, f"block_{i}_atten" if i == last and c.enable_mid else f"block_{i}"
            )
            resolution = resolution * 2 if i != 0 else resolution
        self.up = nn.ModuleList(levels)
        self.norm_out = PinnedGroupNorm(channels)
        self.conv_out = nn.Conv2d(channels, c.out_ch, 3, padding=1)

    def forward(self, z: torch.Tensor, features: dict[str, torch.Tensor]) -> torch.Tensor:
        h = self.conv_in(z)
        if self.mid is not None:
            h = self.mid.block_1(h)
            h = self.mid.block_2(self.mid.attn_1(h, features["mid_atten"]))
        for i in reversed(range(len(self.up))):
            level = self.up[i]
            for j, block in enumerate(level.block):
                h = block(h)
                if len(level.attn):
                    h = level.attn[j](h, features[self.contexts[i]])
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(swish(self.norm_out(h)))


class RestoreFormer(nn.Module):
    """Encoder, ``quant_conv``, codebook, ``post_quant_conv``, decoder.

    ``forward``: (N, 3, S, S) float RGB in [-1, 1] -> (N, out_ch, S, S), unclamped, [-1, 1] scale,
    in the decoder's dtype. The encoder and ``quant_conv`` run in the dtype of their parameters, the
    decoder in that of ``post_quant_conv`` (they differ in an FP16 build, see
    :func:`facert.export.families.restoreformer.export.build_restoreformer_export`).
    ``export_form=False`` is the faithful port (one-hot codebook product, straight-through sum);
    ``export_form=True`` looks codes up with argmin + gather (see :class:`VectorQuantizer`).
    """

    def __init__(self, config: RestoreFormerConfig, export_form: bool = False) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.quantize = VectorQuantizer(config.n_embed, config.embed_dim, export_form)
        self.quant_conv = nn.Conv2d(config.z_channels, config.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(config.embed_dim, config.z_channels, 1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Pre-quantisation latent (N, embed_dim, S/32, S/32) and the encoder's feature dict."""
        features = self.encoder(cast(x, self.encoder.conv_in.weight.dtype))
        return self.quant_conv(features["out"]), features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        latent, features = self.encode(x)
        codes = cast(self.quantize(latent), self.post_quant_conv.weight.dtype)
        return self.decoder(self.post_quant_conv(codes), features)
