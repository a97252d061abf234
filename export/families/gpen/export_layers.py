"""GPEN's layers in deployable form (static weights, free batch, FP16-safe style path).

Each class is built from the matching faithful layer of :mod:`facert.export.families.gpen.net` and computes
the same function, written for ONNX/TensorRT:

- modulated convs as *input scaling x static conv x output scaling* with per-sample style rescaling
  (:class:`facert.export.families.stylegan2.export.StaticModulatedConv`), the equalized-LR scales folded
  into the static weights; the upsampling ones as a stride-2 ConvTranspose of the static weight;
- ``upfirdn2d`` as plain convolutions: a blur is a depthwise Conv with the flipped stored kernel, the
  to-RGB skip's x2 upsampling a depthwise ConvTranspose (stride 2, padding 1) with the stored kernel;
- FusedLeakyReLU's sqrt(2) folded into the preceding weights and biases (LeakyReLU is positively
  homogeneous), so each activation is one LeakyRelu;
- the mapping path (final_linear, PixelNorm, the style MLP) in ``precision.pinned``, like the style
  path of every modulated conv: squared latents overflow float16 and it costs next to nothing.

Tensors are (N, C, H, W) in the module's dtype (``precision.activation``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facert.export.families.gpen import net as gpen
from facert.export.families.gpen.layers import ACTIVATION_GAIN, LEAKY_SLOPE, ConvLayer, EqualLinear
from facert.export.families.stylegan2.export import StaticModulatedConv
from facert.export.families.stylegan2.net import ModulatedConv2d as CleanModulatedConv2d
from facert.export.precision.policy import Precision, cast


def clean_modulated_conv(source: gpen.ModulatedConv2d) -> CleanModulatedConv2d:
    """``source`` in the clean parametrisation (equalized-LR scales folded in), without upsampling."""
    with torch.device("meta"):
        clean = CleanModulatedConv2d(
            source.in_channels,
            source.out_channels,
            source.kernel_size,
            source.modulation.weight.shape[1],
            demodulate=source.demodulate,
            eps=source.eps,
        )
    clean = clean.to_empty(device=source.weight.device)
    modulation = source.modulation
    with torch.no_grad():
        clean.weight.copy_(source.weight * source.scale)
        clean.modulation.weight.copy_(modulation.weight * modulation.scale)
        clean.modulation.bias.copy_(modulation.bias * modulation.lr_mul)
    return clean


def depthwise_kernel(kernel: torch.Tensor, channels: int, flip: bool) -> torch.Tensor:
    """A stored (4, 4) kernel as a depthwise weight (channels, 1, 4, 4), flipped for correlation."""
    kernel = torch.flip(kernel, [0, 1]) if flip else kernel
    return kernel.detach().expand(channels, 1, *kernel.shape).clone()


def depthwise_blur(x: torch.Tensor, weight: torch.Tensor, pad: tuple[int, int]) -> torch.Tensor:
    """Depthwise conv of x (N, C, H, W) with ``weight`` (C, 1, 4, 4) after zero padding ``pad``."""
    if pad[0] != pad[1]:
        x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
        return F.conv2d(x, weight, groups=x.shape[1])
    return F.conv2d(x, weight, padding=pad[0], groups=x.shape[1])


class StaticUpsamplingConv(StaticModulatedConv):
    """GPEN's upsampling modulated conv: scaled input, stride-2 ConvTranspose, output scale, blur."""

    def __init__(
        self,
        source: gpen.ModulatedConv2d,
        precision: Precision,
        gain: float,
        rescale_styles: bool,
    ) -> None:
        super().__init__(clean_modulated_conv(source), precision, gain, rescale_styles)
        # ConvTranspose weights are (C_in, C_out, k, k).
        self.weight = nn.Parameter(self.weight.detach().transpose(0, 1).contiguous())
        self.blur_pad = source.blur.pad
        self.register_buffer(
            "blur", depthwise_kernel(source.blur.kernel, source.out_channels, True)
        )

    def forward(self, x: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """x (N or 1, C_in, H, W), latent (N, F) -> (N, C_out, 2H, 2W)."""
        in_scale, out_scale = self.style_scales(latent, x.dtype)
        out = F.conv_transpose2d(x * in_scale, self.weight, stride=2) * out_scale
        return depthwise_blur(out, self.blur, self.blur_pad)


class StaticStyledConv(nn.Module):
    """LeakyReLU(cat([modconv x sqrt2, sqrt2 x strength x feature]) + sqrt2 x bias)."""

    def __init__(self, source: gpen.StyledConv, precision: Precision, rescale_styles: bool) -> None:
        super().__init__()
        conv = source.conv
        self.modulated_conv: nn.Module = (
            StaticUpsamplingConv(conv, precision, ACTIVATION_GAIN, rescale_styles)
            if conv.upsample
            else StaticModulatedConv(
                clean_modulated_conv(conv), precision, ACTIVATION_GAIN, rescale_styles
            )
        )
        self.register_buffer("feature_gain", source.noise.weight.detach() * ACTIVATION_GAIN)
        bias = source.activate.bias.detach() * ACTIVATION_GAIN
        self.bias = nn.Parameter(bias.view(1, -1, 1, 1).clone())

    def forward(self, x: torch.Tensor, latent: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
        out = torch.cat([self.modulated_conv(x, latent), self.feature_gain * feature], dim=1)
        return F.leaky_relu(out + self.bias, LEAKY_SLOPE)


class StaticToRGB(nn.Module):
    """Modulated 1x1 conv + bias, plus the skip upsampled by a depthwise ConvTranspose."""

    def __init__(self, source: gpen.ToRGB, precision: Precision, rescale_styles: bool) -> None:
        super().__init__()
        self.modulated_conv = StaticModulatedConv(
            clean_modulated_conv(source.conv), precision, 1.0, rescale_styles
        )
        self.bias = nn.Parameter(source.bias.detach().clone())
        upsample = getattr(source, "upsample", None)
        if upsample is not None:  # upfirdn2d(up=2, pad=(2, 1)) == ConvTranspose(stride 2, pad 1)
            self.register_buffer("upsample", depthwise_kernel(upsample.kernel, 3, False))

    def forward(
        self, x: torch.Tensor, latent: torch.Tensor, skip: torch.Tensor | None = None
    ) -> torch.Tensor:
        out = self.modulated_conv(x, latent) + self.bias
        if skip is None:
            return out
        return out + F.conv_transpose2d(skip, self.upsample, stride=2, padding=1, groups=3)


class StaticEncoderConv(nn.Module):
    """A :class:`ConvLayer`: [blur] conv (weight x scale x sqrt2, bias x sqrt2), LeakyReLU."""

    def __init__(self, source: ConvLayer) -> None:
        super().__init__()
        *blurs, conv, activate = list(source)
        self.conv = nn.Conv2d(
            conv.weight.shape[1],
            conv.weight.shape[0],
            conv.weight.shape[2],
            stride=conv.stride,
            padding=conv.padding,
        )
        with torch.no_grad():
            self.conv.weight.copy_(conv.weight * (conv.scale * ACTIVATION_GAIN))
            self.conv.bias.copy_(activate.bias * ACTIVATION_GAIN)
        self.has_blur = bool(blurs)  # downsampling layers blur first
        self.blur_pad = blurs[0].pad if blurs else (0, 0)
        if blurs:
            channels = conv.weight.shape[1]
            self.register_buffer("blur", depthwise_kernel(blurs[0].kernel, channels, True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.has_blur:
            x = depthwise_blur(x, self.blur, self.blur_pad)
        return F.leaky_relu(self.conv(x), LEAKY_SLOPE)


def folded_linear(source: EqualLinear) -> nn.Linear:
    """An activated :class:`EqualLinear` as nn.Linear with its scales and sqrt(2) folded in."""
    linear = nn.Linear(source.weight.shape[1], source.weight.shape[0])
    with torch.no_grad():
        linear.weight.copy_(source.weight * (source.scale * ACTIVATION_GAIN))
        linear.bias.copy_(source.bias * (source.lr_mul * ACTIVATION_GAIN))
    return linear


class StaticMapping(nn.Module):
    """final_linear, PixelNorm, the style MLP (all activated), computed in ``precision.pinned``."""

    def __init__(
        self, final_linear: EqualLinear, style_mlp: list[EqualLinear], precision: Precision
    ) -> None:
        super().__init__()
        self.final_linear = folded_linear(final_linear)
        self.style_mlp = nn.ModuleList(folded_linear(layer) for layer in style_mlp)
        self.pinned = precision.pinned

    def _layer(self, x: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
        weight, bias = cast(linear.weight, self.pinned), cast(linear.bias, self.pinned)
        return F.leaky_relu(F.linear(x, weight, bias), LEAKY_SLOPE)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """The encoder's last features (N, C, 4, 4) -> style w (N, style_dim) in the pinned dtype."""
        x = self._layer(cast(features.flatten(1), self.pinned), self.final_linear)
        x = x * torch.rsqrt(torch.mean(x.square(), dim=1, keepdim=True) + 1e-8)
        for linear in self.style_mlp:
            x = self._layer(x, linear)
        return x
