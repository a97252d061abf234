"""StyleGAN2 "clean" building blocks (plain PyTorch, no custom CUDA ops), as GFPGAN v1.2-1.4 use them.

A faithful port: the same parameter names, shapes and arithmetic as the official clean architecture, so
the official checkpoints load unchanged and the outputs match. It computes the modulated convolution
the official way, with per-sample weights and the batch folded into conv groups; the deployable form
(static weights, free batch) is :mod:`facert.export.families.stylegan2.export`.

Tensors are float32, layout (N, C, H, W); latents are (N, num_style_feat) per layer.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LEAKY_SLOPE = 0.2


def stylegan_channels(narrow: float, channel_multiplier: int) -> dict[int, int]:
    """Feature channels of the decoder per resolution (4 ... 1024), as the official table gives them."""
    return {
        4: int(512 * narrow),
        8: int(512 * narrow),
        16: int(512 * narrow),
        32: int(512 * narrow),
        64: int(256 * channel_multiplier * narrow),
        128: int(128 * channel_multiplier * narrow),
        256: int(64 * channel_multiplier * narrow),
        512: int(32 * channel_multiplier * narrow),
        1024: int(16 * channel_multiplier * narrow),
    }


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """Bilinear x2 upsampling with ``align_corners=False`` (ONNX Resize, half_pixel)."""
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class NormStyleCode(nn.Module):
    """Pixel norm of style codes: (N, F) -> x / sqrt(mean(x^2) + 1e-8)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x**2, dim=1, keepdim=True) + 1e-8)


def style_mlp(num_style_feat: int, num_mlp: int) -> nn.Sequential:
    """The mapping network: NormStyleCode then ``num_mlp`` x (Linear, LeakyReLU 0.2).

    Keys ``{1,3,5,...}.weight/bias``. GFPGAN feeds latents directly (``input_is_latent``), so this
    network never runs at inference, but its weights are part of the checkpoint.
    """
    layers: list[nn.Module] = [NormStyleCode()]
    for _ in range(num_mlp):
        layers += [nn.Linear(num_style_feat, num_style_feat), nn.LeakyReLU(LEAKY_SLOPE)]
    return nn.Sequential(*layers)


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated convolution, no bias, padding ``kernel_size // 2``.

    ``weight`` is (1, C_out, C_in, k, k) and used as stored (no equalized-LR scale); the style
    ``s = modulation(latent)`` (N, C_in) scales the weight's input channels; with ``demodulate`` each
    output filter is divided by ``sqrt(sum over C_in, k, k of (weight * s)^2 + eps)``. With
    ``upsample`` the input is first upsampled x2 (bilinear).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_style_feat: int,
        demodulate: bool = True,
        upsample: bool = False,
        eps: float = 1e-8,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.demodulate = demodulate
        self.upsample = upsample
        self.eps = eps
        self.modulation = nn.Linear(num_style_feat, in_channels)
        fan_in = in_channels * kernel_size**2
        shape = (1, out_channels, in_channels, kernel_size, kernel_size)
        self.weight = nn.Parameter(torch.randn(shape) / math.sqrt(fan_in))

    def forward(self, x: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """x (N, C_in, H, W), latent (N, F) -> (N, C_out, H', W'), H' = 2H with upsample."""
        batch = x.shape[0]
        style = self.modulation(latent).view(batch, 1, self.in_channels, 1, 1)
        weight = self.weight * style
        if self.demodulate:
            demod = torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + self.eps)
            weight = weight * demod.view(batch, self.out_channels, 1, 1, 1)
        k = self.kernel_size
        weight = weight.view(batch * self.out_channels, self.in_channels, k, k)
        if self.upsample:
            x = upsample2x(x)
        height, width = x.shape[2:]
        x = x.reshape(1, batch * self.in_channels, height, width)
        out = F.conv2d(x, weight, padding=k // 2, groups=batch)
        return out.view(batch, self.out_channels, *out.shape[2:])


class StyleConv(nn.Module):
    """Modulated 3x3 conv x sqrt(2), plus ``weight`` (1,) x noise, plus ``bias`` (1, C, 1, 1), LeakyReLU."""

    def __init__(
        self, in_channels: int, out_channels: int, num_style_feat: int, upsample: bool
    ) -> None:
        super().__init__()
        self.modulated_conv = ModulatedConv2d(
            in_channels, out_channels, 3, num_style_feat, demodulate=True, upsample=upsample
        )
        self.weight = nn.Parameter(torch.zeros(1))  # noise strength
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def forward(
        self, x: torch.Tensor, latent: torch.Tensor, noise: torch.Tensor | None
    ) -> torch.Tensor:
        """``noise`` (1 or N, 1, H', W'); None draws fresh N(0, 1) noise as the official default."""
        out = self.modulated_conv(x, latent) * 2**0.5
        if noise is None:
            noise = out.new_empty(out.shape[0], 1, *out.shape[2:]).normal_()
        out = out + self.weight * noise
        return F.leaky_relu(out + self.bias, LEAKY_SLOPE)


class ToRGB(nn.Module):
    """Modulated 1x1 conv to 3 channels without demodulation, plus ``bias``, plus the (upsampled) skip."""

    def __init__(self, in_channels: int, num_style_feat: int, upsample: bool = True) -> None:
        super().__init__()
        self.upsample = upsample
        self.modulated_conv = ModulatedConv2d(in_channels, 3, 1, num_style_feat, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(
        self, x: torch.Tensor, latent: torch.Tensor, skip: torch.Tensor | None = None
    ) -> torch.Tensor:
        out = self.modulated_conv(x, latent) + self.bias
        if skip is not None:
            out = out + (upsample2x(skip) if self.upsample else skip)
        return out


class ConstantInput(nn.Module):
    """The learned 4x4 start of the decoder, ``weight`` (1, C, 4, 4), repeated over the batch."""

    def __init__(self, channels: int, size: int = 4) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.weight.repeat(batch, 1, 1, 1)


class StyleGAN2Decoder(nn.Module):
    """The clean StyleGAN2 generator's layers (mapping MLP, constant, style convs, to-RGBs, noise).

    ``num_layers = 2 * log2(out_size) - 3`` style convs, each with a stored noise map
    ``noises.noise{i}`` (1, 1, r, r), r = 2 ** ((i + 5) // 2); ``num_latent = 2 * log2(out_size) - 2``
    per-layer latents. Subclasses define ``forward`` (GFPGAN adds spatial feature transforms).
    """

    def __init__(
        self,
        out_size: int,
        num_style_feat: int = 512,
        num_mlp: int = 8,
        channel_multiplier: int = 2,
        narrow: float = 1.0,
    ) -> None:
        super().__init__()
        self.log_size = int(math.log2(out_size))
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.num_latent = self.log_size * 2 - 2
        channels = stylegan_channels(narrow, channel_multiplier)
        self.style_mlp = style_mlp(num_style_feat, num_mlp)
        self.constant_input = ConstantInput(channels[4])
        self.style_conv1 = StyleConv(channels[4], channels[4], num_style_feat, upsample=False)
        self.to_rgb1 = ToRGB(channels[4], num_style_feat, upsample=False)
        self.style_convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for index in range(self.num_layers):
            resolution = 2 ** ((index + 5) // 2)
            self.noises.register_buffer(f"noise{index}", torch.randn(1, 1, resolution, resolution))
        in_channels = channels[4]
        for level in range(3, self.log_size + 1):
            out_channels = channels[2**level]
            self.style_convs.append(
                StyleConv(in_channels, out_channels, num_style_feat, upsample=True)
            )
            self.style_convs.append(
                StyleConv(out_channels, out_channels, num_style_feat, upsample=False)
            )
            self.to_rgbs.append(ToRGB(out_channels, num_style_feat, upsample=True))
            in_channels = out_channels

    def stored_noise(self) -> list[torch.Tensor]:
        """The checkpoint's noise maps in layer order (what ``randomize_noise=False`` uses)."""
        return [getattr(self.noises, f"noise{i}") for i in range(self.num_layers)]
