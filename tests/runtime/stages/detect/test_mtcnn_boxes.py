"""The MTCNN cascade's box arithmetic against hand-worked values and plain-loop references."""

from __future__ import annotations

import numpy as np
import pytest

from facert.stages.detect import mtcnn_boxes as boxes_module
from facert.stages.detect.mtcnn_boxes import (
    band_input_rows,
    cell_grid,
    crop_windows,
    level_bands,
    nms,
    nms_min,
    place_landmarks,
    proposals,
    pyramid_scales,
    square,
)


def test_pyramid_scales() -> None:
    scales = pyramid_scales(600, 512, 20, 0.709)
    assert scales[0] == pytest.approx(0.6)
    np.testing.assert_allclose(np.diff(np.log(scales)), np.log(0.709), rtol=1e-12)
    # the last level's short side is the last one still >= 12 pixels
    assert 512 * scales[-1] >= 12 > 512 * scales[-1] * 0.709
    assert pyramid_scales(10, 300, 20, 0.709) == []  # no 12-pixel window fits


@pytest.mark.parametrize(("height", "width"), [(12, 12), (13, 40), (15, 27), (325, 577)])
def test_bands_cover_every_cell_row_once(height: int, width: int) -> None:
    rows, columns = cell_grid(height, width)
    # conv 3x3, max-pool 2/2 rounding up, conv 3x3, conv 3x3 (the P-Net graph's own test holds it)
    assert (rows, columns) == (-(-(height - 2) // 2) - 4, -(-(width - 2) // 2) - 4)
    for cells in (1, columns, 3 * columns + 1, 4096):
        bands = level_bands(height, width, cells)
        assert [row for first, stop in bands for row in range(first, stop)] == list(range(rows))
        assert all(stop - first == max(1, cells // columns) for first, stop in bands[:-1])
        for first, stop in bands:
            # the band's input rows give P-Net exactly the band's output rows, from row 2 * first
            top, bottom = band_input_rows(first, stop, height)
            assert top == 2 * first and cell_grid(bottom - top, width)[0] == stop - first
        assert band_input_rows(*bands[-1], height)[1] == height


def test_proposals_map_cells_to_frame_boxes() -> None:
    probability = np.zeros((6, 8), np.float32)
    probability[3, 5] = 0.9
    probability[1, 2] = 0.5  # below the threshold
    offsets = np.arange(4 * 6 * 8, dtype=np.float32).reshape(4, 6, 8)
    boxes, scores, cell_offsets = proposals(offsets, probability, 0.5, 0.6)
    # cell (row 3, col 5) at scale 0.5: floor((2 * 5 + 1) / 0.5) = 22, floor((2 * 3 + 1) / 0.5)
    # = 14, floor((2 * 5 + 12) / 0.5) = 44, floor((2 * 3 + 12) / 0.5) = 36
    np.testing.assert_array_equal(boxes, [[22, 14, 44, 36]])
    np.testing.assert_array_equal(scores, [np.float32(0.9)])
    np.testing.assert_array_equal(cell_offsets, [offsets[:, 3, 5]])


def reference_nms(boxes: np.ndarray, scores: np.ndarray, limit: float, smaller: bool) -> list[int]:
    """Plain loops, float64: IoU with (x2 - x1) areas, or overlap of the smaller with +1 areas."""
    plus = 1.0 if smaller else 0.0
    area = (boxes[:, 2] - boxes[:, 0] + plus) * (boxes[:, 3] - boxes[:, 1] + plus)
    kept: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        ok = True
        for k in kept:
            w = max(0.0, min(boxes[i, 2], boxes[k, 2]) - max(boxes[i, 0], boxes[k, 0]) + plus)
            h = max(0.0, min(boxes[i, 3], boxes[k, 3]) - max(boxes[i, 1], boxes[k, 1]) + plus)
            union = min(area[i], area[k]) if smaller else area[i] + area[k] - w * h
            ok = ok and w * h / union <= limit
        if ok:
            kept.append(int(i))
    return kept


@pytest.mark.parametrize("matrix_limit", [2048, 0])  # the overlap-matrix path and the row path
@pytest.mark.parametrize("smaller", [False, True])
def test_nms_matches_a_plain_loop(
    matrix_limit: int, smaller: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(boxes_module, "MATRIX_LIMIT", matrix_limit)
    rng = np.random.default_rng(3)
    corners = rng.uniform(0, 200, (300, 2))
    boxes = np.concatenate([corners, corners + rng.uniform(10, 60, (300, 2))], axis=1).astype(
        np.float32
    )
    scores = rng.uniform(0, 1, 300).astype(np.float32)
    for limit in (0.3, 0.5, 0.7):
        kept = (nms_min if smaller else nms)(boxes, scores, limit)
        assert kept.tolist() == reference_nms(boxes.astype(np.float64), scores, limit, smaller)
        assert 0 < len(kept) < 300  # the set really suppresses some and keeps some


def test_square_crop_windows_and_landmarks() -> None:
    np.testing.assert_array_equal(square(np.array([[0, 0, 10, 4]], np.float32)), [[0, -3, 10, 7]])
    boxes = np.array([[-5.5, 2.7, 30.2, 40.9], [50, 50, 60, 60], [-20, -20, -5, -5]], np.float32)
    windows, valid = crop_windows(boxes, width=40, height=30)
    # trunc toward zero, clip to [1, size], then 0-based half-open rows/cols
    np.testing.assert_array_equal(windows[0], [1, 30, 0, 30])
    assert valid.tolist() == [True, False, False]
    box = np.array([[10, 20, 29, 59]], np.float32)  # 20 x 40 pixels, counted inclusively
    fractions = np.array([[0, 1, 0.5, 0, 0, 0, 1, 0.5, 0, 0]], np.float32)
    np.testing.assert_allclose(
        place_landmarks(box, fractions)[0, :3], [[9, 19], [29, 59], [19, 39]]
    )
