"""Full-reference image quality: PSNR and SSIM on uint8 BGR images (NumPy and OpenCV only).

Both compare two images of the same shape, (H, W, 3) uint8 BGR (or (H, W) uint8); PSNR also takes
any other arrays of one shape (the export checks' float32 network outputs). SSIM follows Wang
et al. (2004): Gaussian window 11x11 with sigma 1.5, K1 = 0.01, K2 = 0.03, population (not sample)
statistics, computed per channel and averaged over the channels (not on luma), with the 5-pixel
border where the window leaves the image excluded from the mean. These are scikit-image's
``structural_similarity(a, b, data_range=255, channel_axis=-1, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False)`` and ``peak_signal_noise_ratio(a, b, data_range=255)``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from facert.errors import InputError

_WINDOW = 11
_SIGMA = 1.5
_K1, _K2 = 0.01, 0.03


def _check_shapes(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise InputError(f"images differ in shape: {a.shape} and {b.shape}")


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    _check_shapes(a, b)
    if a.ndim not in (2, 3) or min(a.shape[:2]) < _WINDOW:
        raise InputError(f"expected (H, W) or (H, W, C) images of at least 11x11, got {a.shape}")


def around_boxes(
    boxes: list[tuple[float, float, float, float]], shape: tuple[int, ...]
) -> np.ndarray:
    """(H, W) bool over an image of ``shape``: each (x1, y1, x2, y2) box grown by its own width
    and height on every side, clipped; where a face pasted back under its box can reach (the
    region a restored frame is compared over: ``psnr(a[mask], b[mask])``)."""
    mask = np.zeros(shape[:2], bool)
    for x1, y1, x2, y2 in boxes:
        w, h = x2 - x1, y2 - y1
        mask[
            max(0, int(y1 - h)) : max(0, int(y2 + h)), max(0, int(x1 - w)) : max(0, int(x2 + w))
        ] = True
    return mask


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB of ``b`` against ``a`` over every element; inf for equal
    arrays, -inf when ``b`` is not finite (a float16 overflow).

    facert's one PSNR: of uint8 images (any shape, ``data_range`` 255), and of the export checks'
    float32 network outputs ((3, S, S), ``data_range`` their peak-to-peak).
    """
    _check_shapes(a, b)
    if not np.isfinite(b).all():
        return -math.inf
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def _ssim_channel(x: np.ndarray, y: np.ndarray, data_range: float) -> float:
    def blur(image: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(image, (_WINDOW, _WINDOW), _SIGMA, borderType=cv2.BORDER_REFLECT)

    c1 = (_K1 * data_range) ** 2
    c2 = (_K2 * data_range) ** 2
    mean_x, mean_y = blur(x), blur(y)
    var_x = blur(x * x) - mean_x * mean_x
    var_y = blur(y * y) - mean_y * mean_y
    cov = blur(x * y) - mean_x * mean_y
    numerator = (2 * mean_x * mean_y + c1) * (2 * cov + c2)
    denominator = (mean_x**2 + mean_y**2 + c1) * (var_x + var_y + c2)
    pad = (_WINDOW - 1) // 2
    return float((numerator / denominator)[pad:-pad, pad:-pad].mean())


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Mean structural similarity in [-1, 1] (1 for identical images), averaged over channels."""
    _check_pair(a, b)
    x = a.astype(np.float64)
    y = b.astype(np.float64)
    if x.ndim == 2:
        return _ssim_channel(x, y, data_range)
    scores = [_ssim_channel(x[:, :, c], y[:, :, c], data_range) for c in range(x.shape[2])]
    return float(np.mean(scores))
