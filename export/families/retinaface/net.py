"""RetinaFace as facexlib runs it (facexlib/detection/retinaface.py, ``phase='test'``).

A backbone (:mod:`.backbones`) under ``body``, a three-level FPN (1x1 lateral convs, nearest
upsampling of the coarser level to the finer level's exact size, add, 3x3 merge conv), one SSH
context module per level, and per level three 1x1 heads for the two anchors of every cell: class
logits (2 x 2), box offsets (2 x 4) and landmark offsets (2 x 10). Keys and shapes are those of
facexlib's ``detection_Resnet50_Final.pth`` and ``detection_mobilenet0.25_Final.pth``
(tests/golden/retinaface/keys_*.txt), so those files load strictly.

Input: (N, 3, H, W) float32, BGR, pixel levels minus :data:`facert.models.specs.retinaface.MEAN_BGR`
(no scaling), any H and W. Outputs (the official ``forward`` in test phase): ``loc`` (N, P, 4),
``conf`` (N, P, 2) softmax-ed (column 1: face), ``landmarks`` (N, P, 10), with P anchors ordered
level by level, row-major over the level's ceil(H / s) x ceil(W / s) cells, two anchors per cell
(:func:`facert.stages.detect.retinaface_boxes.priors`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from facert.export.families.retinaface.backbones import (
    MobileNet025,
    ResNet50,
    conv_norm,
    conv_norm_act,
)

ANCHORS = 2  # anchors per cell (two min sizes per level)
LEVELS = 3


@dataclass(frozen=True)
class Variant:
    """One of facexlib's two configurations (``generate_config``)."""

    backbone: str  # "resnet50" or "mobilenet0.25"
    channels: int  # FPN, SSH and head width (facexlib's out_channel)

    @property
    def slope(self) -> float:
        """LeakyReLU slope of FPN and SSH: 0 (ReLU) above 64 channels, 0.1 at 64 and below."""
        return 0.0 if self.channels > 64 else 0.1


VARIANTS = {
    "retinaface-r50": Variant("resnet50", 256),
    "retinaface-mnet": Variant("mobilenet0.25", 64),
}


class FPN(nn.Module):
    def __init__(self, inputs: tuple[int, ...], channels: int, slope: float) -> None:
        super().__init__()
        self.output1, self.output2, self.output3 = (
            conv_norm_act(c, channels, 1, 1, slope) for c in inputs
        )
        self.merge1 = conv_norm_act(channels, channels, 3, 1, slope)
        self.merge2 = conv_norm_act(channels, channels, 3, 1, slope)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        fine, middle, coarse = (
            self.output1(features[0]),
            self.output2(features[1]),
            self.output3(features[2]),
        )
        middle = self.merge2(middle + F.interpolate(coarse, size=middle.shape[2:], mode="nearest"))
        fine = self.merge1(fine + F.interpolate(middle, size=fine.shape[2:], mode="nearest"))
        return [fine, middle, coarse]


class SSH(nn.Module):
    """Single Stage Headless context module: 3x3 (half the channels), "5x5" and "7x7" branches
    (stacked 3x3 convs, a quarter each), concatenated, then ReLU. Note ``conv7x7_3``'s lower-case
    x: the checkpoint's spelling."""

    def __init__(self, channels: int, slope: float) -> None:
        super().__init__()
        half, quarter = channels // 2, channels // 4
        self.conv3X3 = nn.Sequential(*conv_norm(channels, half, 3))
        self.conv5X5_1 = conv_norm_act(channels, quarter, 3, 1, slope)
        self.conv5X5_2 = nn.Sequential(*conv_norm(quarter, quarter, 3))
        self.conv7X7_2 = conv_norm_act(quarter, quarter, 3, 1, slope)
        self.conv7x7_3 = nn.Sequential(*conv_norm(quarter, quarter, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.conv5X5_1(x)
        five = self.conv5X5_2(branch)
        seven = self.conv7x7_3(self.conv7X7_2(branch))
        return torch.relu(torch.cat([self.conv3X3(x), five, seven], dim=1))


class Head(nn.Module):
    """A 1x1 conv giving ``width`` numbers per anchor, as (N, cells * ANCHORS, width)."""

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        self.width = width
        self.conv1x1 = nn.Conv2d(channels, ANCHORS * width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1x1(x).permute(0, 2, 3, 1)
        return out.reshape(out.shape[0], -1, self.width)


def heads(channels: int, width: int) -> nn.ModuleList:
    return nn.ModuleList(Head(channels, width) for _ in range(LEVELS))


class RetinaFace(nn.Module):
    """facexlib's RetinaFace network (see the module docstring for its input and outputs)."""

    def __init__(self, variant: Variant) -> None:
        super().__init__()
        self.body = ResNet50() if variant.backbone == "resnet50" else MobileNet025()
        channels, slope = variant.channels, variant.slope
        self.fpn = FPN(self.body.out_channels, channels, slope)
        self.ssh1, self.ssh2, self.ssh3 = (SSH(channels, slope) for _ in range(LEVELS))
        self.ClassHead = heads(channels, 2)
        self.BboxHead = heads(channels, 4)
        self.LandmarkHead = heads(channels, 10)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        levels = self.fpn(self.body(image))
        features = [
            ssh(level) for ssh, level in zip((self.ssh1, self.ssh2, self.ssh3), levels, strict=True)
        ]

        def run(head: nn.ModuleList) -> torch.Tensor:
            return torch.cat([h(f) for h, f in zip(head, features, strict=True)], dim=1)

        loc, logits, landmarks = run(self.BboxHead), run(self.ClassHead), run(self.LandmarkHead)
        return loc, F.softmax(logits, dim=-1), landmarks
