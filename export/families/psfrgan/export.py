"""PSFR-GAN's deployable form and its exporter: ParseNet + one-hot + generator in one graph.

The restorer graph (``model.onnx``, ``model.fp16.onnx``) is the official test-time path
(``test_enhance_single_unalign.enhance_faces``): ``image`` (N, 3, 512, 512) RGB [-1, 1] ->
ParseNet logits -> one-hot of the per-pixel max over the 19 classes (ReduceMax + Equal + Cast: every
class tied at the max is set, as the official ``==`` does) -> generator(image, one-hot) ->
``restored`` (N, 3, 512, 512) RGB, roughly [-1, 1]. So the runtime runs it as any restorer.
``parsenet.onnx`` is ParseNet alone (``image`` -> ``parsing`` logits (N, 19, 512, 512), FP32), the
parse mask of a later paste-back (facexlib's ``use_parse``).

The state dict a build takes is the two official files merged, ParseNet's keys under ``parse.``
and the generator's under ``generator.`` (:func:`merged_state`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from facert.errors import ExportError
from facert.export.families.psfrgan.export_layers import (
    ParseNetExport,
    StaticSPADEResBlock,
    folded_spectral,
)
from facert.export.families.psfrgan.generator import (
    GeneratorConfig,
    PSFRGenerator,
    load_generator,
)
from facert.export.families.psfrgan.parsenet import ParseNetConfig, load_parsenet
from facert.export.precision.policy import Precision, apply_precision
from facert.models.registry import ModelSpec

PARSE, GENERATOR = "parse.", "generator."


def merged_state(
    parse: Mapping[str, torch.Tensor], generator: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The two official state dicts as one, keys prefixed ``parse.`` and ``generator.``."""
    return {
        **{PARSE + k: v for k, v in parse.items()},
        **{GENERATOR + k: v for k, v in generator.items()},
    }


def split_state(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


class GeneratorExport(nn.Module):
    """PSFRGenerator with spectral norm folded; the ref (image + one-hot) resized once per level."""

    def __init__(self, model: PSFRGenerator) -> None:
        super().__init__()
        self.const_input = nn.Parameter(model.const_input.detach().clone())
        self.head_conv = folded_spectral(model.head["0"])
        self.head_block = StaticSPADEResBlock(model.head["1"])
        self.convs = nn.ModuleList(folded_spectral(getattr(level, "1")) for level in model.body)
        self.blocks = nn.ModuleList(
            StaticSPADEResBlock(getattr(level, "2")) for level in model.body
        )
        self.img_out = folded_spectral(model.img_out)

    def forward(self, image: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        ref = torch.cat((image, onehot), dim=1)
        size = ref.shape[-1]

        def at(feat: torch.Tensor) -> torch.Tensor:  # SPADENorm: bicubic only when sizes differ
            if feat.shape[-1] == size:
                return ref
            return F.interpolate(ref, feat.shape[2:], mode="bicubic", align_corners=False)

        feat = self.const_input.expand(image.shape[0], -1, -1, -1)
        feat = self.head_conv(feat)
        feat = self.head_block(feat, at(feat))
        for conv, block in zip(self.convs, self.blocks, strict=True):
            feat = conv(F.interpolate(feat, scale_factor=2.0, mode="nearest"))
            feat = block(feat, at(feat))
        return self.img_out(feat)


class PSFRGANExport(nn.Module):
    """image -> ParseNet (pinned) -> one-hot of the max -> generator -> restored."""

    def __init__(self, parse: ParseNetExport, generator: GeneratorExport) -> None:
        super().__init__()
        self.parse = parse
        self.generator = generator

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        logits = self.parse(image)
        onehot = (logits == logits.amax(dim=1, keepdim=True)).to(image.dtype)
        return self.generator(image, onehot)


def build_parsenet_export(
    state: Mapping[str, torch.Tensor], config: ParseNetConfig | None = None
) -> ParseNetExport:
    """ParseNet's export form (FP32) from its own state dict; WeightsError when keys differ."""
    return ParseNetExport(load_parsenet(state, config)).eval()


def build_psfrgan_export(
    state: Mapping[str, torch.Tensor],
    precision: Precision,
    parse_config: ParseNetConfig | None = None,
    generator_config: GeneratorConfig | None = None,
) -> PSFRGANExport:
    """The restorer's export form from a :func:`merged_state`, in ``precision`` (ParseNet and the
    SPADE instance norms pinned), eval mode. WeightsError (no path) when keys or shapes differ."""
    parse = ParseNetExport(load_parsenet(split_state(state, PARSE), parse_config))
    generator = GeneratorExport(load_generator(split_state(state, GENERATOR), generator_config))
    module = PSFRGANExport(parse, generator)
    return apply_precision(module, precision, pinned_parts=[module.parse]).eval()


def psfrgan_build(
    spec: ModelSpec,
    parse_config: ParseNetConfig | None = None,
    generator_config: GeneratorConfig | None = None,
) -> Callable[[Mapping[str, torch.Tensor], Precision], PSFRGANExport]:
    """The build of the psfrgan spec: the official configurations (tests pass tiny ones)."""
    parse_config, generator_config = (
        parse_config or ParseNetConfig(),
        generator_config or GeneratorConfig(),
    )
    if spec.input_size != generator_config.out_size or spec.input_size != parse_config.in_size:
        raise ExportError(
            f"{spec.name}: PSFR-GAN's networks are {generator_config.out_size}, not {spec.input_size}"
        )
    return functools.partial(
        build_psfrgan_export, parse_config=parse_config, generator_config=generator_config
    )
