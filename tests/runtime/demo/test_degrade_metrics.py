"""Synthetic degradations (seeded, documented) and PSNR/SSIM against scikit-image."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from degraded_faces import clean_crop

from facert.demo.degrade import degrade_blur_noise_jpeg, degrade_noise_scratches_fading
from facert.demo.metrics import psnr, ssim
from facert.errors import InputError


def noisy_pair(seed: int, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    clean = clean_crop("astronaut")
    noise = np.random.default_rng(seed).normal(0, sigma, clean.shape)
    return clean, np.clip(np.rint(clean + noise), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("sigma", [2.0, 10.0, 40.0])
def test_metrics_match_scikit_image(sigma: float) -> None:
    metrics = pytest.importorskip("skimage.metrics")
    clean, noisy = noisy_pair(0, sigma)
    expected_psnr = metrics.peak_signal_noise_ratio(clean, noisy, data_range=255)
    expected_ssim = metrics.structural_similarity(
        clean,
        noisy,
        data_range=255,
        channel_axis=-1,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    assert psnr(clean, noisy) == pytest.approx(expected_psnr, abs=1e-9)  # the same float64 sum
    # Same window and border; OpenCV's separable float64 filter vs SciPy's: ~1e-12 apart.
    assert ssim(clean, noisy) == pytest.approx(expected_ssim, abs=1e-8)
    gray = metrics.structural_similarity(
        clean[:, :, 1],
        noisy[:, :, 1],
        data_range=255,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    assert ssim(clean[:, :, 1], noisy[:, :, 1]) == pytest.approx(gray, abs=1e-8)


def test_metrics_limits_and_errors() -> None:
    clean, noisy = noisy_pair(1, 5.0)
    assert psnr(clean, clean) == float("inf")
    assert ssim(clean, clean) == pytest.approx(1.0, abs=1e-12)
    assert ssim(clean, noisy) < 1.0
    with pytest.raises(InputError, match="differ in shape"):
        psnr(clean, noisy[:-1])
    with pytest.raises(InputError, match="11x11"):
        ssim(clean[:5, :5], noisy[:5, :5])


@pytest.mark.parametrize("degrade", [degrade_blur_noise_jpeg, degrade_noise_scratches_fading])
def test_degradations_are_seeded_and_keep_the_layout(degrade: Callable[..., np.ndarray]) -> None:
    image = clean_crop("grace_hopper")
    first, again, other = degrade(image, 3), degrade(image, 3), degrade(image, 4)
    assert first.dtype == np.uint8 and first.shape == image.shape
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    with pytest.raises(InputError, match="uint8"):
        degrade(image.astype(np.float32), 0)


def test_blur_noise_jpeg_strengths() -> None:
    image = clean_crop("grace_hopper")
    gentle = degrade_blur_noise_jpeg(image, 0, blur_sigma=0.0, noise_sigma=0.0, jpeg_quality=100)
    assert psnr(gentle, image) > 40  # only the JPEG round trip at quality 100
    default = psnr(degrade_blur_noise_jpeg(image, 0), image)
    harsher = psnr(degrade_blur_noise_jpeg(image, 0, blur_sigma=3.0, noise_sigma=15.0), image)
    assert harsher < default < 40


def test_scratches_and_fading() -> None:
    image = clean_crop("grace_hopper")
    scratched = degrade_noise_scratches_fading(image, 0, fade=0.0, noise_sigma=0.0)
    changed = np.abs(scratched.astype(int) - image.astype(int)).max(axis=2) > 40
    assert 0.005 < changed.mean() < 0.1  # thin lines, not a veil
    values = scratched[changed].mean(axis=1)
    # Bright or dark, 0.85 opaque; anti-aliased edges make the rest (measured 86% extreme).
    assert np.mean((values > 150) | (values < 110)) > 0.75
    faded = degrade_noise_scratches_fading(image, 0, scratches=0, noise_sigma=0.0)
    assert faded.min() >= 0.3 * min(196, 222, 236) - 1  # blacks lifted towards the paper
    assert np.abs(faded.astype(int) - image.astype(int)).mean() > 20
