"""WIPA's frame stage: fading, scratches and grain removed from the whole photo, one tile at a time.

An old print is faded, scratched and grainy everywhere, so WIPA restores the whole photo before its
faces are detected (the face graph then adds its own scratch and grain passes at the face's
magnified scale, with ``fade`` 0). The graph works on tiles of ``spec.frame_stage.tile`` pixels
square, which the runtime cuts from the photo with overlapping margins (:mod:`facert.stages.restore.frame`),
and runs the three steps of :class:`facert.export.families.wipa.net.Wipa`, with two differences:

1. The fading correction's statistics come from ``photo_means`` (N, 3, M, M), the block means of the
   WHOLE photo the runtime passes with every tile, not from the tile: every tile gets the same gain
   and black points, so the correction has no seams and a tile of sky is corrected as the photo is.
2. Scratches are seen at the photo's own scale, one or two sharp pixels wide: the scratch filler adds
   its full-resolution level (:class:`facert.export.families.wipa.scratches.ScratchFiller`,
   ``full_scale``), and ``scratch_width`` is in photo pixels, unscaled.

Grain removal (the cycle-spun BayesShrink of the face graph) estimates its noise per tile: tiles are
large (their noise estimates agree), and the overlaps are cross-faded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from facert.export.families.weightfree.export import sample_images
from facert.export.families.wipa.net import Wipa, fading_transform
from facert.models.registry import FrameStage, ModelSpec


class WipaFrame(nn.Module):
    """``forward(image, photo_means, denoise, scratch, fade, scratch_width)`` -> restored tile.

    ``image``: (N, 3, T, T) RGB [0, 1]; ``photo_means``: (N, 3, M, M) RGB [0, 1]; options (N,).
    """

    def __init__(self) -> None:
        super().__init__()
        self.wipa = Wipa(full_scale_scratches=True, noise_once=True)

    def structure(self) -> dict[str, Any]:
        structure = {**self.wipa.structure(), "fade_statistics": "photo_means (whole photo)"}
        del structure["fade_level"]
        return structure

    def forward(
        self,
        image: Tensor,
        photo_means: Tensor,
        denoise: Tensor,
        scratch: Tensor,
        fade: Tensor,
        scratch_width: Tensor,
    ) -> Tensor:
        gain, offset = fading_transform(photo_means.flatten(2), fade)
        unfaded = image * gain[:, :, None, None] + offset[:, :, None, None]
        filled = self.wipa.scratches(unfaded, scratch, scratch_width)
        return self.wipa.denoised(filled, denoise).clamp(0.0, 1.0)


def frame_stage_of(spec: ModelSpec) -> FrameStage:
    if spec.frame_stage is None:
        raise ValueError(f"spec {spec.name!r} declares no frame stage")
    return spec.frame_stage


def sample_means(stage: FrameStage) -> Tensor:
    """(4, 3, M, M) check values of ``photo_means``: four different photos' levels, some faded."""
    means = sample_images(stage.means, seed=1)
    lift = torch.tensor([0.0, 0.3, 0.15, 0.45])[:, None, None, None]
    return means * (1.0 - lift) + lift * torch.tensor([0.92, 0.87, 0.77])[None, :, None, None]


def export_frame_stage(spec: ModelSpec, workdir: Path) -> dict[str, Any]:
    """Write and check ``workdir/<spec.frame_stage.graph>``; return its manifest facts."""
    from facert.export.families.weightfree.export import export_weight_free

    stage = frame_stage_of(spec)
    module = WipaFrame()
    facts = export_weight_free(
        spec,
        module,
        workdir,
        structure=module.structure(),
        onednn=True,
        filename=stage.graph,
        size=stage.tile,
        extra_inputs={"photo_means": sample_means(stage)},
    )
    facts["geometry"] = {"tile": stage.tile, "margin": stage.margin, "means": stage.means}
    return facts
