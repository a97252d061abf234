"""Shared inputs for the CodeFormer tests: the small configuration, golden files, face tensors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

DATA = Path(__file__).resolve().parent / "data"
GOLDEN = DATA / "codeformer"
FACES = DATA / "faces"

# The small configuration of tests/data/codeformer/recipe/make_golden.py: 64 px VQGAN (nf 32,
# ch_mult 1,2,4: a 16x16 latent as in the official model), 2-layer transformer, 64 codes, fusion
# at every resolution of the generator including the attention resolution 16.
SMALL_CONFIG: dict[str, Any] = dict(
    dim_embd=64,
    n_head=4,
    n_layers=2,
    codebook_size=64,
    connect_list=("16", "32", "64"),
    img_size=64,
    nf=32,
    ch_mult=(1, 2, 4),
)


# Multiplies every fusion's ``scale`` output layer: the same kind of network, whose plain generator
# overflows float16 (the fused features grow by about the square at each fusion).
LARGE_FUSION = 100.0


def large_fusion(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with every fusion's ``scale`` output layer multiplied by LARGE_FUSION."""
    return {
        key: value * LARGE_FUSION
        if key.startswith("fuse_convs_dict.") and ".scale.2." in key
        else value
        for key, value in state.items()
    }


def face_tensor(face_bgr: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 BGR -> (1, 3, H, W) float32 RGB in [-1, 1], as inference_codeformer.py."""
    rgb = np.ascontiguousarray((face_bgr / 255.0)[:, :, ::-1].transpose(2, 0, 1), dtype=np.float32)
    return ((torch.from_numpy(rgb) - 0.5) / 0.5)[None]


def read_face(name: str) -> np.ndarray:
    """An aligned 512x512 test face (tests/data/faces/NAME), (512, 512, 3) uint8 BGR."""
    image = cv2.imread(str(FACES / name), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(FACES / name)
    return image


def load_golden(name: str) -> dict[str, np.ndarray]:
    with np.load(GOLDEN / name) as archive:
        return {key: archive[key] for key in archive.files}
