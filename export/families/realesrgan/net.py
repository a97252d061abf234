"""Real-ESRGAN's generator, RRDBNet (xinntao/Real-ESRGAN, network from XPixelGroup/BasicSR), ported.

The official ``basicsr.archs.rrdbnet_arch.RRDBNet`` with Real-ESRGAN's configuration (num_feat 64,
num_block 23, num_grow_ch 32, 3 channels in and out), with the same module names, so the official
``params_ema`` state dicts (RealESRGAN_x4plus.pth, RealESRGAN_x2plus.pth) load unchanged:

- ``conv_first``: 3x3 conv of the input; for scale 2 the input is first pixel-unshuffled by 2
  (each 2x2 block becomes 4 channels, channel ``c * 4 + dy * 2 + dx``), so the trunk runs at half
  size and the two x2 upsamplings give x2 overall; scale 4 takes the input as it is;
- ``body``: ``num_block`` residual-in-residual dense blocks (each three 5-conv dense blocks, LeakyReLU
  0.2, residuals scaled by 0.2), then ``conv_body`` and a skip from ``conv_first``;
- two nearest x2 upsamplings, each followed by a 3x3 conv and LeakyReLU (``conv_up1``,
  ``conv_up2``), then ``conv_hr`` + LeakyReLU and ``conv_last``.

Input (N, 3, H, W) float32 RGB in [0, 1] (H and W even for scale 2); output (N, 3, sH, sW) RGB,
roughly [0, 1] (the official RealESRGANer clamps it). Licence of code and weights: BSD-3-Clause
(Real-ESRGAN); BasicSR's code is Apache-2.0. Written from the official code's behaviour, not copied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from facert.errors import WeightsError


@dataclass(frozen=True)
class RRDBConfig:
    scale: int = 4
    num_feat: int = 64
    num_block: int = 23
    num_grow_ch: int = 32


def pixel_unshuffle(x: torch.Tensor, factor: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C * factor^2, H / factor, W / factor): channel ``c * f^2 + dy * f + dx``
    holds pixel ``(factor * y + dy, factor * x + dx)`` of channel c (BasicSR's order)."""
    n, c, h, w = x.shape
    blocks = x.reshape(n, c, h // factor, factor, w // factor, factor)
    return blocks.permute(0, 1, 3, 5, 2, 4).reshape(
        n, c * factor * factor, h // factor, w // factor
    )


def unshuffle_kernel(channels: int, factor: int) -> torch.Tensor:
    """(channels * factor^2, 1, factor, factor) one-hot weights: a grouped conv of stride
    ``factor`` with them is :func:`pixel_unshuffle` exactly (each output one input pixel times 1),
    and traces to ONNX with the height and width left free."""
    kernel = torch.zeros(channels * factor * factor, 1, factor, factor)
    for c in range(channels):
        for dy in range(factor):
            for dx in range(factor):
                kernel[c * factor * factor + dy * factor + dx, 0, dy, dx] = 1.0
    return kernel


class DenseBlock(nn.Module):
    """Five 3x3 convs, each seeing the input and every earlier output; residual scaled by 0.2."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        for index in range(1, 5):
            conv = nn.Conv2d(num_feat + (index - 1) * num_grow_ch, num_grow_ch, 3, 1, 1)
            self.add_module(f"conv{index}", conv)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for index in range(1, 5):
            conv = getattr(self, f"conv{index}")
            features.append(F.leaky_relu(conv(torch.cat(features, 1)), 0.2))
        return self.conv5(torch.cat(features, 1)) * 0.2 + x


class RRDB(nn.Module):
    """Three dense blocks in sequence, residual scaled by 0.2."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.rdb1 = DenseBlock(num_feat, num_grow_ch)
        self.rdb2 = DenseBlock(num_feat, num_grow_ch)
        self.rdb3 = DenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """Real-ESRGAN's generator at ``config.scale`` 2 or 4 (see the module docstring)."""

    def __init__(self, config: RRDBConfig | None = None) -> None:
        super().__init__()
        config = config or RRDBConfig()
        if config.scale not in (2, 4):
            raise ValueError(f"RRDBNet scale must be 2 or 4, got {config.scale}")
        self.scale = config.scale
        feat = config.num_feat
        in_channels = 3 * 4 if config.scale == 2 else 3
        self.conv_first = nn.Conv2d(in_channels, feat, 3, 1, 1)
        # Not a parameter: not in the state dict (the official module has no such tensor).
        self.register_buffer("unshuffle", unshuffle_kernel(3, 2), persistent=False)
        self.body = nn.Sequential(
            *(RRDB(feat, config.num_grow_ch) for _ in range(config.num_block))
        )
        self.conv_body = nn.Conv2d(feat, feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(feat, feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(feat, feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(feat, feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(feat, 3, 3, 1, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """image (N, 3, H, W) RGB [0, 1] -> (N, 3, scale * H, scale * W) RGB, roughly [0, 1]."""
        feat = image
        if self.scale == 2:  # pixel_unshuffle(image, 2), as a conv
            feat = F.conv2d(image, self.unshuffle, stride=2, groups=3)
        feat = self.conv_first(feat)
        feat = feat + self.conv_body(self.body(feat))
        for conv in (self.conv_up1, self.conv_up2):
            feat = F.leaky_relu(conv(F.interpolate(feat, scale_factor=2.0, mode="nearest")), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))


def load_rrdbnet(state: Mapping[str, torch.Tensor], config: RRDBConfig) -> RRDBNet:
    """An RRDBNet holding ``state`` (an official ``params_ema`` dict), eval mode; a
    :class:`WeightsError` (no path) naming what differs when keys or shapes do not match."""
    model = RRDBNet(config)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        detail = (
            f"missing {missing[:3]}" if missing
            else f"unexpected {unexpected[:3]}" if unexpected
            else f"shape of {wrong[0]} is {list(state[wrong[0]].shape)}, "
            f"expected {list(own[wrong[0]].shape)}"
        )  # fmt: skip
        raise WeightsError(f"not a Real-ESRGAN x{config.scale} RRDBNet checkpoint: {detail}")
    model.load_state_dict(dict(state), strict=True)
    return model.eval()
