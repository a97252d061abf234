"""CodeFormer (Zhou et al., NeurIPS 2022): the faithful port that loads the official checkpoint.

Re-implements ``CodeFormer`` of sczhou/CodeFormer ``basicsr/archs/codeformer_arch.py`` (release
v0.1.0 weights ``codeformer.pth``, key ``params_ema``, 515 tensors) with the same state-dict keys and
the same arithmetic as the official inference call ``net(x, w=w, adain=True)``:

1. the VQGAN encoder maps the face (N, 3, 512, 512) RGB [-1, 1] to ``lq_feat`` (N, 256, 16, 16) and
   keeps the features of a few resolutions for fusion;
2. a transformer predicts, for each of the 16x16 positions, logits over the 1024 codebook entries;
3. the most likely code vectors, re-normalised to the statistics of ``lq_feat`` (AdaIN), are decoded
   by the VQGAN generator, fusing encoder features (controllable feature transformation) with
   weight ``w`` in [0, 1] (0: codebook only, best quality; 1: most faithful to the input).

The official class hard-codes the VQGAN layout (512 px, nf 64, ch_mult 1,2,2,4,4,8); here the layout
is also a constructor argument so that small configurations can be tested, and the fusion points
follow from the layout (see :class:`~facert.export.families.codeformer.vqgan.Encoder` and ``Generator``). The export
form (fidelity as a tensor input, FP16 pinning) is ``facert.export.families.codeformer.export``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facert.export.families.codeformer.vqgan import Codebook, Encoder, Generator, ResBlock

OFFICIAL_CONNECT_LIST = ("32", "64", "128", "256")


def calc_mean_std(feat: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Per (sample, channel) mean and std over H*W of (N, C, H, W); the variance is unbiased."""
    flat = feat.flatten(2)
    std = (flat.var(dim=2) + eps).sqrt()
    return flat.mean(dim=2)[..., None, None], std[..., None, None]


def adaptive_instance_normalization(content: Tensor, style: Tensor) -> Tensor:
    """``content`` (N, C, H, W) re-normalised to the per-channel mean and std of ``style``."""
    style_mean, style_std = calc_mean_std(style)
    content_mean, content_std = calc_mean_std(content)
    return (content - content_mean) / content_std * style_std + style_mean


class TransformerSALayer(nn.Module):
    """Pre-norm self-attention layer; tokens are sequence-first (L, N, D) as in the official code."""

    def __init__(self, embed_dim: int, nhead: int, dim_mlp: int) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(embed_dim, nhead, dropout=0.0)
        self.linear1 = nn.Linear(embed_dim, dim_mlp)
        self.linear2 = nn.Linear(dim_mlp, embed_dim)
        self.norm1 = nn.LayerNorm(embed_dim)
        self.norm2 = nn.LayerNorm(embed_dim)

    def forward(self, tokens: Tensor, position: Tensor) -> Tensor:
        normed = self.norm1(tokens)
        query = normed + position
        tokens = tokens + self.self_attn(query, query, value=normed)[0]
        return tokens + self.linear2(F.gelu(self.linear1(self.norm2(tokens))))


class FuseSftBlock(nn.Module):
    """Controllable feature transformation: ``dec + w * (dec * scale(e) + shift(e))`` with
    ``e = encode_enc(concat(enc, dec))`` (keys ``encode_enc``, ``scale.0/2``, ``shift.0/2``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.encode_enc = ResBlock(2 * channels, channels)
        self.scale = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels, channels, 3, padding=1),
        )
        self.shift = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, enc_feat: Tensor, dec_feat: Tensor, w: float | Tensor = 1.0) -> Tensor:
        """``w`` is a number or a tensor broadcastable to ``dec_feat`` ((N, 1, 1, 1) per face)."""
        encoded = self.encode_enc(torch.cat([enc_feat, dec_feat], dim=1))
        return dec_feat + w * (dec_feat * self.scale(encoded) + self.shift(encoded))


class CodeFormer(nn.Module):
    """The CodeFormer network (keys as the official ``params_ema``).

    Official constructor arguments keep their names and defaults (``vqgan_path`` is left out: weights
    load through :mod:`facert.export.harness.checkpoint`). The VQGAN layout arguments after them default to
    the official values; ``latent_size`` must equal the number of latent positions.
    """

    def __init__(
        self,
        dim_embd: int = 512,
        n_head: int = 8,
        n_layers: int = 9,
        codebook_size: int = 1024,
        latent_size: int = 256,
        connect_list: Sequence[str] = OFFICIAL_CONNECT_LIST,
        fix_modules: Sequence[str] | None = ("quantize", "generator"),
        img_size: int = 512,
        nf: int = 64,
        ch_mult: Sequence[int] = (1, 2, 2, 4, 4, 8),
        res_blocks: int = 2,
        attn_resolutions: Sequence[int] = (16,),
        emb_dim: int = 256,
    ) -> None:
        super().__init__()
        layout = (nf, emb_dim, ch_mult, res_blocks, img_size, attn_resolutions)
        self.encoder = Encoder(*layout)
        self.quantize = Codebook(codebook_size, emb_dim)
        self.generator = Generator(*layout)
        for name in fix_modules or ():
            getattr(self, name).requires_grad_(False)
        self.latent_side = img_size // 2 ** (len(ch_mult) - 1)
        if latent_size != self.latent_side**2:
            raise ValueError(f"latent_size {latent_size} != {self.latent_side}**2 latent positions")
        self.connect_list = tuple(connect_list)
        self.position_emb = nn.Parameter(torch.zeros(latent_size, dim_embd))
        self.feat_emb = nn.Linear(emb_dim, dim_embd)
        self.ft_layers = nn.Sequential(
            *[TransformerSALayer(dim_embd, n_head, 2 * dim_embd) for _ in range(n_layers)]
        )
        self.idx_pred_layer = nn.Sequential(
            nn.LayerNorm(dim_embd), nn.Linear(dim_embd, codebook_size, bias=False)
        )
        sizes = [img_size // 2**level for level in range(len(ch_mult))]
        channels = {str(size): nf * m for size, m in zip(sizes, ch_mult, strict=True)}
        self.fuse_convs_dict = nn.ModuleDict(
            {size: FuseSftBlock(channels[size]) for size in self.connect_list}
        )
        # block index -> resolution name, for the blocks whose outputs are kept / fused after
        self.encoder_taps = {self.encoder.skip_blocks[int(s)]: s for s in self.connect_list}
        self.generator_taps = {self.generator.fuse_blocks[int(s)]: s for s in self.connect_list}

    def encode(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """(N, 3, S, S) -> ``lq_feat`` (N, emb_dim, s, s) and the kept features by resolution."""
        kept = {}
        for index, block in enumerate(self.encoder.blocks):
            x = block(x)
            if index in self.encoder_taps:
                kept[self.encoder_taps[index]] = x
        return x, kept

    def forward(
        self, x: Tensor, w: float = 0.0, adain: bool = False
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The official inference path.

        ``x`` (N, 3, S, S) float32 RGB [-1, 1]; ``w`` the fidelity weight (fusion runs only when
        ``w > 0``, as in the official code). Returns the image (N, 3, S, S) (about [-1, 1], not
        clamped), the logits (N, s*s, codebook_size) and ``lq_feat`` (N, emb_dim, s, s).
        """
        lq_feat, kept = self.encode(x)
        position = self.position_emb.unsqueeze(1).repeat(1, x.shape[0], 1)
        query = self.feat_emb(lq_feat.flatten(2).permute(2, 0, 1))  # (L, N, D)
        for layer in self.ft_layers:
            query = layer(query, position)
        logits = self.idx_pred_layer(query).permute(1, 0, 2)  # (N, L, codebook_size)
        _, top_index = torch.topk(F.softmax(logits, dim=2), 1, dim=2)
        one_hot = torch.zeros(top_index.numel(), logits.shape[2], dtype=x.dtype, device=x.device)
        one_hot.scatter_(1, top_index.reshape(-1, 1), 1)
        quant = one_hot @ self.quantize.embedding.weight  # (N*L, emb_dim)
        quant = quant.view(x.shape[0], self.latent_side, self.latent_side, -1)
        quant = quant.permute(0, 3, 1, 2).contiguous()
        if adain:
            quant = adaptive_instance_normalization(quant, lq_feat)
        out = quant
        for index, block in enumerate(self.generator.blocks):
            out = block(out)
            if index in self.generator_taps and w > 0:
                size = self.generator_taps[index]
                out = self.fuse_convs_dict[size](kept[size], out, w)
        return out, logits, lq_feat
