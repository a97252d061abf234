"""DFDNet's deployable form: one graph, the part boxes as an extra input.

``image`` (N, 3, 512, 512) RGB [-1, 1] and ``boxes`` (N, 4, 4) float32 (per part: left eye, right
eye, nose, mouth; x1, y1, x2, y2 whole crop pixels, :mod:`facert.stages.parts`) -> ``restored``
(N, 3, 512, 512) RGB [-1, 1]. Spectral norm folded into plain convolutions (stored u, v); the
dictionary step in fixed-size windows (:mod:`.matching`), so faces batch; the dictionaries are
constants of the graph (K x 6.24 MB: see the spec's notes).

Precision (:mod:`facert.export.precision.policy`): the dictionary step of each scale
(:class:`ScaleMatch`: window reads, resizes, AdaIN statistics, scores, argmax, the attention
update and the write-back, the dictionaries themselves) is the pinned part; the VGG features,
MSDilate and the decoder take the activation dtype. A score sums C x S x S products (204,800 at
256): the official one reached 3.2e5 on the golden face, past float16's 65,504; what pinning costs
and saves is measured by bench/dfdnet_precision.py.
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
from facert.export.precision.policy import FP32, Precision, apply_precision, cast

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


class ScaleMatch(nn.Module):
    """The four parts' dictionary step at one feature scale (``size``), the pinned part: it
    computes in ``pinned_dtype`` (None: the tap's dtype) and returns the tap's dtype."""

    def __init__(self, folded: nn.Module, model: DFDNet, size: int) -> None:
        super().__init__()
        self.parts = nn.ModuleList()
        for index, (prefix, part) in enumerate(zip(PREFIXES, PARTS, strict=True)):
            block = getattr(folded, f"{prefix}_{size}")
            dictionary = model.dictionary(part, size)
            self.parts.append(PartMatch(dictionary, block[0], block[2], window_at(index, size)))
        self.cell = float(512 // size)
        self.pinned_dtype: torch.dtype | None = None

    def forward(self, tap: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """``tap`` (N, C, size, size) with the parts written in; ``boxes`` (N, 4, 4) float32 in
        512 crop pixels (read unrounded: float16 holds integers up to 2048 exactly anyway)."""
        dtype = self.pinned_dtype or tap.dtype
        feature = cast(tap, dtype)
        scaled = torch.floor(cast(boxes, dtype) / self.cell)
        updated = feature
        for index, match in enumerate(self.parts):
            updated = match(feature, updated, scaled[:, index])
        return cast(updated, tap.dtype)


class DFDNetExport(nn.Module):
    """Export form of a loaded :class:`DFDNet` (a folded copy; the source is not modified)."""

    def __init__(self, model: DFDNet) -> None:
        super().__init__()
        folded = fold_spectral_norm(model)
        self.vgg = folded.VggExtract
        self.matches = nn.ModuleList(ScaleMatch(folded, model, size) for size in FEATURE_SIZES)
        self.msdilate = folded.MSDilate
        self.ups = nn.ModuleList([folded.up0, folded.up1, folded.up2, folded.up3])
        self.head = folded.up4

    def forward(self, image: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        taps = self.vgg(image)
        styles = [match(tap, boxes) for match, tap in zip(self.matches, taps, strict=True)]
        x = self.msdilate(taps[3])
        for up, style in zip(self.ups, styles[::-1], strict=True):
            x = up(x, style)
        return self.head(x)


def build_dfdnet_export(
    state: Mapping[str, torch.Tensor],
    dictionaries: Dictionaries,
    path: Path | None = None,
    precision: Precision = FP32,
    *,
    pinned: bool = True,
) -> DFDNetExport:
    """The export form of the DFDNet holding ``state`` and ``dictionaries`` in ``precision``, the
    dictionary step pinned (``pinned=False``: nothing pinned, for the precision bench), eval
    mode."""
    module = DFDNetExport(load_dfdnet(state, dictionaries, path))
    apply_precision(module, precision, list(module.matches) if pinned else [])
    if not pinned:
        for match in module.matches:
            match.pinned_dtype = None
    return module.eval()
