"""ISPL: the per-image Gaussian blur, monotone FISTA, options, ONNX export, and restoration quality."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from degraded_faces import clean_crop, crop_scale, degraded_crop, to_image, to_tensor  # noqa: E402

from facert.degrade import degrade_blur_noise_jpeg  # noqa: E402
from facert.export.restorers.gaussian import GaussianBlur  # noqa: E402
from facert.export.restorers.ispl import Ispl  # noqa: E402
from facert.export.restorers.weightfree import export_weight_free, reference_mode  # noqa: E402
from facert.metrics import psnr, ssim  # noqa: E402
from facert.registry import get_spec  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")

DEMO_BLUR = 1.5  # photo pixels: degrade_blur_noise_jpeg's default, given to ISPL as its option


def small_face(seed: int = 0, blur: float = 2.0, noise: float = 0.01) -> tuple:
    """A 256 crop of Grace Hopper (RGB tensor), and it blurred by ``blur`` px plus noise."""
    clean = to_tensor(
        cv2.resize(clean_crop("grace_hopper"), (256, 256), interpolation=cv2.INTER_AREA)
    )
    blurred = GaussianBlur()(clean, torch.tensor([blur]))
    noisy = blurred + noise * torch.randn(
        clean.shape, generator=torch.Generator().manual_seed(seed)
    )
    return clean, noisy


def test_blur_matches_opencv_per_image_and_is_symmetric() -> None:
    blur = GaussianBlur()
    images = torch.rand(3, 2, 64, 96, generator=torch.Generator().manual_seed(3))
    sigmas = torch.tensor([0.0, 1.3, 4.0])
    out = blur(images, sigmas)
    for index, sigma in enumerate(sigmas.tolist()):
        for channel in range(2):
            plane = images[index, channel].numpy()
            expected = (
                plane
                if sigma == 0
                else cv2.GaussianBlur(plane, (65, 65), sigma, borderType=cv2.BORDER_REFLECT)
            )
            # OpenCV's 65-tap kernel is ours (radius 32); float32 sums of 65 products: ~1e-6.
            assert np.abs(out[index, channel].numpy() - expected).max() < 1e-5
    other = torch.rand(images.shape, generator=torch.Generator().manual_seed(4))
    left = (blur(images, sigmas) * other).sum().item()
    right = (images * blur(other, sigmas)).sum().item()
    assert abs(left - right) / abs(left) < 1e-6  # self-adjoint, up to float32 summation


def test_fista_objective_never_increases_and_restores() -> None:
    module = Ispl()
    clean, observed = small_face()
    channels = torch.nn.functional.conv2d(observed, module.opponent[:, :, None, None])
    truth = torch.nn.functional.conv2d(clean, module.opponent[:, :, None, None])
    blocks = module.blur.matrices(torch.tensor([2.0]))
    thresholds = module.thresholds(channels, torch.tensor([0.5]))
    start_value = module.objective(channels, channels, blocks, thresholds).item()
    restored, trace = module.solve(channels, channels, blocks, thresholds, 25)
    values = [v.item() for v in trace]
    assert values[0] <= start_value
    for before, after in itertools.pairwise(values):
        assert after <= before  # MFISTA keeps the better of candidate and current, exactly
    assert values[-1] < 0.9 * start_value  # and it does descend
    assert module.objective(restored, channels, blocks, thresholds).item() == pytest.approx(
        values[-1], rel=1e-4
    )  # the reported value is the returned iterate's (float32 re-evaluation)
    error_before = ((channels - truth) ** 2).mean().item()
    error_after = ((restored - truth) ** 2).mean().item()
    assert error_after < 0.8 * error_before


def test_zero_blur_and_zero_lambda_is_identity() -> None:
    _, observed = small_face()
    image = observed.clamp(0, 1)
    with reference_mode():
        out = Ispl()(image, torch.tensor([0.0]), torch.tensor([0.0]))
    # K = I and lambda = 0: each FISTA step returns y exactly; float32 colour round trip ~1e-6.
    assert (out - image).abs().max().item() < 1e-5


def high_frequency_energy(image: torch.Tensor) -> float:
    return (image[..., :, 1:] - image[..., :, :-1]).pow(2).mean().item()


def test_options_act_as_documented() -> None:
    _, observed = small_face(blur=2.0, noise=0.005)
    image = observed.clamp(0, 1).repeat(3, 1, 1, 1)
    with reference_mode():
        out = Ispl()(image, torch.tensor([0.0, 2.0, 2.0]), torch.tensor([0.5, 0.5, 3.0]))
    plain, deblurred, smoothed = (high_frequency_energy(out[i]) for i in range(3))
    assert deblurred > 1.5 * plain  # a blur width sharpens (measured 2.2x)
    assert smoothed < 0.9 * deblurred  # a larger lambda smooths (measured 0.83)


def test_export_parity_and_batch(tmp_path: Path) -> None:
    """The shared exporter on a smaller ISPL (2 iterations per level, 256 px): same graph ops."""
    spec = dataclasses.replace(get_spec("ispl"), input_size=256)
    facts = export_weight_free(spec, Ispl(iterations=(2, 2, 2)), tmp_path, structure={})
    assert facts["parity"]["ort_vs_torch_max_abs"] <= facts["parity"]["tolerance"]
    assert facts["parity"]["batch_vs_single_max_abs"] <= facts["parity"]["batch_tolerance"]
    import onnx

    graph = onnx.load(str(tmp_path / "model.onnx")).graph
    inputs = {i.name: i.type.tensor_type for i in graph.input}
    assert list(inputs) == ["image", "blur_sigma", "lam"]
    assert [d.dim_param or d.dim_value for d in inputs["image"].shape.dim] == ["batch", 3, 256, 256]
    assert [d.dim_param for d in inputs["lam"].shape.dim] == ["batch"]
    assert [o.name for o in graph.output] == ["restored"]


@pytest.mark.slow
def test_full_export(tmp_path: Path) -> None:
    from facert.export.restorers.ispl import export_ispl

    facts = export_ispl(get_spec("ispl"), [], tmp_path)
    assert facts["structure"]["iterations"] == [10, 10, 6]
    assert facts["parity"]["ort_vs_torch_max_abs"] <= 1e-3


@pytest.fixture(scope="module")
def photos(grace_hopper: np.ndarray, astronaut: np.ndarray) -> dict[str, np.ndarray]:
    return {"grace_hopper": grace_hopper, "astronaut": astronaut}


@pytest.mark.parametrize(
    ("name", "blur", "psnr_margin", "ssim_margin"),
    [
        # The degradation's blur given (1.5 photo px), measured (seed 0): Grace Hopper
        # 25.53 dB / 0.761 -> 27.70 / 0.787 (+2.16 dB, +0.026); astronaut 27.87 / 0.816 ->
        # 30.31 / 0.843 (+2.43 dB, +0.027). Asserted with about half the margin.
        ("grace_hopper", DEMO_BLUR, 1.0, 0.012),
        ("astronaut", DEMO_BLUR, 1.0, 0.012),
        # The option's default (1.0 photo px, an under-estimate here): +1.18 dB / +0.011 and
        # +1.18 dB / +0.002. Still better on both measures; the SSIM margin is thin, so only
        # 0.0005 is required (the run is deterministic; float32 reorderings move SSIM ~1e-5).
        ("grace_hopper", 1.0, 0.6, 0.005),
        ("astronaut", 1.0, 0.6, 0.0005),
    ],
)
def test_restores_the_demo_degradation(
    photos: dict[str, np.ndarray], name: str, blur: float, psnr_margin: float, ssim_margin: float
) -> None:
    degraded = degraded_crop(photos[name], name, degrade_blur_noise_jpeg)
    clean = clean_crop(name)
    sigma = torch.tensor([blur * crop_scale(name)])  # what the runtime feeds the graph
    with reference_mode():
        restored = to_image(Ispl()(to_tensor(degraded), sigma, torch.tensor([0.5])))
    assert psnr(restored, clean) > psnr(degraded, clean) + psnr_margin
    assert ssim(restored, clean) > ssim(degraded, clean) + ssim_margin
