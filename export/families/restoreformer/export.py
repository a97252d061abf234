"""Building RestoreFormer(++) for export: official weights in, checked module out.

- :func:`restoreformer_state_dict` reads an official file (``torch.load(weights_only=True)``).
- :func:`build_restoreformer_export` returns the export form, strictly loaded, in a
  :class:`~facert.export.precision.policy.Precision` (the encoder, ``quant_conv``, codebook and every
  GroupNorm pinned), in eval mode.
- :func:`export_restoreformer` is the exporter of both specs, through
  :func:`facert.export.harness.learned.export_learned`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from facert.errors import WeightsError
from facert.export.families.restoreformer.blocks import PinnedGroupNorm
from facert.export.families.restoreformer.net import VARIANTS, RestoreFormer, RestoreFormerConfig
from facert.export.harness.checkpoint import load_state_dict, load_strict
from facert.export.harness.source_check import Build, LearnedExporter
from facert.export.precision.policy import Precision, apply_precision
from facert.models.registry import ModelSpec, WeightFile
from facert.models.specs.restoreformer import (
    RESTOREFORMER_PP_CKPT,
    RESTOREFORMER_V1_CKPT,
    RESTOREFORMER_V1_PTH,
)

# Official layouts per variant, tried in order: GFPGAN's RestoreFormer.pth first for v1.
LAYOUTS: dict[str, tuple[WeightFile, ...]] = {
    "restoreformer": (RESTOREFORMER_V1_PTH, RESTOREFORMER_V1_CKPT),
    "restoreformer-pp": (RESTOREFORMER_PP_CKPT,),
}


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


def pinned_parts(model: RestoreFormer) -> list[nn.Module]:
    """The parts whose parameters stay in the pinned dtype (the spec's precision policy).

    The encoder and ``quant_conv`` (31% of the MACs) stay whole: in float16 the latent moves by
    ~0.2% and the code flips where the two nearest codes are almost tied (0-3 of 256 positions per
    face with facert.export.harness.fill weights), each flip changing a 32x32 patch (32.6 dB). The codebook
    lookup and every GroupNorm are pinned too; attention cores compute in the pinned dtype. The
    encoder reads the FP16 graph's float32 image unrounded: rounding it to float16 alone flips one
    code on 3 of the 4 default check faces (44-48 dB against FP32 instead of 69-70 dB).
    """
    norms = [m for m in model.decoder.modules() if isinstance(m, PinnedGroupNorm)]
    return [model.encoder, model.quant_conv, model.quantize, *norms]


def build_restoreformer(
    config: RestoreFormerConfig, export_form: bool, device: torch.device | str | None = None
) -> RestoreFormer:
    """An unloaded network (``device="meta"`` builds it without allocating weights; None: the
    current default device, which the checkpoint check sets to ``meta``)."""
    if device is None:
        return RestoreFormer(config, export_form=export_form)
    with torch.device(device):
        return RestoreFormer(config, export_form=export_form)


def build_restoreformer_export(
    state_dict: Mapping[str, torch.Tensor],
    precision: Precision,
    variant: str | RestoreFormerConfig,
    source: Path | None = None,
) -> RestoreFormer:
    """The export form of ``variant`` with ``state_dict`` loaded strictly, in ``precision``, eval.

    Graph: input ``(N, 3, 512, 512)`` RGB in [-1, 1] -> output ``(N, 3, 512, 512)`` in [-1, 1]
    scale, unclamped (the official post-processing clamps), both in ``precision.activation``.
    Dynamic batch. The codebook lookup is ArgMin + Gather. ``source`` names the file in key-mismatch
    errors (without it the error carries no path and the harness adds it).
    """
    config = variant if isinstance(variant, RestoreFormerConfig) else variant_config(variant)
    model = build_restoreformer(config, export_form=True)
    load_strict(model, state_dict, source)
    apply_precision(model, precision, pinned_parts(model))
    return model.eval()


def restoreformer_build(spec: ModelSpec) -> Build:
    """The build of the restoreformer and restoreformer-pp specs (the variant is the spec's name)."""
    return functools.partial(build_restoreformer_export, variant=variant_config(spec.name))


# The exporter of the restoreformer and restoreformer-pp specs (512 px), through export_learned.
export_restoreformer = LearnedExporter(restoreformer_build)
