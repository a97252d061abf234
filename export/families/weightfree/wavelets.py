"""Orthonormal 2-D discrete wavelet transform in torch, exportable to ONNX with a dynamic batch.

The transform is separable and periodic: one level filters the rows and then the columns with the
lowpass ``h`` and the highpass ``g[n] = (-1)^n h[L-1-n]`` of an orthonormal Daubechies-family filter,
keeping every second sample, with the signal wrapped around at its end. With periodic extension the
analysis is an orthogonal matrix, so its transpose (a strided transposed convolution whose overhang is
folded back onto the start) is the exact inverse: reconstruction is perfect to rounding, and the
transform preserves energy, which is what makes soft thresholding the proximal step of ``||W x||_1``.

Layouts: images are (N, C, H, W) float32; H and W must be divisible by ``2 ** levels``. One level's
detail is (N, C, 3, H/2, W/2) with the bands in the order *horizontal* (lowpass along x, highpass
along y: horizontal edges), *vertical* (highpass along x), *diagonal* (highpass along both). Levels
are listed finest first.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Decomposition lowpass filters (orthonormal: sum h = sqrt 2, sum h[n] h[n + 2k] = delta_k).
LOWPASS_FILTERS: dict[str, tuple[float, ...]] = {
    "haar": (1 / math.sqrt(2), 1 / math.sqrt(2)),
    "db2": (
        (1 + math.sqrt(3)) / (4 * math.sqrt(2)),
        (3 + math.sqrt(3)) / (4 * math.sqrt(2)),
        (3 - math.sqrt(3)) / (4 * math.sqrt(2)),
        (1 - math.sqrt(3)) / (4 * math.sqrt(2)),
    ),
    "db3": (
        0.035226291882100656,
        -0.08544127388224149,
        -0.13501102001039084,
        0.4598775021193313,
        0.8068915093133388,
        0.3326705529509569,
    ),
    "sym4": (
        -0.07576571478927333,
        -0.02963552764599851,
        0.49761866763201545,
        0.8037387518059161,
        0.29785779560527736,
        -0.09921954357684722,
        -0.012603967262037833,
        0.0322231006040427,
    ),
}


def fixed_shape(tensor: Tensor) -> tuple[int, ...]:
    """The shape as plain ints: traced, they become constants instead of ``Shape`` ops in the graph.

    Only the batch axis of these graphs is dynamic, and every reshape here keeps it as ``-1``.
    """
    return tuple(int(size) for size in tensor.shape)


def filter_pair(wavelet: str) -> tuple[Tensor, Tensor]:
    """The (lowpass, highpass) decomposition filters of ``wavelet``, each (L,) float64."""
    if wavelet not in LOWPASS_FILTERS:
        known = ", ".join(LOWPASS_FILTERS)
        raise ValueError(f"unknown wavelet {wavelet!r}; known: {known}")
    lowpass = torch.tensor(LOWPASS_FILTERS[wavelet], dtype=torch.float64)
    signs = torch.tensor([(-1.0) ** n for n in range(len(lowpass))], dtype=torch.float64)
    return lowpass, signs * lowpass.flip(0)


class Wavelet2d(nn.Module):
    """Multi-level orthonormal 2-D DWT (:meth:`forward`) and its inverse (:meth:`inverse`)."""

    def __init__(self, wavelet: str = "db2", levels: int = 4) -> None:
        super().__init__()
        lowpass, highpass = filter_pair(wavelet)
        bank = torch.stack([lowpass, highpass]).float()  # (2, L)
        self.wavelet = wavelet
        self.levels = levels
        self.taps = bank.shape[1]
        self.register_buffer("along_x", bank[:, None, None, :].clone(), persistent=False)
        self.register_buffer("along_y", bank[:, None, :, None].clone(), persistent=False)

    def forward(self, image: Tensor) -> tuple[Tensor, list[Tensor]]:
        """(N, C, H, W) -> approximation (N, C, H/2^J, W/2^J) and J details, finest first."""
        details = []
        approximation = image
        for _ in range(self.levels):
            approximation, detail = self.analyse(approximation)
            details.append(detail)
        return approximation, details

    def inverse(self, approximation: Tensor, details: list[Tensor]) -> Tensor:
        """Rebuild the image from :meth:`forward`'s outputs (details finest first)."""
        image = approximation
        for detail in reversed(details):
            image = self.synthesise(image, detail)
        return image

    def analyse(self, image: Tensor) -> tuple[Tensor, Tensor]:
        """One level: (N, C, H, W) -> (N, C, H/2, W/2) approximation, (N, C, 3, H/2, W/2) detail."""
        _, channels, height, width = fixed_shape(image)
        overhang = self.taps - 2
        planes = image.reshape(-1, 1, height, width)
        planes = torch.cat([planes, planes[:, :, :, :overhang]], dim=3)
        rows = F.conv2d(planes, self.along_x, stride=(1, 2))  # (NC, 2, H, W/2): low, high in x
        rows = rows.reshape(-1, 1, height, width // 2)
        rows = torch.cat([rows, rows[:, :, :overhang, :]], dim=2)
        bands = F.conv2d(rows, self.along_y, stride=(2, 1))  # (2NC, 2, H/2, W/2): low, high in y
        bands = bands.reshape(-1, channels, 4, height // 2, width // 2)
        return bands[:, :, 0], bands[:, :, 1:]

    def synthesise(self, approximation: Tensor, detail: Tensor) -> Tensor:
        """The inverse of :meth:`analyse`: the transposed filter bank, overhang folded back."""
        _, channels, half_height, half_width = fixed_shape(approximation)
        height, width = 2 * half_height, 2 * half_width
        bands = torch.cat([approximation.unsqueeze(2), detail], dim=2)
        bands = bands.reshape(-1, 2, half_height, half_width)
        rows = F.conv_transpose2d(bands, self.along_y, stride=(2, 1))  # (2NC, 1, H + L - 2, W/2)
        rows = self._fold(rows, height, dim=2).reshape(-1, 2, height, half_width)
        planes = F.conv_transpose2d(rows, self.along_x, stride=(1, 2))  # (NC, 1, H, W + L - 2)
        planes = self._fold(planes, width, dim=3)
        return planes.reshape(-1, channels, height, width)

    def _fold(self, signal: Tensor, length: int, dim: int) -> Tensor:
        """Add the part of ``signal`` past ``length`` (along ``dim``) back onto its start."""
        overhang = self.taps - 2
        if overhang == 0:
            return signal
        head = signal.narrow(dim, 0, overhang) + signal.narrow(dim, length, overhang)
        return torch.cat([head, signal.narrow(dim, overhang, length - overhang)], dim=dim)


def soft_threshold(values: Tensor, threshold: Tensor) -> Tensor:
    """``sign(v) * max(|v| - t, 0)``: the proximal map of ``t * ||v||_1`` (``t`` broadcasts, >= 0)."""
    return torch.sign(values) * torch.relu(values.abs() - threshold)
