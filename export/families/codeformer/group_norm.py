"""Group normalisation written out so that ONNX Runtime computes it as accurately as PyTorch.

PyTorch exports ``F.group_norm`` as ONNX InstanceNormalization, and ONNX Runtime's CPU kernel (like
its ReduceMean) sums each group in order in float32: over a 4-channel 512x512 group (1M values) its
error is about 70x PyTorch's (5.8e-5 against 8.5e-7 on unit-variance data; measured), and the
centring amplifies an error of the mean by mean / std. Taking the means one dimension at a time
(rows of at most one image width) keeps ONNX Runtime at PyTorch's level.

Used by CodeFormer's export form (its VQGAN GroupNorms and the scaled generator's). Measured at full
size with the deterministic fill (outputs up to 54), 5 real faces at w = 0.5 and 1: ONNX Runtime
FP32 vs PyTorch up to 7.9e-3 with InstanceNormalization (export limit 1e-4 of the output scale,
0.0021-0.0054), 2.4e-4 written out, where ONNX Runtime and PyTorch are equally far from a float64
run. RestoreFormer keeps InstanceNormalization: its ORT error there is 8e-6 of the output scale.
"""

from __future__ import annotations

import torch
from torch import Tensor


def group_mean(grouped: Tensor) -> Tensor:
    """The mean of each group of ``grouped`` (N, G, C/G, H, W), one dimension at a time: the value
    of one mean over (2, 3, 4), as three short reductions."""
    return grouped.mean(dim=4, keepdim=True).mean(dim=3, keepdim=True).mean(dim=2, keepdim=True)


def group_norm(
    x: Tensor, num_groups: int, weight: Tensor, bias: Tensor, eps: float | Tensor
) -> Tensor:
    """``F.group_norm`` of ``x`` (N, C, H, W), written out with :func:`group_mean`, in ``x``'s
    dtype. ``eps`` may be a tensor broadcasting against (N, G, 1, 1, 1)."""
    # Sizes read from x (traced as Shape nodes), so the batch stays dynamic in the graph.
    grouped = x.reshape(x.shape[0], num_groups, -1, x.shape[2], x.shape[3])  # (N, G, C/G, H, W)
    centred = grouped - group_mean(grouped)
    variance = group_mean(centred.square())
    normed = (centred * torch.rsqrt(variance + eps)).reshape(x.shape)
    return normed * weight[:, None, None] + bias[:, None, None]
