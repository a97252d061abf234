"""RetinaFace test weights: the recipe's deterministic weights (tests/golden/retinaface/README.md).

Every tensor is :func:`facert.export.harness.fill.deterministic_state_dict`'s, except the BatchNorm
running statistics, which the recipe calibrated on grace_hopper through facexlib's model (one
forward pass in training mode) and stored in golden.npz, so activations keep a realistic scale.
The same tensors in facert's port give facexlib's numbers.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from testdata import GOLDEN_DATA

GOLDEN = GOLDEN_DATA / "retinaface"
VARIANTS = {"mnet": "retinaface-mnet", "r50": "retinaface-r50"}  # golden prefix -> spec name


@lru_cache(maxsize=1)
def golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN / "golden.npz") as data:
        return {key: data[key] for key in data.files}


def golden_state(variant: str) -> dict[str, Any]:
    """The recipe's state dict for ``variant`` ("mnet" or "r50"), as torch tensors."""
    import torch

    from facert.export.families.retinaface.net import VARIANTS as NETS
    from facert.export.families.retinaface.net import RetinaFace
    from facert.export.harness.fill import deterministic_state_dict

    with torch.device("meta"):
        shapes = RetinaFace(NETS[VARIANTS[variant]])
    state = deterministic_state_dict(shapes)
    stats = golden()
    for key in state:
        stored = stats.get(f"{variant}_stats/{key}")
        if stored is not None:
            state[key] = torch.from_numpy(stored.copy())
    return state


def write_checkpoint(variant: str, path: Path, prefix: str = "module.") -> Path:
    """``golden_state(variant)`` saved as facexlib's file would be (keys with ``prefix``)."""
    import torch

    torch.save({prefix + k: v for k, v in golden_state(variant).items()}, path)
    return path


def golden_rows(key: str) -> np.ndarray:
    """facexlib's ``detect_faces`` rows (N, 15) for case ``key`` ("mnet_grace_hopper_small")."""
    return golden()[f"{key}_dets"]


def as_rows(faces: list[Any]) -> np.ndarray:
    """facert faces as facexlib's rows (N, 15), ordered by descending score."""
    ordered = sorted(faces, key=lambda face: -face.score)
    return np.array(
        [[*face.box, face.score, *np.asarray(face.landmarks).ravel()] for face in ordered],
        np.float32,
    ).reshape(-1, 15)


# facexlib's rows against ours: scores within 1e-4 (the heads' tolerance; probabilities in [0, 1]);
# coordinates within 0.01 px: a box offset that differs by 1e-4 of its range (about 5e-4 for these
# outputs) moves a box by 0.1 x 5e-4 x the anchor size (up to 512 px), about 0.03 px at worst; the
# ResNet-50 export measured 0.002 px, MobileNet 3e-5 px. A wrong decode moves boxes by pixels.
SCORE_TOLERANCE = 1e-4
PIXEL_TOLERANCE = 1e-2


def assert_rows_close(rows: np.ndarray, expected: np.ndarray, case: str) -> None:
    """The same faces: as many rows, each of facexlib's matched by one of ours (one to one) with
    the score within :data:`SCORE_TOLERANCE` and every coordinate within :data:`PIXEL_TOLERANCE`.
    Rows are matched rather than compared in order: two faces whose scores differ by less than
    float32 rounding may come out in either order (ResNet-50's graph swapped two such rows)."""
    assert rows.shape == expected.shape and len(expected) >= 1, case
    coordinates = [0, 1, 2, 3, *range(5, 15)]
    unmatched = list(range(len(rows)))
    for row in expected:
        distance = np.abs(rows[unmatched][:, coordinates] - row[coordinates]).max(axis=1)
        best = unmatched.pop(int(np.argmin(distance)))
        assert distance.min() <= PIXEL_TOLERANCE, (case, row[:5], rows[best, :5])
        assert abs(rows[best, 4] - row[4]) <= SCORE_TOLERANCE, (case, row[:5], rows[best, :5])
