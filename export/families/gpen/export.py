"""GPEN-BFR's deployable form and its exporter.

The same function as :class:`facert.export.families.gpen.net.GPEN`, built from the layers of
:mod:`facert.export.families.gpen.export_layers` (static conv weights, upfirdn2d as plain convs, FP16-safe
style and mapping paths) with no batch-dependent Python. Deterministic like the official model: GPEN
has no random noise (its noise inputs are the encoder's features). Graph: ``image`` (N, 3, S, S) RGB
[-1, 1] -> ``restored`` (N, 3, S, S) RGB, roughly [-1, 1].
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import torch
from torch import nn

from facert.errors import ExportError
from facert.export.families.gpen.export_layers import (
    StaticEncoderConv,
    StaticMapping,
    StaticStyledConv,
    StaticToRGB,
)
from facert.export.families.gpen.net import GPEN, OFFICIAL_CONFIGS, GPENConfig, load_gpen
from facert.export.harness.source_check import Build, LearnedExporter
from facert.export.precision.policy import Precision
from facert.models.registry import ModelSpec


class GPENExport(nn.Module):
    """Export form of a loaded :class:`GPEN` (built from its tensors; the source is not modified)."""

    def __init__(self, model: GPEN, precision: Precision, rescale_styles: bool = True) -> None:
        super().__init__()
        self.encoders = nn.ModuleList(StaticEncoderConv(ecd[0]) for ecd in model.encoders())
        generator = model.generator
        self.mapping = StaticMapping(model.final_linear[0], list(generator.style)[1:], precision)
        self.constant = nn.Parameter(generator.input.input.detach().clone())  # (1, C, 4, 4)
        self.conv1 = StaticStyledConv(generator.conv1, precision, rescale_styles)
        self.to_rgb1 = StaticToRGB(generator.to_rgb1, precision, rescale_styles)
        self.convs = nn.ModuleList(
            StaticStyledConv(conv, precision, rescale_styles) for conv in generator.convs
        )
        self.to_rgbs = nn.ModuleList(
            StaticToRGB(to_rgb, precision, rescale_styles) for to_rgb in generator.to_rgbs
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """image (N, 3, S, S) RGB [-1, 1] -> restored (N, 3, S, S), in the module's dtype."""
        features: list[torch.Tensor] = []
        x = image
        for encoder in self.encoders:
            x = encoder(x)
            features.insert(0, x)  # coarse to fine: f4, f8, ..., fS
        w = self.mapping(x)
        out = self.conv1(self.constant, w, features[0])
        skip = self.to_rgb1(out, w)
        for level, to_rgb in enumerate(self.to_rgbs):
            feature = features[level + 1]
            out = self.convs[2 * level](out, w, feature)
            out = self.convs[2 * level + 1](out, w, feature)
            skip = to_rgb(out, w, skip)
        return skip


def build_gpen_export(
    state_dict: Mapping[str, torch.Tensor],
    precision: Precision,
    config: GPENConfig | None = None,
    rescale_styles: bool = True,
) -> GPENExport:
    """The export form of the GPEN holding ``state_dict``, in ``precision.activation``, eval mode.

    Raises :class:`facert.errors.WeightsError` (without a path) when keys or shapes differ.
    """
    model = load_gpen(state_dict, config)
    return GPENExport(model, precision, rescale_styles).to(precision.activation).eval()


def gpen_build(spec: ModelSpec) -> Build:
    """The build of a gpen-bfr-* spec: GPEN-BFR's official configuration at the spec's size."""
    config = OFFICIAL_CONFIGS.get(spec.input_size)
    if config is None:
        sizes = ", ".join(map(str, OFFICIAL_CONFIGS))
        raise ExportError(f"{spec.name}: no GPEN-BFR configuration for {spec.input_size} ({sizes})")
    return functools.partial(build_gpen_export, config=config)


# The exporter of the gpen-bfr-* specs (GPEN-BFR 256, 512 and 1024 checkpoints).
export_gpen = LearnedExporter(gpen_build)
