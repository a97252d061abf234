"""The k-th largest entry of each row, exportable to every backend: ``TopK`` only for small ``k``.

ONNX has no median operator, and TensorRT's ``TopK`` takes at most :data:`TOPK_LIMIT` as ``K``
(a median absolute deviation of a 256x256 wavelet band needs ``K`` = 32768). Above that limit the
entry is found by a multi-way bisection on its value: ``low`` and ``high`` bracket it (at least
``k`` entries are ``>= low``, fewer than ``k`` are ``>= high``), and each step counts the entries at
or above several pivots between them at once (one broadcast comparison and a sum over the row,
independent per row, so any batch works), then takes the highest pivot with ``k`` entries above it
as ``low`` and the lowest without as ``high``. The steps are unrolled, a fixed number, each cutting
the bracket into :data:`SPLITS` parts:

1. :data:`EXPONENT_STEPS` with pivots spaced evenly in octaves between the bounds' magnitudes, of
   both signs, and 0: the sign, and the bracket's ratio from ``2 ** 254`` to below 2;
2. :data:`MANTISSA_STEPS` with pivots spaced evenly in value, down to one float32 spacing: ``low``
   and ``high`` are then neighbouring floats, and ``low`` is the entry.

Few wide steps rather than many halvings: 12 steps instead of 34 keep the graph small enough for
TensorRT's compiler (WIPA's whole-photo graph with 34 halvings per median did not finish building
in 20 minutes; with 12 steps it builds in seconds).

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
SPLITS = 8  # each step cuts the bracket into this many parts (SPLITS - 1 pivots, counted at once)
EXPONENT_STEPS = (
    3  # the sign, and the ratio from 2**254 to below 2, in octaves: 254 -> 32 -> 4 -> 0.5
)
MANTISSA_STEPS = (
    9  # 3 bits a step: from a width <= |low| to one float32 spacing (24 bits), one spare
)
FLOOR = 2.0**-126  # the smallest normal float32: the exponent steps' nearest magnitude to 0


def kth_largest(values: Tensor, k: int) -> Tensor:
    """The ``k``-th largest entry along the last axis (1-based): ``values`` (..., n) -> (...)."""
    if k <= TOPK_LIMIT:
        return torch.topk(values, k, dim=-1).values[..., -1]
    return bisected_kth_largest(values, k)


def bisected_kth_largest(values: Tensor, k: int) -> Tensor:
    """:func:`kth_largest` by multi-way bisection on the value, for any ``k`` (the module doc)."""
    low = values.amin(dim=-1, keepdim=True)  # all n >= k entries are >= the minimum
    top = values.amax(dim=-1, keepdim=True)
    # Strictly above the maximum (|top| * 2**-22 is at least two float32 spacings of top), so
    # fewer than k entries are >= high from the start.
    high = top + top.abs() * 2.0**-22 + FLOOR
    fractions = torch.arange(1, SPLITS, dtype=values.dtype) / SPLITS
    for step in range(EXPONENT_STEPS + MANTISSA_STEPS):
        if step < EXPONENT_STEPS:
            pivots = _geometric_pivots(low, high, fractions)
        else:
            pivots = low + (high - low) * fractions
        pivots = torch.minimum(torch.maximum(pivots, low), high)  # rounding may step outside
        counts = (values.unsqueeze(-2) >= pivots.unsqueeze(-1)).sum(dim=-1, dtype=torch.float32)
        enough = counts >= k  # (..., pivots): which pivots may become the new low
        low = torch.where(enough, pivots, low).amax(dim=-1, keepdim=True)
        high = torch.where(enough, high, pivots).amin(dim=-1, keepdim=True)
    above = torch.where(values >= low, values, torch.full_like(values, float("inf")))
    return above.amin(dim=-1)


def _geometric_pivots(low: Tensor, high: Tensor, fractions: Tensor) -> Tensor:
    """Pivots spaced evenly in octaves between the bracket's nearest and farthest magnitude
    (from :data:`FLOOR` when it straddles 0), with both signs, and 0: (..., 2 * len(fractions) + 1).
    Those outside the bracket are clamped by the caller; any pivot inside keeps the search right."""
    straddles = (low < 0) & (high > 0)
    near = torch.minimum(low.abs(), high.abs()).clamp_min(FLOOR)
    near = torch.where(straddles, torch.full_like(near, FLOOR), near)
    far = torch.maximum(torch.maximum(low.abs(), high.abs()), near)
    magnitudes = torch.exp(torch.log(near) + (torch.log(far) - torch.log(near)) * fractions)
    return torch.cat([-magnitudes, torch.zeros_like(near), magnitudes], dim=-1)
