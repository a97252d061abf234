"""DFDNet's deployable form: one graph, the part boxes as an extra input.

``image`` (N, 3, 512, 512) RGB [-1, 1] and ``boxes`` (N, 4, 4) float32 (per part: left eye, right
eye, nose, mouth; x1, y1, x2, y2 whole crop pixels, :mod:`facert.stages.parts`) -> ``restored``
(N, 3, 512, 512) RGB [-1, 1]. Spectral norm folded into plain convolutions (stored u, v); the
dictionary step in fixed-size windows (:mod:`.matching`), so faces batch; the dictionaries are
constants of the graph (K x 6.24 MB: see the spec's notes).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from facert.export.families.dfdnet.dictionaries import (
    FEATURE_SIZES,
    PART_SIZES,
    PARTS,
    PREFIXES,
    Dictionaries,
)
from facert.export.families.dfdnet.layers import SNConv2d
from facert.export.families.dfdnet.matching import PartMatch
from facert.export.families.dfdnet.net import DFDNet, load_dfdnet

# The largest box side handled, in 512 crop pixels: twice each part's dictionary size (boxes
# measured on 26 aligned real faces are at most 0.75 of it; see the spec's notes).
WINDOWS_512 = tuple(2 * size for size in PART_SIZES)


def window_at(part_index: int, size: int) -> int:
    """The window side at feature size ``size`` (a box floor-divided can grow by one cell)."""
    return math.ceil(WINDOWS_512[part_index] / (512 // size)) + 1


def fold_spectral_norm(module: nn.Module) -> nn.Module:
    """A copy of ``module`` with every :class:`SNConv2d` replaced by an ``nn.Conv2d`` holding
    ``weight_orig / sigma`` (stored u, v)."""
    module = copy.deepcopy(module)
    for name, child in list(module.named_modules()):
        if not isinstance(child, SNConv2d):
            continue
        weight = child.weight().detach()
        conv = nn.Conv2d(
            weight.shape[1],
            weight.shape[0],
            weight.shape[2],
            padding=child.padding,
            dilation=child.dilation,
        )
        conv.weight = nn.Parameter(weight.clone())
        conv.bias = nn.Parameter(child.bias.detach().clone())
        parent, _, leaf = name.rpartition(".")
        setattr(module.get_submodule(parent) if parent else module, leaf, conv)
    return module


class DFDNetExport(nn.Module):
    """Export form of a loaded :class:`DFDNet` (a folded copy; the source is not modified)."""

    def __init__(self, model: DFDNet) -> None:
        super().__init__()
        folded = fold_spectral_norm(model)
        self.vgg = folded.VggExtract
        self.matches = nn.ModuleList()
        for size in FEATURE_SIZES:
            for index, (prefix, part) in enumerate(zip(PREFIXES, PARTS, strict=True)):
                block = getattr(folded, f"{prefix}_{size}")
                self.matches.append(
                    PartMatch(
                        model.dictionary(part, size), block[0], block[2], window_at(index, size)
                    )
                )
        self.msdilate = folded.MSDilate
        self.ups = nn.ModuleList([folded.up0, folded.up1, folded.up2, folded.up3])
        self.head = folded.up4

    def forward(self, image: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        taps = self.vgg(image)
        styles = []
        for level, (tap, size) in enumerate(zip(taps, FEATURE_SIZES, strict=True)):
            scaled = torch.floor(boxes / float(512 // size))
            updated = tap
            for part in range(len(PARTS)):
                match = self.matches[level * len(PARTS) + part]
                updated = match(tap, updated, scaled[:, part])
            styles.append(updated)
        x = self.msdilate(taps[3])
        for up, style in zip(self.ups, styles[::-1], strict=True):
            x = up(x, style)
        return self.head(x)


def build_dfdnet_export(
    state: Mapping[str, torch.Tensor], dictionaries: Dictionaries, path: Path | None = None
) -> DFDNetExport:
    """The FP32 export form of the DFDNet holding ``state`` and ``dictionaries``, eval mode."""
    return DFDNetExport(load_dfdnet(state, dictionaries, path)).eval()
