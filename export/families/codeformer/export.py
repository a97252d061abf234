"""CodeFormer in export form: fidelity as a graph input, no data-dependent branches, FP16 pinning.

:class:`CodeFormerExport` has the parameters and keys of the faithful
:class:`~facert.export.families.codeformer.net.CodeFormer` and differs only in how it computes:

- ``forward(image, fidelity)``: ``fidelity`` is a (N,) tensor, one weight per face, and the fusion
  blocks always run; ``out = dec + w * (...)`` so w = 0 gives the official w = 0 path exactly.
- the code of each latent position is ``argmax(logits)`` and its vector a row gather from the
  codebook (the official softmax + top-1 + one-hot matmul selects the same rows);
- the transformer is batch-first with the position embedding broadcast over the batch; fusion
  points are fixed block indices, so the graph has static shapes apart from the batch.

Precision (:mod:`facert.export.precision.policy`, built by :func:`build_codeformer_export` in a
:class:`~facert.export.precision.policy.Precision`): the parts the spec's precision policy names
(:data:`facert.models.specs.codeformer.PRECISION_POLICY`, :meth:`CodeFormerExport.pinned_parts`) keep their
parameters in ``precision.pinned`` and compute there: the whole code-selection path (the encoder,
which reads the image unrounded, feat_emb, the transformer, the logits and their argmax: it picks
discrete codes, and a float16 encoder moves the logits enough to flip near-tied ones, each flip
changing a 32x32 patch of the face), the codebook, every GroupNorm, the spatial attention scores and
softmax, AdaIN, and the fusions' products. The encoder's kept features enter the float16 fusions
rounded to float16. From the first fusion on, the generator carries its features divided by a
per-sample scale (:mod:`facert.export.families.codeformer.scaled`), so float16 holds them for every
fidelity weight in [0, 1]: with facert.export.harness.fill weights the plain form reaches 3.6e6 (inf in
float16) at w = 1.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facert.export.families.codeformer.net import (
    CodeFormer,
    TransformerSALayer,
    adaptive_instance_normalization,
)
from facert.export.families.codeformer.scaled import Scaled, fuse, generator_block
from facert.export.families.codeformer.vqgan import GroupNorm32
from facert.export.harness.checkpoint import load_strict
from facert.export.harness.source_check import Build, LearnedExporter
from facert.export.precision.policy import Precision, apply_precision, cast
from facert.models.registry import ModelSpec


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
    """CodeFormer for ONNX export (arguments as :class:`CodeFormer`). ``rescale_fusion=False``
    computes the generator unscaled, as the official code: kept to show what the scaling prevents.
    ``pinned_dtype`` (set by :func:`~facert.export.precision.policy.apply_precision`) is the dtype of
    AdaIN, the code prediction's input and the fusion products."""

    def __init__(self, *, rescale_fusion: bool = True, **config: Any) -> None:
        super().__init__(**config)
        self.rescale_fusion = rescale_fusion
        self.pinned_dtype: torch.dtype | None = None

    def pinned_parts(self) -> list[nn.Module | nn.Parameter]:
        """The modules and parameters that stay in the pinned dtype: the code-selection path
        (encoder, transformer, logits; the codebook its AdaIN reads) and every GroupNorm."""
        norms = [m for m in self.modules() if isinstance(m, GroupNorm32)]
        code_selection = [self.encoder, self.position_emb, self.feat_emb, self.ft_layers]
        return [*code_selection, self.idx_pred_layer, self.quantize, *norms]

    def predict_codes(self, lq_feat: Tensor) -> Tensor:
        """``lq_feat`` (N, emb_dim, s, s) -> code indices (N, s*s) int64, row-major positions."""
        dtype = self.feat_emb.weight.dtype
        tokens = self.feat_emb(cast(lq_feat.flatten(2).transpose(1, 2), dtype))  # (N, L, D)
        position = self.position_emb.unsqueeze(0)
        for layer in self.ft_layers:
            tokens = attention_layer(layer, tokens, position)
        return self.idx_pred_layer(tokens).argmax(dim=-1)

    def forward(self, image: Tensor, fidelity: Tensor) -> Tensor:  # type: ignore[override]
        """``image`` (N, 3, S, S) RGB [-1, 1] and ``fidelity`` (N,) in [0, 1], float32 or the
        activation dtype. Returns (N, 3, S, S) RGB, about [-1, 1] (not clamped), in the activation
        dtype."""
        activation = self.generator.blocks[0].weight.dtype
        # The encoder reads the image in its own dtype: the FP16 graph's float32 input unrounded.
        lq_feat, kept = self.encode(cast(image, self.encoder.blocks[0].weight.dtype))
        kept = {size: cast(features, activation) for size, features in kept.items()}
        indices = self.predict_codes(lq_feat)
        codebook = self.quantize.embedding.weight
        quant = F.embedding(indices, codebook).transpose(1, 2).contiguous()  # (N, emb_dim, L)
        quant = quant.reshape(-1, codebook.shape[1], self.latent_side, self.latent_side)
        pinned = self.pinned_dtype or activation
        quant = adaptive_instance_normalization(cast(quant, pinned), cast(lq_feat, pinned))
        out: Tensor | Scaled = cast(quant, activation)
        weight = cast(fidelity, pinned).reshape(-1, 1, 1, 1)
        for index, block in enumerate(self.generator.blocks):
            out = generator_block(block, out) if isinstance(out, Scaled) else block(out)
            if index in self.generator_taps:
                size = self.generator_taps[index]
                fusion, enc = self.fuse_convs_dict[size], kept[size]
                if not self.rescale_fusion:
                    out = fusion(enc, out, cast(weight, activation))
                    continue
                dec = out if isinstance(out, Scaled) else Scaled(out, torch.ones_like(weight))
                out = fuse(fusion, enc, dec, weight)
        if isinstance(out, Scaled):
            raise ValueError("the generator must end with a GroupNorm and a convolution")
        return out


def build_codeformer_export(
    state_dict: Mapping[str, Tensor],
    precision: Precision,
    source: Path | None = None,
    rescale_fusion: bool = True,
    **config: Any,
) -> CodeFormerExport:
    """The export form loaded with ``state_dict`` (strict keys and shapes), in ``precision``, eval.

    ``state_dict`` is the official ``params_ema`` (as :func:`facert.export.harness.checkpoint.
    load_state_dict` returns it); ``config`` overrides :class:`CodeFormer` arguments (the official
    configuration by default); ``source`` names the file in error messages (without it the
    :class:`~facert.errors.WeightsError` carries no path and the harness adds it).
    """
    module = CodeFormerExport(rescale_fusion=rescale_fusion, **config)
    load_strict(module, state_dict, source)
    return apply_precision(module, precision, module.pinned_parts()).eval()


def codeformer_build(spec: ModelSpec) -> Build:
    """The build of the codeformer spec: the official configuration at the spec's input size."""
    return functools.partial(build_codeformer_export, img_size=spec.input_size)


# The exporter of the codeformer spec (v0.1.0 checkpoint, 512 px), through export_learned.
export_codeformer = LearnedExporter(codeformer_build)
