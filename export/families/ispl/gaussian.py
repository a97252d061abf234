"""A Gaussian blur whose width differs per image of the batch, as plain matrix products.

ISPL's forward operator ``k *`` is a separable Gaussian of run-time width ``sigma`` (N,). A grouped
convolution with one kernel per image (``groups=N``) would tie the graph to the batch size; an FFT
(ONNX ``DFT``) is slow on ONNX Runtime's CPU provider (about 110 ms for one forward and inverse
transform of a (1, 3, 512, 512) image on 2 threads). Instead each 1-D pass is a block-Toeplitz matrix
product: the signal is cut into blocks of ``BLOCK`` samples and each output block is the sum of three
(BLOCK x BLOCK) matrices applied to the input blocks before, at and after it; the matrices are built
in the graph from each image's ``sigma``, so one batched ``MatMul`` serves any mix of widths.

The image is extended by half-sample symmetry (``c b a | a b c | c b a``). With that extension and a
symmetric kernel the blur matrix is symmetric and doubly stochastic: it is its own adjoint and its
norm is at most 1, which is what FISTA's gradient step (step size 1) needs.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from facert.export.families.weightfree.wavelets import fixed_shape

BLOCK = 32  # samples per block; the kernel radius is BLOCK, so sigma is capped at BLOCK / 3
MAX_SIGMA = BLOCK / 3.0
MIN_SIGMA = 0.05  # below this the kernel is a unit impulse in float32


class GaussianBlur(nn.Module):
    """``forward(image, sigma)``: (N, C, H, W) blurred by a Gaussian of std ``sigma`` (N,) pixels.

    H and W must be multiples of :data:`BLOCK`. ``sigma`` is clamped to [MIN_SIGMA, MAX_SIGMA].
    """

    def __init__(self) -> None:
        super().__init__()
        offsets = torch.arange(-BLOCK, BLOCK + 1, dtype=torch.float32)
        rows = torch.arange(BLOCK)[:, None]
        cols = torch.arange(BLOCK)[None, :]
        # Block m (0, 1, 2 = before, at, after) maps input sample p to output sample q with the tap
        # at offset p - q + (m - 1) * BLOCK; offsets beyond the radius select a zero tap.
        index = torch.stack([rows - cols + m * BLOCK for m in range(3)])  # tap offset + BLOCK
        index = torch.where((index >= 0) & (index <= 2 * BLOCK), index, 2 * BLOCK + 1)
        self.register_buffer("offsets", offsets, persistent=False)
        self.register_buffer("tap_index", index, persistent=False)  # (3, BLOCK, BLOCK)

    def matrices(self, sigma: Tensor) -> Tensor:
        """The three Toeplitz blocks of each image: (3, N, BLOCK, BLOCK), input index first."""
        width = sigma.clamp(MIN_SIGMA, MAX_SIGMA)[:, None]
        taps = torch.exp(-0.5 * (self.offsets[None, :] / width) ** 2)
        taps = taps / taps.sum(dim=1, keepdim=True)
        taps = torch.cat([taps, torch.zeros_like(taps[:, :1])], dim=1)  # the zero tap
        return torch.stack([taps[:, self.tap_index[m]] for m in range(3)])

    def forward(self, image: Tensor, sigma: Tensor) -> Tensor:
        return self.apply_matrices(image, self.matrices(sigma))

    def apply_matrices(self, image: Tensor, blocks: Tensor) -> Tensor:
        """Blur with precomputed :meth:`matrices` (reuse them across FISTA iterations)."""
        return _along_rows(_along_columns(image, blocks), blocks)


def _extend(image: Tensor, dim: int) -> Tensor:
    length = fixed_shape(image)[dim]
    head = image.narrow(dim, 0, BLOCK).flip(dim)
    tail = image.narrow(dim, length - BLOCK, BLOCK).flip(dim)
    return torch.cat([head, image, tail], dim=dim)


def _along_columns(image: Tensor, blocks: Tensor) -> Tensor:
    """Blur along x (the last axis): row vectors times the Toeplitz blocks."""
    _, channels, height, width = fixed_shape(image)
    count = width // BLOCK
    padded = _extend(image, 3).reshape(-1, channels, height, count + 2, BLOCK)
    matrices = blocks[:, :, None, None]  # (3, N, 1, 1, B, B)
    out = padded[:, :, :, 0:count] @ matrices[0]
    out = out + padded[:, :, :, 1 : count + 1] @ matrices[1]
    out = out + padded[:, :, :, 2 : count + 2] @ matrices[2]
    return out.reshape(-1, channels, height, width)


def _along_rows(image: Tensor, blocks: Tensor) -> Tensor:
    """Blur along y: the transposed Toeplitz blocks times column vectors."""
    _, channels, height, width = fixed_shape(image)
    count = height // BLOCK
    padded = _extend(image, 2).reshape(-1, channels, count + 2, BLOCK, width)
    matrices = blocks.transpose(2, 3)[:, :, None, None]
    out = matrices[0] @ padded[:, :, 0:count]
    out = out + matrices[1] @ padded[:, :, 1 : count + 1]
    out = out + matrices[2] @ padded[:, :, 2 : count + 2]
    return out.reshape(-1, channels, height, width)
