"""DFDNet's dictionary step in a static graph: fixed-size windows instead of box-sized crops.

The official code slices each part's box out of the feature map (a size known only at run time),
bilinearly resizes it to the dictionary entry size S, picks an entry and nearest-resizes it back.
Here each box is read into a window of fixed side ``window`` (the largest box side handled) by
one-hot matrices built from the box (``rows @ feature @ cols``: exact, every output is one input
times 1), so every shape is static and faces batch; inside the window:

- the bilinear resize (align_corners=False) of the box's h x w corner to S x S is a product with
  interpolation matrices computed from h and w with PyTorch's own index and weight formulas;
- the nearest resize of the chosen entry back to h x w likewise (PyTorch's ``nearest`` indices);
- the attention block runs on the window with everything outside the h x w corner set to zero
  before each convolution, which is what zero padding gives the official box-sized crop;
- the result goes back into the feature map through the transposed one-hot matrices.

The entry choice: the official score is ``conv2d(crop, AdaIN(dictionary, crop))``, softmax, argmax.
AdaIN gives entry k ``D^_k * std + mean`` (``D^``: each entry normalised by its own mean and
unbiased std, computed once at export); the score is then ``sum_c std_c <crop_c, D^_kc>`` plus a
term the same for every k, so the argmax is taken over the first sum (one matrix product, no
K x C x S x S tensor per face). Only near-ties (equal after float32 rounding) can choose differently.
A box wider or taller than the window is cut to the window (``x2 = x1 + window``); a box is also
kept inside the feature map and at least one cell wide.
"""

from __future__ import annotations

import torch
from torch import nn

from facert.export.families.dfdnet.net import calc_mean_std

LEAKY = 0.2


def bilinear_matrix(size: torch.Tensor, out: int, window: int) -> torch.Tensor:
    """(N, out, window) in ``size``'s dtype: row i interpolates entries 0..size-1 of a line onto
    output i, as ``F.interpolate(mode="bilinear", align_corners=False)`` from ``size`` (N,) to
    ``out``."""
    i = torch.arange(out, dtype=size.dtype).view(1, out, 1)
    r = torch.arange(window, dtype=size.dtype).view(1, 1, window)
    n = size.view(-1, 1, 1)
    ratio = n / out
    src = torch.clamp((i + 0.5) * ratio - 0.5, min=0.0)
    i0 = torch.minimum(torch.floor(src), n - 1)
    lam1 = torch.clamp(src - i0, 0.0, 1.0)
    i1 = torch.where(i0 < n - 1, i0 + 1, i0)
    same = (n == out).to(size.dtype)  # PyTorch copies when the sizes agree
    lam1 = lam1 * (1 - same)
    i0 = i0 * (1 - same) + i * same
    i1 = i1 * (1 - same) + i * same
    return (r == i0).to(size.dtype) * (1 - lam1) + (r == i1).to(size.dtype) * lam1


def nearest_matrix(size: torch.Tensor, entry: int, window: int) -> torch.Tensor:
    """(N, window, entry) in ``size``'s dtype: row r < size picks entry
    ``min(floor(r * entry / size), entry - 1)`` (PyTorch's ``nearest``), rows from ``size`` on
    are zero."""
    r = torch.arange(window, dtype=size.dtype).view(1, window, 1)
    j = torch.arange(entry, dtype=size.dtype).view(1, 1, entry)
    n = size.view(-1, 1, 1)
    src = torch.minimum(torch.floor(r * (entry / n)), torch.full_like(n, entry - 1.0))
    return (j == src).to(size.dtype) * (r < n).to(size.dtype)


def shift_matrix(start: torch.Tensor, window: int, length: int) -> torch.Tensor:
    """(N, window, length) in ``start``'s dtype: row r is one-hot at ``start + r`` (zero past
    the end)."""
    r = torch.arange(window, dtype=start.dtype).view(1, window, 1)
    y = torch.arange(length, dtype=start.dtype).view(1, 1, length)
    return (y == start.view(-1, 1, 1) + r).to(start.dtype)


class EntryChoice(nn.Module):
    """The argmax over the scores (N, K) -> (N,) int64; a module of its own so that a forward
    hook can read the entries chosen (the precision checks count the choices that flip)."""

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        return torch.argmax(scores, dim=1)


class PartMatch(nn.Module):
    """One part at one feature scale: ``normalized`` (K, C, S, S) the dictionary with each entry
    normalised by its own mean and unbiased std (AdaIN's content side); ``attention`` the
    official block's two convolutions (spectral norm folded); ``window`` the box side handled."""

    def __init__(self, dictionary: torch.Tensor, conv1: nn.Conv2d, conv2: nn.Conv2d, window: int):
        super().__init__()
        mean, std = calc_mean_std(dictionary)
        normalized = (dictionary - mean) / std
        self.register_buffer("normalized", normalized.contiguous())
        k, c, s, _ = normalized.shape
        self.register_buffer("flat", normalized.reshape(k, c, s * s).permute(1, 2, 0).contiguous())
        self.conv1, self.conv2 = conv1, conv2
        self.window, self.side = window, s
        self.choose = EntryChoice()

    def forward(
        self, feature: torch.Tensor, target: torch.Tensor, box: torch.Tensor
    ) -> torch.Tensor:
        """``target`` with this part of ``feature`` (N, C, H, W; the unchanged VGG feature: every
        part reads it) written in; ``box`` (N, 4) at this scale."""
        n, c, height, width = feature.shape
        x1 = torch.clamp(box[:, 0], 0.0, width - 1.0)
        y1 = torch.clamp(box[:, 1], 0.0, height - 1.0)
        x2 = torch.minimum(torch.clamp(box[:, 2], max=float(width)), x1 + self.window)
        y2 = torch.minimum(torch.clamp(box[:, 3], max=float(height)), y1 + self.window)
        w, h = (
            torch.maximum(x2 - x1, torch.ones_like(x1)),
            torch.maximum(y2 - y1, torch.ones_like(y1)),
        )
        rows, cols = shift_matrix(y1, self.window, height), shift_matrix(x1, self.window, width)
        window = rows.unsqueeze(1) @ feature @ cols.transpose(1, 2).unsqueeze(1)
        r = torch.arange(self.window, dtype=box.dtype).view(1, self.window)
        row_in = (r < h.view(-1, 1)).to(box.dtype).view(n, 1, self.window, 1)
        col_in = (r < w.view(-1, 1)).to(box.dtype).view(n, 1, 1, self.window)
        inside = row_in * col_in
        crop = window * inside
        s = self.side
        down_r = bilinear_matrix(h, s, self.window).unsqueeze(1)
        down_c = bilinear_matrix(w, s, self.window).unsqueeze(1)
        resized = down_r @ crop @ down_c.transpose(2, 3)  # (N, C, S, S)
        flat = resized.reshape(n, c, 1, s * s)
        variance = flat.var(3, keepdim=True) + 1e-5
        mean, std = flat.mean(3, keepdim=True), variance.sqrt()  # (N, C, 1, 1)
        scores = ((flat @ self.flat) * std).sum(1).reshape(n, -1)  # (N, K), up to a constant
        index = self.choose(scores)
        entry = self.normalized.index_select(0, index) * std + mean  # (N, C, S, S)
        up_r = nearest_matrix(h, s, self.window).unsqueeze(1)
        up_c = nearest_matrix(w, s, self.window).unsqueeze(1)
        swap = up_r @ entry @ up_c.transpose(2, 3)  # (N, C, window, window), zero outside
        hidden = nn.functional.leaky_relu(self.conv1(swap - crop), LEAKY) * inside
        value = (self.conv2(hidden) * swap + crop) * inside
        placed = rows.transpose(1, 2).unsqueeze(1) @ value @ cols.unsqueeze(1)
        covered = rows.transpose(1, 2).unsqueeze(1) @ inside @ cols.unsqueeze(1)
        return target * (1 - covered) + placed
