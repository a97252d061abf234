"""RetinaFace's two backbones, with the key names of facexlib's checkpoints.

facexlib wraps each backbone in torchvision's ``IntermediateLayerGetter`` under ``body``, which
keeps the children up to the last returned one, so the classifier heads (ResNet-50's ``avgpool``
and ``fc``, MobileNet's ``avg`` and ``fc``) are not in the checkpoints and not here.

- :class:`ResNet50`: torchvision's ``resnet50`` (v1.5: the stride sits on each first bottleneck's
  3x3 conv), written here so the export needs no torchvision. Returns layer2, layer3, layer4
  (512, 1024, 2048 channels at strides 8, 16, 32).
- :class:`MobileNet025`: the MobileNetV1 x0.25 of biubug6/Pytorch_Retinaface (LeakyReLU 0.1
  everywhere). Returns stage1, stage2, stage3 (64, 128, 256 channels at strides 8, 16, 32).

Every convolution is bias-free and followed by a BatchNorm (eval mode: running statistics).
"""

from __future__ import annotations

import torch
from torch import nn

MOBILENET_SLOPE = 0.1  # LeakyReLU slope of every MobileNet-0.25 layer


def conv_norm(
    inputs: int, outputs: int, kernel: int, stride: int = 1, groups: int = 1
) -> list[nn.Module]:
    """A bias-free ``kernel`` x ``kernel`` conv (padding kernel // 2) and its BatchNorm."""
    conv = nn.Conv2d(inputs, outputs, kernel, stride, kernel // 2, groups=groups, bias=False)
    return [conv, nn.BatchNorm2d(outputs)]


def conv_norm_act(
    inputs: int, outputs: int, kernel: int, stride: int, slope: float
) -> nn.Sequential:
    """conv + BatchNorm + LeakyReLU(``slope``) as one Sequential (keys ``0.*``, ``1.*``)."""
    return nn.Sequential(*conv_norm(inputs, outputs, kernel, stride), nn.LeakyReLU(slope))


class Bottleneck(nn.Module):
    """torchvision's Bottleneck: 1x1, 3x3 (stride), 1x1 (x4), identity or projected shortcut."""

    def __init__(self, inputs: int, width: int, stride: int) -> None:
        super().__init__()
        outputs = width * 4
        self.conv1, self.bn1 = conv_norm(inputs, width, 1)
        self.conv2, self.bn2 = conv_norm(width, width, 3, stride)
        self.conv3, self.bn3 = conv_norm(width, outputs, 1)
        self.downsample = (
            nn.Sequential(*conv_norm(inputs, outputs, 1, stride))
            if stride != 1 or inputs != outputs
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return torch.relu(out + identity)


def resnet_layer(inputs: int, width: int, blocks: int, stride: int) -> nn.Sequential:
    layers = [Bottleneck(inputs, width, stride)]
    layers += [Bottleneck(width * 4, width, 1) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNet50(nn.Module):
    """ResNet-50's stem and four stages; ``forward`` returns the outputs of layers 2, 3 and 4."""

    out_channels = (512, 1024, 2048)

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = resnet_layer(64, 64, 3, 1)
        self.layer2 = resnet_layer(256, 128, 4, 2)
        self.layer3 = resnet_layer(512, 256, 6, 2)
        self.layer4 = resnet_layer(1024, 512, 3, 2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer1(nn.functional.max_pool2d(x, 3, 2, 1))
        c3 = self.layer2(x)
        c4 = self.layer3(c3)
        return [c3, c4, self.layer4(c4)]


def depthwise_separable(inputs: int, outputs: int, stride: int) -> nn.Sequential:
    """conv_dw: depthwise 3x3 + BN + LeakyReLU, pointwise 1x1 + BN + LeakyReLU (keys 0, 1, 3, 4)."""
    return nn.Sequential(
        *conv_norm(inputs, inputs, 3, stride, groups=inputs),
        nn.LeakyReLU(MOBILENET_SLOPE),
        *conv_norm(inputs, outputs, 1),
        nn.LeakyReLU(MOBILENET_SLOPE),
    )


class MobileNet025(nn.Module):
    """MobileNetV1 x0.25's three stages; ``forward`` returns the output of each."""

    out_channels = (64, 128, 256)

    def __init__(self) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(
            conv_norm_act(3, 8, 3, 2, MOBILENET_SLOPE),
            depthwise_separable(8, 16, 1),
            depthwise_separable(16, 32, 2),
            depthwise_separable(32, 32, 1),
            depthwise_separable(32, 64, 2),
            depthwise_separable(64, 64, 1),
        )
        self.stage2 = nn.Sequential(
            depthwise_separable(64, 128, 2), *(depthwise_separable(128, 128, 1) for _ in range(5))
        )
        self.stage3 = nn.Sequential(
            depthwise_separable(128, 256, 2), depthwise_separable(256, 256, 1)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        c3 = self.stage1(x)
        c4 = self.stage2(c3)
        return [c3, c4, self.stage3(c4)]
