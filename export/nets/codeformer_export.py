"""CodeFormer in export form: fidelity as a graph input, no data-dependent branches, FP16 pinning.

:class:`CodeFormerExport` has the parameters and keys of the faithful
:class:`~facert.export.nets.codeformer.CodeFormer` and differs only in how it computes:

- ``forward(image, fidelity)``: ``fidelity`` is a (N,) tensor, one weight per face, and the fusion
  blocks always run; ``out = dec + w * (...)`` so w = 0 gives the official w = 0 path exactly.
- the code of each latent position is ``argmax(logits)`` and its vector a row gather from the
  codebook (the official softmax + top-1 + one-hot matmul selects the same rows);
- the transformer is batch-first with the position embedding broadcast over the batch; fusion
  points are fixed block indices, so the graph has static shapes apart from the batch.

Precision policy (``pinned_dtype``, normally float32): after ``.half()`` these parts keep float32
parameters and compute in float32, with casts at their borders (:data:`PRECISION_POLICY`):
every GroupNorm, the spatial attention scores and softmax, the whole code prediction (feat_emb,
transformer, logits, argmax) and AdaIN. The same module run in half precision is the FP16 build.
What float16 cannot hold is the size of the fused activations: each fusion multiplies the decoder
features by ``1 + w * scale(...)``, where ``scale`` itself grows with them. With the deterministic
test weights they reach 2.3e3 at w = 0.5 but 3.6e6 (inf in float16) at w = 1; the release weights
must be checked at w = 1 before an FP16 build is trusted there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facert.export.checkpoint import load_strict
from facert.export.nets.codeformer import (
    CodeFormer,
    TransformerSALayer,
    adaptive_instance_normalization,
)
from facert.export.nets.vqgan import AttnBlock, GroupNorm32, cast

PRECISION_POLICY = (
    "GroupNorm (all 72; parameters and arithmetic)",
    "spatial self-attention: q.k scores and softmax",
    "code prediction: feat_emb, position_emb, transformer, idx_pred_layer logits, argmax",
    "AdaIN statistics (mean, unbiased variance) and renormalisation",
)
PINNED_PREFIXES = ("position_emb", "feat_emb.", "ft_layers.", "idx_pred_layer.")


def attention_layer(layer: TransformerSALayer, tokens: Tensor, position: Tensor) -> Tensor:
    """One pre-norm transformer layer, batch-first: ``tokens`` (N, L, D), ``position`` (1, L, D)."""
    attention = layer.self_attn
    heads, width = attention.num_heads, attention.head_dim
    normed = layer.norm1(tokens)
    query_input = normed + position
    w_q, w_k, w_v = attention.in_proj_weight.chunk(3)
    b_q, b_k, b_v = attention.in_proj_bias.chunk(3)

    def split(x: Tensor) -> Tensor:  # (N, L, D) -> (N, heads, L, width)
        return x.unflatten(-1, (heads, width)).transpose(1, 2)

    query = split(F.linear(query_input, w_q, b_q)) * width**-0.5
    key = split(F.linear(query_input, w_k, b_k))
    value = split(F.linear(normed, w_v, b_v))
    weights = F.softmax(query @ key.transpose(-1, -2), dim=-1)
    attended = (weights @ value).transpose(1, 2).flatten(2)
    tokens = tokens + attention.out_proj(attended)
    return tokens + layer.linear2(F.gelu(layer.linear1(layer.norm2(tokens))))


class CodeFormerExport(CodeFormer):
    """CodeFormer for ONNX export and FP16 builds (arguments as :class:`CodeFormer`, plus
    ``pinned_dtype``: the dtype the pinned parts keep under ``.half()``; None pins nothing)."""

    def __init__(self, *, pinned_dtype: torch.dtype | None = torch.float32, **config: Any) -> None:
        super().__init__(**config)
        self.pinned_dtype = pinned_dtype
        for module in self.modules():
            if isinstance(module, AttnBlock):
                module.score_dtype = pinned_dtype
        self._apply(lambda tensor: tensor)  # moves pinned parameters to pinned_dtype

    def pinned_parameters(self) -> Iterator[nn.Parameter]:
        """The parameters that keep ``pinned_dtype`` whatever dtype the rest is converted to."""
        if self.pinned_dtype is None:
            return
        for name, parameter in self.named_parameters():
            if name.startswith(PINNED_PREFIXES):
                yield parameter
        for module in self.modules():
            if isinstance(module, GroupNorm32):
                yield from module.parameters()

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> CodeFormerExport:
        pinned = {id(parameter) for parameter in self.pinned_parameters()}
        dtype = self.pinned_dtype

        def keep_pinned(tensor: Tensor) -> Tensor:
            converted = fn(tensor)
            if id(tensor) in pinned and converted.dtype != dtype:
                return tensor.detach().to(device=converted.device, dtype=dtype)
            return converted

        return super()._apply(keep_pinned, recurse)

    def predict_codes(self, lq_feat: Tensor) -> Tensor:
        """``lq_feat`` (N, emb_dim, s, s) -> code indices (N, s*s) int64, row-major positions."""
        dtype = self.feat_emb.weight.dtype
        tokens = self.feat_emb(cast(lq_feat.flatten(2).transpose(1, 2), dtype))  # (N, L, D)
        position = self.position_emb.unsqueeze(0)
        for layer in self.ft_layers:
            tokens = attention_layer(layer, tokens, position)
        return self.idx_pred_layer(tokens).argmax(dim=-1)

    def forward(self, image: Tensor, fidelity: Tensor) -> Tensor:  # type: ignore[override]
        """``image`` (N, 3, S, S) RGB [-1, 1] (float32, or float16 after ``.half()``);
        ``fidelity`` (N,) in [0, 1], any float dtype. Returns (N, 3, S, S) RGB, about [-1, 1]
        (not clamped), in the image's dtype."""
        lq_feat, kept = self.encode(image)
        indices = self.predict_codes(lq_feat)
        codebook = self.quantize.embedding.weight
        quant = F.embedding(indices, codebook).transpose(1, 2).contiguous()  # (N, emb_dim, L)
        quant = quant.reshape(-1, codebook.shape[1], self.latent_side, self.latent_side)
        stats_dtype = self.pinned_dtype or image.dtype
        quant = adaptive_instance_normalization(
            cast(quant, stats_dtype), cast(lq_feat, stats_dtype)
        )
        out = cast(quant, image.dtype)
        weight = cast(fidelity, image.dtype).reshape(-1, 1, 1, 1)
        for index, block in enumerate(self.generator.blocks):
            out = block(out)
            if index in self.generator_taps:
                size = self.generator_taps[index]
                out = self.fuse_convs_dict[size](kept[size], out, weight)
        return out


def build_codeformer_export(
    state_dict: Mapping[str, Tensor],
    pinned_dtype: torch.dtype | None = torch.float32,
    source: Path = Path("codeformer.pth"),
    **config: Any,
) -> CodeFormerExport:
    """The export form loaded with ``state_dict`` (strict keys and shapes), in eval mode, float32.

    ``state_dict`` is the official ``params_ema`` (as :func:`facert.export.checkpoint.
    load_state_dict` returns it); ``config`` overrides :class:`CodeFormer` arguments (the official
    configuration by default); ``source`` names the file in error messages. Call ``.half()`` on the
    result for the FP16 build: the parts in :data:`PRECISION_POLICY` stay in ``pinned_dtype``.
    """
    module = CodeFormerExport(pinned_dtype=pinned_dtype, **config)
    load_strict(module, state_dict, source)
    return module.eval()
