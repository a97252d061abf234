"""Deployable StyleGAN2 clean blocks: static conv weights, free batch, stored noise, FP16-safe styles.

The official modulated conv builds per-sample weights at run time and folds the batch into conv
groups, which TensorRT handles poorly and which fixes the batch size. Here the same function is
computed as *input scaling x static-weight conv x output scaling*:

    y = conv(x * s', W) * g,   s' = s / c,   c = max_i |s_i|  (per sample)
    g = gain * rsqrt(s'^2 @ sum_kk(W^2)^T + eps / c^2)   with demodulation,   g = gain * c   without

which equals the official ``conv(x, W * s * rsqrt(sum (W * s)^2 + eps)) * gain`` exactly (scaling
the style by 1/c cancels under demodulation, eps included). The style path (modulation, c, the
demodulation sums and rsqrt) runs in ``pinned_dtype`` (FP32 in an FP16 build; the modulation layers'
parameters stay there, see :func:`facert.export.precision.policy.apply_precision`): squared styles
would overflow float16 and eps = 1e-8 underflows it. Dividing by c keeps ``x * s'`` within the
input's range, so no float16 activation grows because a style is large.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facert.export.families.stylegan2.net import (
    LEAKY_SLOPE,
    ModulatedConv2d,
    StyleConv,
    ToRGB,
    upsample2x,
)
from facert.export.precision.policy import Precision, cast

STYLE_FLOOR = 1e-12  # c for an all-zero style: keeps s' = 0 instead of 0/0


class StaticModulatedConv(nn.Module):
    """A :class:`ModulatedConv2d` as input scaling x static conv x output scaling (see module doc)."""

    def __init__(
        self,
        source: ModulatedConv2d,
        precision: Precision,
        gain: float = 1.0,
        rescale_styles: bool = True,
    ) -> None:
        super().__init__()
        weight = source.weight.detach()[0].clone()
        self.weight = nn.Parameter(weight)  # (C_out, C_in, k, k)
        self.register_buffer("weight_square_sums", weight.pow(2).sum((2, 3)))  # (C_out, C_in)
        self.modulation = nn.Linear(source.modulation.in_features, source.modulation.out_features)
        self.modulation.load_state_dict(source.modulation.state_dict())
        self.demodulate = source.demodulate
        self.upsample = source.upsample
        self.eps = source.eps
        self.padding = source.kernel_size // 2
        self.gain = gain
        self.pinned_dtype = precision.pinned
        self.rescale_styles = rescale_styles

    def style_scales(self, latent: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
        """latent (N, F) -> input scale s' (N, C_in, 1, 1) and output scale g (N, C_out or 1, 1, 1).

        Computed in the pinned dtype, returned in ``dtype`` (the activations').
        """
        pinned = self.pinned_dtype
        style = F.linear(
            cast(latent, pinned),
            cast(self.modulation.weight, pinned),
            cast(self.modulation.bias, pinned),
        )
        if self.rescale_styles:
            peak = style.abs().amax(dim=1, keepdim=True).clamp_min(STYLE_FLOOR)
            style = style / peak
        else:  # the naive form, kept to show what the rescaling prevents
            peak = torch.ones_like(style[:, :1])
        if self.demodulate:
            square_sums = F.linear(style.square(), cast(self.weight_square_sums, pinned))
            out_scale = torch.rsqrt(square_sums + self.eps / peak.square()) * self.gain
        else:
            out_scale = peak * self.gain
        return cast(style, dtype)[:, :, None, None], cast(out_scale, dtype)[:, :, None, None]

    def forward(self, x: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """x (N or 1, C_in, H, W), latent (N, F) -> (N, C_out, H', W')."""
        in_scale, out_scale = self.style_scales(latent, x.dtype)
        x = x * in_scale
        if self.upsample:
            x = upsample2x(x)
        return F.conv2d(x, self.weight, padding=self.padding) * out_scale


class StaticStyleConv(nn.Module):
    """A :class:`StyleConv` with its stored noise map: LReLU(modconv x sqrt2 + strength x noise + bias)."""

    def __init__(
        self, source: StyleConv, noise: torch.Tensor, precision: Precision, rescale_styles: bool
    ) -> None:
        super().__init__()
        self.modulated_conv = StaticModulatedConv(
            source.modulated_conv, precision, gain=2**0.5, rescale_styles=rescale_styles
        )
        self.register_buffer("noise", (source.weight.detach() * noise).clone())  # (1, 1, H, W)
        self.bias = nn.Parameter(source.bias.detach().clone())  # (1, C_out, 1, 1)

    def forward(self, x: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        out = self.modulated_conv(x, latent) + self.noise
        return F.leaky_relu(out + self.bias, LEAKY_SLOPE)


class StaticToRGB(nn.Module):
    """A :class:`ToRGB`: modulated 1x1 conv (no demodulation) + bias (+ upsampled skip)."""

    def __init__(self, source: ToRGB, precision: Precision, rescale_styles: bool) -> None:
        super().__init__()
        self.modulated_conv = StaticModulatedConv(
            source.modulated_conv, precision, rescale_styles=rescale_styles
        )
        self.bias = nn.Parameter(source.bias.detach().clone())
        self.upsample = source.upsample

    def forward(
        self, x: torch.Tensor, latent: torch.Tensor, skip: torch.Tensor | None = None
    ) -> torch.Tensor:
        out = self.modulated_conv(x, latent) + self.bias
        if skip is not None:
            out = out + (upsample2x(skip) if self.upsample else skip)
        return out
