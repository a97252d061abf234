"""The k-th largest entry of each row, exportable to every backend: ``TopK`` only for small ``k``.

ONNX has no median operator, and TensorRT's ``TopK`` takes at most :data:`TOPK_LIMIT` as ``K``
(a median absolute deviation of a 256x256 wavelet band needs ``K`` = 32768). Above that limit the
entry is found by bisection on its value: ``low`` and ``high`` bracket it (at least ``k`` entries
are ``>= low``, fewer than ``k`` are ``>= high``), and each step counts the entries at or above a
pivot between them (a comparison and a sum over the row, independent per row, so any batch works)
and moves one bound to the pivot. The steps are unrolled, a fixed number:

1. :data:`EXPONENT_STEPS` pivots at the geometric mean of the bounds' magnitudes (0 while the bounds
   straddle it), which halves the bracket's ratio in octaves: from ``2 ** 64`` to about 2;
2. :data:`MANTISSA_STEPS` pivots at the arithmetic mean, which halve its width down to one float32
   spacing: ``low`` and ``high`` are then neighbouring floats, and ``low`` is the entry.

The result is snapped to the smallest entry ``>= low``, so it is always an entry of the row. It is
exact (equal to ``torch.topk(values, k).values[..., -1]``) for every row of float32 values below
``2 ** 126`` in magnitude whose k-th largest entry is the row's minimum, 0, or a normal float32
(at least ``FLOOR`` in magnitude); a subnormal one may come out as another entry less than
``FLOOR`` from it.
"""

from __future__ import annotations

import torch
from torch import Tensor

TOPK_LIMIT = 3840  # TensorRT's largest TopK K (ITopKLayer, TensorRT 10 and TensorRT for RTX 1.x)
EXPONENT_STEPS = 9  # one to find the sign, eight to take the ratio from 2**254 to 2
MANTISSA_STEPS = 25  # 24 halvings from a width <= |low| to one float32 spacing, one spare
FLOOR = 2.0**-126  # the smallest normal float32: the exponent steps' nearest magnitude to 0


def kth_largest(values: Tensor, k: int) -> Tensor:
    """The ``k``-th largest entry along the last axis (1-based): ``values`` (..., n) -> (...)."""
    if k <= TOPK_LIMIT:
        return torch.topk(values, k, dim=-1).values[..., -1]
    return bisected_kth_largest(values, k)


def bisected_kth_largest(values: Tensor, k: int) -> Tensor:
    """:func:`kth_largest` by bisection on the value, for any ``k`` (see the module doc)."""
    low = values.amin(dim=-1, keepdim=True)  # all n >= k entries are >= the minimum
    top = values.amax(dim=-1, keepdim=True)
    # Strictly above the maximum (|top| * 2**-22 is at least two float32 spacings of top), so
    # fewer than k entries are >= high from the start.
    high = top + top.abs() * 2.0**-22 + FLOOR
    for step in range(EXPONENT_STEPS + MANTISSA_STEPS):
        exponent = step < EXPONENT_STEPS
        pivot = _geometric_pivot(low, high) if exponent else low + (high - low) * 0.5
        enough = (values >= pivot).sum(dim=-1, keepdim=True, dtype=torch.float32) >= k
        low = torch.where(enough, pivot, low)
        high = torch.where(enough, high, pivot)
    above = torch.where(values >= low, values, torch.full_like(values, float("inf")))
    return above.amin(dim=-1)


def _geometric_pivot(low: Tensor, high: Tensor) -> Tensor:
    """Between ``low`` and ``high``: 0 if they straddle it, else the geometric mean of their
    magnitudes (the one nearer 0 raised to :data:`FLOOR`) with their sign."""
    near = torch.minimum(low.abs(), high.abs()).clamp_min(FLOOR)
    far = torch.maximum(low.abs(), high.abs())
    sign = (high > 0).to(low.dtype) - (low < 0).to(low.dtype)
    pivot = sign * near.sqrt() * far.sqrt()
    return torch.minimum(torch.maximum(pivot, low), high)  # rounding may step just outside
