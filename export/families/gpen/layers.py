"""GPEN's StyleGAN2 layers (rosinality style, equalized learning rate), in plain PyTorch.

A faithful port of the layers of yangxy/GPEN ``face_model/gpen_model.py`` with their custom ops
replaced by the plain PyTorch they compute (the official CPU fallbacks):

- ``FusedLeakyReLU(x, b) = sqrt(2) * leaky_relu(x + b, 0.2)``;
- ``upfirdn2d(x, K, up, pad)``: insert ``up - 1`` zeros between samples, zero-pad by ``pad`` on both
  axes, then correlate every channel with the flipped 4x4 kernel ``K`` (a true convolution with K).

Parameters are stored in equalized-learning-rate units: a weight is multiplied at run time by
``lr_mul / sqrt(fan_in)`` and a linear bias by ``lr_mul``. Parameter and buffer names are the
official ones (the 4x4 blur kernels ``*.kernel`` are buffers stored in the checkpoints), so the
official files load unchanged. Tensors are float32, layout (N, C, H, W).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LEAKY_SLOPE = 0.2
ACTIVATION_GAIN = math.sqrt(2.0)
BLUR_TAPS = (1.0, 3.0, 3.0, 1.0)


def blur_kernel(gain: float = 1.0) -> torch.Tensor:
    """The 4x4 kernel ``outer(taps, taps) / sum * gain`` (gain 4 after a x2 upsampling)."""
    taps = torch.tensor(BLUR_TAPS)
    kernel = taps[None, :] * taps[:, None]
    return kernel / kernel.sum() * gain


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``sqrt(2) * leaky_relu(x + bias, 0.2)``, bias (C,) over dim 1 of x (N, C, ...)."""
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return F.leaky_relu(x + bias.view(shape), LEAKY_SLOPE) * ACTIVATION_GAIN


def upfirdn2d(
    x: torch.Tensor, kernel: torch.Tensor, up: int = 1, pad: tuple[int, int] = (0, 0)
) -> torch.Tensor:
    """x (N, C, H, W) -> (N, C, H * up + p0 + p1 - 3, ...): zero-insert, pad, convolve with kernel."""
    batch, channels, height, width = x.shape
    if up > 1:
        x = x.reshape(batch, channels, height, 1, width, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(batch, channels, height * up, width * up)
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    weight = torch.flip(kernel, [0, 1]).expand(channels, 1, *kernel.shape)
    return F.conv2d(x, weight.to(x.dtype), groups=channels)


class Blur(nn.Module):
    """``upfirdn2d`` with the stored kernel, no resampling: ``kernel`` (4, 4) buffer."""

    def __init__(self, pad: tuple[int, int], gain: float = 1.0) -> None:
        super().__init__()
        self.pad = pad
        self.register_buffer("kernel", blur_kernel(gain))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """x2 upsampling of the to-RGB skip: ``upfirdn2d(up=2, pad=(2, 1))`` with ``kernel`` (4, 4)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("kernel", blur_kernel(4.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=2, pad=(2, 1))


class EqualConv2d(nn.Module):
    """Conv with ``weight`` (C_out, C_in, k, k) scaled by 1/sqrt(C_in k k) at run time."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.stride = stride
        self.padding = padding
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight * self.scale
        return F.conv2d(x, weight, self.bias, stride=self.stride, padding=self.padding)


class EqualLinear(nn.Module):
    """Linear layer with ``weight`` x lr_mul/sqrt(in), ``bias`` x lr_mul; optionally FusedLeakyReLU."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        activate: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight * self.scale
        if self.activate:
            return fused_leaky_relu(F.linear(x, weight), self.bias * self.lr_mul)
        return F.linear(x, weight, self.bias * self.lr_mul)


class FusedLeakyReLU(nn.Module):
    """``sqrt(2) * leaky_relu(x + bias, 0.2)`` with ``bias`` (C,)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias)


class PixelNorm(nn.Module):
    """(N, F) -> x / sqrt(mean(x^2) + 1e-8) over F."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x**2, dim=1, keepdim=True) + 1e-8)


class ConvLayer(nn.Sequential):
    """The encoder's conv: [Blur(pad 2, 2)] EqualConv2d (stride 2 when downsampling), FusedLeakyReLU.

    Keys: ``0.weight``, ``1.bias`` without downsampling; ``0.kernel``, ``1.weight``, ``2.bias`` with.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, downsample: bool
    ) -> None:
        layers: list[nn.Module] = []
        if downsample:
            total = len(BLUR_TAPS) - 2 + kernel_size - 1  # 4 for a 3x3 conv
            layers.append(Blur(((total + 1) // 2, total // 2)))
            conv = EqualConv2d(in_channels, out_channels, kernel_size, stride=2, bias=False)
        else:
            conv = EqualConv2d(
                in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False
            )
        super().__init__(*layers, conv, FusedLeakyReLU(out_channels))
