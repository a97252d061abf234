"""DFDNet's layers (csxmli2016/DFDNet ``models/networks.py``), with the official state-dict names.

Spectral norm is folded the way PyTorch's ``spectral_norm`` computes it in eval mode: the stored
``weight_u`` and ``weight_v`` are used as they are (no power iteration) and the convolution runs
with ``weight_orig / sigma``, ``sigma = u . (W v)``, W = ``weight_orig`` as (out, in * k * k).
The official test script never calls ``eval()``, so there every call does one power iteration first
(and updates u, v for the next face): the spec's notes say so.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

LEAKY = 0.2


class SNConv2d(nn.Module):
    """A spectral-normed ``nn.Conv2d``: keys ``bias``, ``weight_orig``, ``weight_u``, ``weight_v``
    (that order, as ``torch.nn.utils.spectral_norm`` leaves them)."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, padding: int = 1, dilation: int = 1):
        super().__init__()
        self.padding, self.dilation = padding, dilation
        self.bias = nn.Parameter(torch.zeros(cout))
        self.weight_orig = nn.Parameter(torch.zeros(cout, cin, kernel, kernel))
        self.register_buffer("weight_u", torch.zeros(cout))
        self.register_buffer("weight_v", torch.zeros(cin * kernel * kernel))

    def weight(self) -> torch.Tensor:
        """``weight_orig / sigma`` from the stored u, v (eval-mode spectral norm)."""
        w = self.weight_orig
        sigma = torch.dot(self.weight_u, torch.mv(w.reshape(w.shape[0], -1), self.weight_v))
        return w / sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight(), self.bias, padding=self.padding, dilation=self.dilation)


def attention_block(channels: int) -> nn.Sequential:
    """The official ``AttentionBlock``: SN-conv, LeakyReLU(0.2), SN-conv (keys ``0`` and ``2``)."""
    return nn.Sequential(
        SNConv2d(channels, channels), nn.LeakyReLU(LEAKY), SNConv2d(channels, channels)
    )


def conv_u(channels: int, dilation: int) -> nn.Sequential:
    """The official ``convU`` (in = out channels, 3 x 3, dilated)."""
    return nn.Sequential(
        SNConv2d(channels, channels, padding=dilation, dilation=dilation),
        nn.LeakyReLU(LEAKY),
        SNConv2d(channels, channels, padding=dilation, dilation=dilation),
    )


class MSDilateBlock(nn.Module):
    """Four dilated ``convU`` branches concatenated, an SN-conv, plus the input."""

    def __init__(self, channels: int, dilation: tuple[int, ...] = (4, 3, 2, 1)) -> None:
        super().__init__()
        self.conv1 = conv_u(channels, dilation[0])
        self.conv2 = conv_u(channels, dilation[1])
        self.conv3 = conv_u(channels, dilation[2])
        self.conv4 = conv_u(channels, dilation[3])
        self.convi = SNConv2d(channels * 4, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.conv1(x), self.conv2(x), self.conv3(x), self.conv4(x)]
        return self.convi(torch.cat(branches, 1)) + x


class Blur(nn.Module):
    """The official ``Blur``: a fixed depthwise [1 2 1] x [1 2 1] / 16 filter (buffers ``weight``
    and ``weight_flip``, the latter used only by the official backward pass)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        kernel = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16.0
        kernel = kernel.view(1, 1, 3, 3).repeat(channels, 1, 1, 1)
        self.register_buffer("weight", kernel)
        self.register_buffer("weight_flip", torch.flip(kernel, [2, 3]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, padding=1, groups=x.shape[1])


class Upsample2x(nn.Module):
    """``nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class StyledUpBlock(nn.Module):
    """The official ``StyledUpBlock`` (upsample=False): blur, SN-conv, LeakyReLU(0.2) twice in a
    row (``conv1``'s own and ``lrelu1``), SFT with the updated VGG feature (``out * Scale +
    Shift``, Shift through a Sigmoid), then 2x bilinear up, SN-conv, LeakyReLU(0.2)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(Blur(cin), SNConv2d(cin, cout), nn.LeakyReLU(LEAKY))
        self.convup = nn.Sequential(Upsample2x(), SNConv2d(cout, cout), nn.LeakyReLU(LEAKY))
        self.lrelu1 = nn.LeakyReLU(LEAKY)
        self.ScaleModel1 = nn.Sequential(
            SNConv2d(cin, cout), nn.LeakyReLU(LEAKY), SNConv2d(cout, cout)
        )
        self.ShiftModel1 = nn.Sequential(
            SNConv2d(cin, cout), nn.LeakyReLU(LEAKY), SNConv2d(cout, cout), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        out = self.lrelu1(self.conv1(x))
        out = out * self.ScaleModel1(style) + self.ShiftModel1(style)
        return self.convup(out)


class UpResBlock(nn.Module):
    """``x + conv(LeakyReLU(conv(x)))`` with plain convs (keys ``Model.0`` and ``Model.2``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.Model = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1),
            nn.LeakyReLU(LEAKY),
            nn.Conv2d(channels, channels, 3, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.Model(x)


VGG19_LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M")
VGG19_LAYERS += (512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
VGG_SPLITS = (0, 8, 17, 26, 35)  # the official feature_layers


def vgg19_features() -> list[nn.Module]:
    """torchvision's ``vgg19().features`` layers (37: conv, ReLU and max-pool), not in place."""
    layers: list[nn.Module] = []
    channels = 3
    for item in VGG19_LAYERS:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU()]
            channels = int(item)
    return layers


class VGGFeat(nn.Module):
    """The official ``VGGFeat`` as used: keys ``RGB_mean``, ``RGB_std`` and ``features.{i}.{j}``.

    Returns the outputs of layers 0-7, 8-16, 17-25 and 26-34 of VGG19's features, at 1/2 ... 1/16
    of the input: conv2_2, conv3_4, conv4_4 and conv5_4. torchvision's ReLUs are in place, so in
    the official code the ReLU that starts each next slice also rectifies the previous slice's
    output: the first three taps are in effect relu2_2, relu3_4 and relu4_4, conv5_4 stays
    pre-ReLU. This port applies those ReLUs explicitly.
    """

    def __init__(self) -> None:
        super().__init__()
        layers = vgg19_features()
        self.features = nn.ModuleList()
        for start, end in itertools.pairwise(VGG_SPLITS):
            block = nn.Sequential()
            for j in range(start, end):
                block.add_module(str(j), layers[j])
            self.features.append(block)
        self.RGB_mean = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.RGB_std = nn.Parameter(torch.ones(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x (N, 3, 512, 512) RGB [-1, 1] -> the four taps (see the class docstring)."""
        x = ((x + 1) / 2 - self.RGB_mean) / self.RGB_std
        taps = []
        for block in self.features:
            x = block(x)
            taps.append(x)
        return [F.relu(t) for t in taps[:3]] + [taps[3]]
