"""Aligned 512 crops of the demo photos, clean and degraded, for the restorer quality tests.

The degradation is applied to the whole photo at its own scale, then the face is warped into the
crop with the affine of ``data/faces/faces.json`` (2x3, maps frame to crop) exactly as the clean
crops were made, so the crop carries blur, grain and scratches as magnified as the alignment makes
them (1.64x for Grace Hopper, 2.92x for the astronaut).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import cv2
import numpy as np
from testdata import DATA

if TYPE_CHECKING:
    import torch

FACES = DATA / "faces"
BORDER_BGR = (135, 133, 132)


def affine(name: str) -> np.ndarray:
    """(2, 3) float64, maps frame pixels to crop pixels."""
    record = json.loads((FACES / "faces.json").read_text())[name]
    return np.array(record["affine_frame_to_crop"], dtype=np.float64)


def crop_scale(name: str) -> float:
    """The magnification of the photo into the crop (sqrt of the affine's determinant)."""
    return float(np.sqrt(abs(np.linalg.det(affine(name)[:, :2]))))


def clean_crop(name: str) -> np.ndarray:
    """(512, 512, 3) uint8 BGR: the committed clean crop."""
    image = cv2.imread(str(FACES / f"{name}_512.png"))
    assert image is not None
    return image


def with_cast(crop: np.ndarray) -> np.ndarray:
    """``crop`` (H, W, 3) uint8 BGR as a restorer with a colour cast returns it: warmer (+24 B,
    -14 R), flatter (contrast x 0.85) and 5 levels brighter; (H, W, 3) uint8 BGR."""
    shifted = crop.astype(np.float32) + np.array([24.0, 0.0, -14.0])
    return np.clip((shifted - 128) * 0.85 + 133, 0, 255).astype(np.uint8)


def degraded_crop(
    photo: np.ndarray, name: str, degrade: Callable[..., np.ndarray], seed: int = 0
) -> np.ndarray:
    """Degrade the whole ``photo`` (H, W, 3) uint8 BGR, then warp its face into the 512 crop."""
    damaged = degrade(photo, seed)
    return cv2.warpAffine(
        damaged,
        affine(name),
        (512, 512),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=BORDER_BGR,
    )


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 BGR -> (1, 3, H, W) float32 RGB in [0, 1]."""
    import torch

    rgb = np.ascontiguousarray(image[:, :, ::-1], dtype=np.float32) / 255.0
    return torch.from_numpy(rgb.transpose(2, 0, 1).copy())[None]


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) float RGB in [0, 1] -> (H, W, 3) uint8 BGR (rounded)."""
    rgb = tensor[0].detach().float().numpy().transpose(1, 2, 0)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)[:, :, ::-1].copy()
