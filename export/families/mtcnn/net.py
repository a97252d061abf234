"""MTCNN's three networks (P-Net, R-Net, O-Net) as torch modules.

The layer names, shapes and the flattening order match the state dicts that ship in the
facenet-pytorch 2.6.0 wheel (``facenet_pytorch/data/{pnet,rnet,onet}.pt``, converted from the
original Caffe/TensorFlow MTCNN), so those files load unchanged with ``strict=True``.

Every network takes ``(N, 3, H, W)`` float32 RGB normalised as ``(pixel - 127.5) / 128`` (range
about [-1, 1]). R-Net needs H = W = 24, O-Net H = W = 48; P-Net takes any size of at least 12.
Outputs, all float32:

- P-Net: ``offsets`` (N, 4, h, w) and ``probabilities`` (N, 2, h, w), one cell per 12x12 window at
  stride 2 (h = ceil((H - 2) / 2) - 4), channel 1 of ``probabilities`` being the face probability;
- R-Net: ``offsets`` (N, 4) and ``probabilities`` (N, 2);
- O-Net: ``offsets`` (N, 4), ``landmarks`` (N, 10) (five x then five y, as fractions of the box) and
  ``probabilities`` (N, 2).

The dense layers of R-Net and O-Net read the feature map in (N, W, H, C) order, the layout the
original weights were trained with; :func:`flatten_whc` does that.

The graphs are traced from :func:`export_form`, where the PReLUs on feature maps are written as
:class:`SplitPReLU` and R-Net's first layer is padded to 32 channels (:func:`pad_first_layer`):
the same numbers, in a form ONNX Runtime runs much faster.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


def flatten_whc(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, W * H * C), the element order the original dense weights expect."""
    return features.permute(0, 3, 2, 1).flatten(1)


class PNet(nn.Module):
    """Proposal network: fully convolutional, a 12x12 receptive field at stride 2."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, H, W) -> offsets (N, 4, h, w), probabilities (N, 2, h, w)."""
        x = self.pool1(self.prelu1(self.conv1(image)))
        x = self.prelu2(self.conv2(x))
        x = self.prelu3(self.conv3(x))
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), dim=1)


class RNet(nn.Module):
    """Refinement network on 24x24 crops."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, 24, 24) -> offsets (N, 4), probabilities (N, 2)."""
        x = self.pool1(self.prelu1(self.conv1(crops)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        x = self.prelu4(self.dense4(flatten_whc(x)))
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), dim=1)


class ONet(nn.Module):
    """Output network on 48x48 crops: final box, five landmarks, face probability."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, 3, 48, 48) -> offsets (N, 4), landmarks (N, 10), probabilities (N, 2)."""
        x = self.pool1(self.prelu1(self.conv1(crops)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(flatten_whc(x)))
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), dim=1)


NETWORKS: dict[str, type[nn.Module]] = {"pnet": PNet, "rnet": RNet, "onet": ONet}


class SplitPReLU(nn.Module):
    """``nn.PReLU`` on (N, C, H, W) maps written as ``relu(x) + (-a) * relu(-x)``: bit for bit the
    same numbers (each output is ``x`` or ``a * x``, rounded once), with the two per-channel scales
    as depthwise 1x1 convolutions.

    Why: ONNX Runtime's CPU provider runs these networks' convolutions in its blocked NCHWc layout,
    where ReLU and depthwise convolutions stay (fused with the convolution before them and with the
    sum), but a PRelu node sends the map back to NCHW and through a slow broadcasting kernel. CPU
    time, 1 thread, busy machine: R-Net on 373 crops 45 -> 33 ms, P-Net on a 325x577 level 24 ->
    22 ms, O-Net on 40 crops 23 -> 15 ms.
    """

    def __init__(self, prelu: nn.PReLU) -> None:
        super().__init__()
        slopes = prelu.weight.detach().reshape(-1, 1, 1, 1)
        self.register_buffer("negate", -torch.ones_like(slopes))
        self.register_buffer("negated_slopes", -slopes.clone())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C, H, W): ``x`` where ``x > 0``, else ``a[c] * x``."""
        channels = self.negate.shape[0]
        below = F.relu(F.conv2d(features, self.negate, groups=channels))
        return F.relu(features) + F.conv2d(below, self.negated_slopes, groups=channels)


BLOCK = 16  # channels per block of ONNX Runtime's NCHWc layout with AVX-512 (AVX2's 8 divides it)


def pad_first_layer(network: nn.Module) -> None:
    """Give ``conv1`` (and ``prelu1``, and ``conv2``'s input) a multiple of :data:`BLOCK` channels,
    the extra ones zero (zero weights, bias and slopes: they stay 0 and add 0), so ONNX Runtime
    keeps the first block's max-pool in its NCHWc layout too. R-Net (28 -> 32 channels): the same
    numbers bit for bit, 17.9 -> 14.8 ms of CPU time for 368 crops in batches of 16. P-Net (10 -> 16)
    gains nothing and its next convolution then sums in another order (~1e-6): it is left as is."""
    conv1, prelu1, conv2 = network.conv1, network.prelu1, network.conv2
    extra = -conv1.out_channels % BLOCK
    if not extra:
        return
    wide1 = nn.Conv2d(conv1.in_channels, conv1.out_channels + extra, conv1.kernel_size)
    wide2 = nn.Conv2d(conv2.in_channels + extra, conv2.out_channels, conv2.kernel_size)
    wide_prelu = nn.PReLU(conv1.out_channels + extra)
    with torch.no_grad():
        wide1.weight.copy_(F.pad(conv1.weight, (0, 0, 0, 0, 0, 0, 0, extra)))
        wide1.bias.copy_(F.pad(conv1.bias, (0, extra)))
        wide_prelu.weight.copy_(F.pad(prelu1.weight, (0, extra)))
        wide2.weight.copy_(F.pad(conv2.weight, (0, 0, 0, 0, 0, extra)))
        wide2.bias.copy_(conv2.bias)
    network.conv1, network.prelu1, network.conv2 = wide1, wide_prelu, wide2


def export_form(network: nn.Module) -> nn.Module:
    """A copy of ``network`` to trace: R-Net's first layer padded (:func:`pad_first_layer`), and
    every ``prelu<i>`` that follows ``conv<i>`` (a feature map) a :class:`SplitPReLU`; those after
    the dense layers (2-D inputs) stay ``nn.PReLU``."""
    form = copy.deepcopy(network)
    if isinstance(form, RNet):
        pad_first_layer(form)
    for name, child in list(form.named_children()):
        if name.startswith("prelu") and hasattr(form, "conv" + name.removeprefix("prelu")):
            setattr(form, name, SplitPReLU(child))
    return form.eval()
