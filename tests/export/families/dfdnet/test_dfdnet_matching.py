"""DFDNet's dictionary step in fixed windows (export form) against the official slicing, small sizes.

Tolerances: the resize matrices reproduce PyTorch's index and weight formulas; a bilinear output is
the same two-tap sums in another order, so it differs by float32 rounding (a few 1e-6 on unit
values); nearest and the window moves are one-hot products, exact.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from facert.export.families.dfdnet.layers import attention_block  # noqa: E402
from facert.export.families.dfdnet.matching import (  # noqa: E402
    PartMatch,
    bilinear_matrix,
    nearest_matrix,
)
from facert.export.families.dfdnet.net import dictionary_part  # noqa: E402
from facert.export.families.dfdnet.weights import dfdnet_state_dict  # noqa: E402
from facert.export.harness.fill import deterministic_state_dict  # noqa: E402


@pytest.mark.parametrize(
    ("size", "side"), [(44, 40), (36, 25), (65, 55), (5, 5), (4, 3), (23, 20), (9, 20), (12, 6)]
)
def test_resize_matrices_are_pytorchs_interpolate(size: int, side: int) -> None:
    window = size + 7
    generator = torch.Generator().manual_seed(size)
    crop = torch.randn(1, 3, size, size, generator=generator)
    padded = torch.zeros(1, 3, window, window)
    padded[:, :, :size, :size] = crop
    down = bilinear_matrix(torch.tensor([float(size)]), side, window).unsqueeze(1)
    expected = F.interpolate(crop, (side, side), mode="bilinear", align_corners=False)
    assert (down @ padded @ down.transpose(2, 3) - expected).abs().max() < 2e-5
    entry = torch.randn(1, 3, side, side, generator=generator)
    up = nearest_matrix(torch.tensor([float(size)]), side, window).unsqueeze(1)
    swapped = up @ entry @ up.transpose(2, 3)
    assert torch.equal(swapped[:, :, :size, :size], F.interpolate(entry, (size, size)))
    assert not swapped[:, :, size:].any() and not swapped[:, :, :, size:].any()


def _block(channels: int) -> torch.nn.Sequential:
    block = attention_block(channels)
    block.load_state_dict(dfdnet_state_dict(deterministic_state_dict(block)))
    return block.eval()


def test_part_match_writes_what_the_official_slicing_writes_in_a_batch() -> None:
    generator = torch.Generator().manual_seed(0)
    channels, side, length = 8, 6, 32
    entries = torch.randn(5, channels, side, side, generator=generator)
    block = _block(channels)
    from facert.export.families.dfdnet.export import fold_spectral_norm

    folded = fold_spectral_norm(block)
    match = PartMatch(entries, folded[0], folded[2], window=14)
    feature = torch.randn(3, channels, length, length, generator=generator)
    target = torch.randn(3, channels, length, length, generator=generator)
    boxes = torch.tensor([[3.0, 5.0, 15.0, 13.0], [20.0, 0.0, 32.0, 6.0], [0.0, 30.0, 9.0, 40.0]])
    with torch.no_grad():
        got = match(feature, target, boxes)
        for row, (x1, y1, x2, y2) in enumerate(boxes.int().tolist()):
            y2 = min(y2, length)
            expected = target[row : row + 1].clone()
            crop = feature[row : row + 1, :, y1:y2, x1:x2]
            expected[:, :, y1:y2, x1:x2] = dictionary_part(crop, entries, block)
            assert (got[row : row + 1] - expected).abs().max() < 1e-5
