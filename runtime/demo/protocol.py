"""The papers' synthetic degradation (CelebA-Test style), seeded, for ``facert eval``.

GFPGAN and CodeFormer train and test on ``y = [(x * k_sigma) downsampled by r + n_delta]_JPEG_q``,
resized back to the input's size, on 512 px aligned faces (CelebA-Test: CelebA-HQ faces degraded
this way). The ranges of the presets are the official training options:

- ``gfpgan``: TencentARC/GFPGAN ``options/train_gfpgan_v1.yml`` (commit 7552a77): blur_kernel_size
  41, kernel_list [iso, aniso] with kernel_prob [0.5, 0.5], blur_sigma [0.1, 10],
  downsample_range [0.8, 8], noise_range [0, 20], jpeg_range [60, 100].
- ``codeformer``: sczhou/CodeFormer ``options/CodeFormer_stage2.yml`` (commit b33cc7d; stage 3's
  ``*_large`` ranges are the same): blur_sigma [1, 15], downsample_range [4, 30], noise_range
  [0, 20], jpeg_range [30, 80], the same 41-tap iso/aniso kernels.
- ``mild``: facert's own, a light case between none and ``gfpgan``'s middle: blur_sigma [1, 3],
  downsample [2, 4], noise [0, 8], jpeg [70, 90].

Per image, the parameters are drawn uniformly from the ranges by NumPy's PCG64 seeded with
``(seed, crc32(name))``, so each photo gets the same damage on every machine and in any order:
isotropic or anisotropic Gaussian kernel (probability 0.5 each; anisotropic: sigma_x, sigma_y
independent in the range, rotation uniform in [-pi, pi]) -> ``cv2.filter2D`` (reflect-101 borders)
-> ``cv2.resize`` to ``(w // r, h // r)``, bilinear -> Gaussian noise of std ``noise`` 0-255 levels
per pixel and channel -> rounded to uint8 -> JPEG at ``int(quality)`` (OpenCV) -> bilinear resize
back to ``(w, h)``. The official code's colour jitter and grey conversion are left out (PSNR would
measure the jitter, not the restoration).

The ranges are for 512 px aligned faces. On a whole photo each length (blur sigma, kernel size,
downsampling factor) is divided by the photo's face scale ``s`` (crop pixels per photo pixel of
its faces' alignment at 512, from the faces found on the clean photo; 1 without a face), so a face
suffers what a CelebA-Test face of its size suffers; a factor under 1 is no downsampling.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from facert.errors import InputError, UsageError

KERNEL_SIZE = 41  # basicsr's blur_kernel_size at the 512 px face scale


@dataclass(frozen=True)
class Preset:
    """Ranges at the 512 px aligned-face scale: blur sigma (pixels), downsampling factor, noise
    std (0-255 levels), JPEG quality; ``aniso_prob``: the chance of an anisotropic kernel."""

    name: str
    blur_sigma: tuple[float, float]
    downsample: tuple[float, float]
    noise: tuple[float, float]
    jpeg: tuple[float, float]
    aniso_prob: float = 0.5
    source: str = ""


PRESETS = {
    "gfpgan": Preset(
        "gfpgan",
        (0.1, 10.0),
        (0.8, 8.0),
        (0.0, 20.0),
        (60.0, 100.0),
        source="TencentARC/GFPGAN options/train_gfpgan_v1.yml @7552a77",
    ),
    "codeformer": Preset(
        "codeformer",
        (1.0, 15.0),
        (4.0, 30.0),
        (0.0, 20.0),
        (30.0, 80.0),
        source="sczhou/CodeFormer options/CodeFormer_stage2.yml @b33cc7d",
    ),
    "mild": Preset("mild", (1.0, 3.0), (2.0, 4.0), (0.0, 8.0), (70.0, 90.0), source="facert"),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise UsageError(f"--degrade must be one of {', '.join(PRESETS)}, got {name!r}")
    return PRESETS[name]


def draw(preset: Preset, seed: int, name: str) -> dict[str, Any]:
    """The degradation parameters of image ``name`` (at the 512 px face scale), seeded."""
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    aniso = bool(rng.uniform() < preset.aniso_prob)
    sigma_x = float(rng.uniform(*preset.blur_sigma))
    sigma_y = float(rng.uniform(*preset.blur_sigma)) if aniso else sigma_x
    theta = float(rng.uniform(-math.pi, math.pi)) if aniso else 0.0
    return {
        "kernel": "aniso" if aniso else "iso",
        "sigma_x": round(sigma_x, 4),
        "sigma_y": round(sigma_y, 4),
        "theta": round(theta, 4),
        "downsample": round(float(rng.uniform(*preset.downsample)), 4),
        "noise": round(float(rng.uniform(*preset.noise)), 4),
        "jpeg_quality": int(rng.uniform(*preset.jpeg)),
        "noise_seed": int(rng.integers(2**31)),
    }


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """(size, size) float32 bivariate Gaussian rotated by ``theta``, summing to 1 (basicsr's
    ``bivariate_Gaussian``)."""
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    covariance = rotation @ np.diag([sigma_x**2, sigma_y**2]) @ rotation.T
    inverse = np.linalg.inv(covariance)
    axis = np.arange(size) - (size - 1) / 2
    xx, yy = np.meshgrid(axis, axis)
    grid = np.stack([xx, yy], -1)
    kernel = np.exp(-0.5 * np.einsum("...i,ij,...j->...", grid, inverse, grid))
    return (kernel / kernel.sum()).astype(np.float32)


def degrade(image: np.ndarray, params: dict[str, Any], scale: float = 1.0) -> np.ndarray:
    """``image`` ((H, W, 3) uint8 BGR) degraded with ``params`` (:func:`draw`), each length
    divided by ``scale`` (crop pixels per photo pixel); (H, W, 3) uint8 BGR."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"expected an (H, W, 3) uint8 BGR image, got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    size = max(3, 2 * round(KERNEL_SIZE / scale / 2) + 1)
    sigma_x = max(params["sigma_x"] / scale, 0.05)
    sigma_y = max(params["sigma_y"] / scale, 0.05)
    kernel = gaussian_kernel(size, sigma_x, sigma_y, params["theta"])
    pixels = cv2.filter2D(image.astype(np.float32), -1, kernel, borderType=cv2.BORDER_REFLECT_101)
    factor = max(1.0, params["downsample"] / scale)
    small = (max(1, int(width // factor)), max(1, int(height // factor)))
    pixels = cv2.resize(pixels, small, interpolation=cv2.INTER_LINEAR)
    rng = np.random.default_rng(params["noise_seed"])
    pixels = pixels + rng.normal(0.0, params["noise"], pixels.shape).astype(np.float32)
    low = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", low, [cv2.IMWRITE_JPEG_QUALITY, params["jpeg_quality"]])
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR) if ok else None
    if decoded is None:
        raise InputError("OpenCV could not JPEG-encode and decode the image")
    return cv2.resize(decoded, (width, height), interpolation=cv2.INTER_LINEAR)
