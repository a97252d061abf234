"""Building RestoreFormer(++) for export: official weights in, checked module out.

- :func:`restoreformer_state_dict` reads an official file (``torch.load(weights_only=True)``).
- :func:`build_restoreformer_export` returns the export form, strictly loaded, in eval mode.
- :func:`to_fp16` turns it into the FP16 build (pinned parts stay float32); running that module is
  the torch-level proof that an FP16 engine with the same pins is safe.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from facert.errors import WeightsError
from facert.export.checkpoint import load_state_dict, load_strict
from facert.export.nets.restoreformer import VARIANTS, RestoreFormer, RestoreFormerConfig
from facert.export.nets.restoreformer_blocks import MultiHeadAttention, PinnedGroupNorm
from facert.export.nets.restoreformer_quantizer import VectorQuantizer
from facert.registry import WeightFile
from facert.specs.restoreformer import (
    RESTOREFORMER_PP_CKPT,
    RESTOREFORMER_V1_CKPT,
    RESTOREFORMER_V1_PTH,
)

# Official layouts per variant, tried in order: GFPGAN's RestoreFormer.pth first for v1.
LAYOUTS: dict[str, tuple[WeightFile, ...]] = {
    "restoreformer": (RESTOREFORMER_V1_PTH, RESTOREFORMER_V1_CKPT),
    "restoreformer-pp": (RESTOREFORMER_PP_CKPT,),
}

_PINNED_TYPES = (PinnedGroupNorm, MultiHeadAttention, VectorQuantizer)


def variant_config(variant: str) -> RestoreFormerConfig:
    """The full-size configuration of ``variant`` (``restoreformer`` or ``restoreformer-pp``)."""
    try:
        return VARIANTS[variant]
    except KeyError:
        raise ValueError(
            f"unknown RestoreFormer variant {variant!r} ({sorted(VARIANTS)})"
        ) from None


def restoreformer_state_dict(path: Path, variant: str) -> dict[str, torch.Tensor]:
    """The network's tensors from an official file of ``variant``, unwrapped and prefix-stripped.

    RestoreFormer v1 is accepted in both official layouts: GFPGAN's ``params_ema``/``params`` file
    and the RestoreFormer++ release's Lightning ``state_dict`` with ``vqvae.`` keys.
    """
    variant_config(variant)
    layouts = LAYOUTS[variant]
    for layout in layouts[:-1]:
        try:
            return load_state_dict(path, layout)
        except WeightsError as error:
            if "none of the keys" not in str(error):
                raise
    return load_state_dict(path, layouts[-1])


def set_pinned_dtype(model: nn.Module, dtype: torch.dtype | None) -> nn.Module:
    """Make every pinned part (norms, attention cores, codebook) compute in ``dtype`` (None: off)."""
    for module in model.modules():
        if isinstance(module, _PINNED_TYPES):
            module.pinned_dtype = dtype
    return model


def to_fp16(model: RestoreFormer, encoder_in_float32: bool = True) -> RestoreFormer:
    """The FP16 build of ``model`` (changed in place and returned), as the spec's precision policy.

    Decoder and ``post_quant_conv`` convolutions run in float16; every GroupNorm and the codebook
    keep float32 parameters and compute in float32, as do the attention cores. With
    ``encoder_in_float32`` (the policy) the encoder and ``quant_conv`` (31% of the MACs) stay
    float32 too: feed float32 input, and the codebook indices are exactly the FP32 model's. Without
    it the encoder runs in float16 as well (feed float16 input): faster, but its ~0.3% latent error
    flips the code at near-tie positions, which changes a 32x32 patch of the output.
    The output has the input's dtype.
    """
    kept: set[nn.Module] = set()
    if encoder_in_float32:
        kept = {*model.encoder.modules(), model.quant_conv}
    for module in model.modules():  # only convolutions change: norms and codebook stay float32
        if isinstance(module, nn.Conv2d) and module not in kept:
            module.half()
    set_pinned_dtype(model, torch.float32)
    return model


def build_restoreformer(
    config: RestoreFormerConfig, export_form: bool, device: torch.device | str = "cpu"
) -> RestoreFormer:
    """An unloaded network (``device="meta"`` builds it without allocating weights)."""
    with torch.device(device):
        return RestoreFormer(config, export_form=export_form)


def build_restoreformer_export(
    state_dict: dict[str, torch.Tensor],
    variant: str | RestoreFormerConfig,
    pinned_dtype: torch.dtype | None = torch.float32,
    source: Path | None = None,
) -> RestoreFormer:
    """The export form of ``variant`` with ``state_dict`` loaded strictly, in eval mode, FP32.

    Graph: input ``(N, 3, 512, 512)`` float32 RGB in [-1, 1] -> output ``(N, 3, 512, 512)`` float32
    in [-1, 1] scale, unclamped (the official post-processing clamps). Dynamic batch. The codebook
    lookup is ArgMin + Gather. ``pinned_dtype`` is the dtype the pinned parts compute in: float32 is
    a no-op in an FP32 graph and keeps them float32 after :func:`to_fp16`. ``source`` names the file
    in key-mismatch errors.
    """
    config = variant if isinstance(variant, RestoreFormerConfig) else variant_config(variant)
    model = build_restoreformer(config, export_form=True)
    load_strict(model, state_dict, source or Path(f"<{type(model).__name__} state dict>"))
    return set_pinned_dtype(model.eval(), pinned_dtype)
