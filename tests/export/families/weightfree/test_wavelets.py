"""The orthonormal 2-D DWT: filters, perfect reconstruction, energy, soft thresholding, ONNX export."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from facert.export.families.weightfree.wavelets import (  # noqa: E402
    LOWPASS_FILTERS,
    Wavelet2d,
    filter_pair,
    soft_threshold,
)

WAVELETS = sorted(LOWPASS_FILTERS)


@pytest.mark.parametrize("wavelet", WAVELETS)
def test_filters_are_orthonormal_with_vanishing_moments(wavelet: str) -> None:
    lowpass, highpass = filter_pair(wavelet)
    taps = len(lowpass)
    # The published coefficients carry ~16 digits; 1e-9 leaves room for their rounding.
    assert abs(lowpass.sum().item() - math.sqrt(2)) < 1e-9
    for shift in range(taps // 2):
        overlap = (lowpass[: taps - 2 * shift] * lowpass[2 * shift :]).sum().item()
        assert abs(overlap - (1.0 if shift == 0 else 0.0)) < 1e-9
    positions = torch.arange(taps, dtype=torch.float64)
    for power in range(taps // 2):  # Daubechies filters of length L have L/2 vanishing moments
        assert abs((highpass * positions**power).sum().item()) < 1e-8 * taps**power


@pytest.mark.parametrize("wavelet", WAVELETS)
def test_perfect_reconstruction_and_energy(wavelet: str) -> None:
    transform = Wavelet2d(wavelet, levels=3)
    image = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    approximation, details = transform(image)
    assert approximation.shape == (2, 3, 8, 12)
    assert [tuple(d.shape) for d in details] == [
        (2, 3, 3, 32, 48),
        (2, 3, 3, 16, 24),
        (2, 3, 3, 8, 12),
    ]
    rebuilt = transform.inverse(approximation, details)
    # float32 through 6 filtering passes each way: errors stay near 1e-6 of values in [0, 1].
    assert (rebuilt - image).abs().max().item() < 1e-5
    energy = (image**2).sum().item()
    coefficients = (approximation**2).sum().item() + sum((d**2).sum().item() for d in details)
    assert abs(coefficients - energy) / energy < 1e-5  # orthonormal: Parseval, float32 sums


def test_detail_bands_follow_the_documented_order() -> None:
    transform = Wavelet2d("haar", levels=1)
    rows = torch.arange(8.0)[:, None].expand(8, 8)
    horizontal_stripes = ((rows % 2) == 0).float()[None, None]  # varies along y only
    _, (detail,) = transform(horizontal_stripes)
    energy = (detail**2).sum(dim=(0, 1, 3, 4))
    assert energy[0] > 0 and energy[1] == 0 and energy[2] == 0  # "horizontal" band first


def test_soft_threshold_is_the_l1_proximal_map() -> None:
    values = torch.linspace(-2, 2, 41, dtype=torch.float64)
    threshold = torch.tensor(0.5, dtype=torch.float64)
    shrunk = soft_threshold(values, threshold)
    # prox_t(v) = argmin_u 0.5 (u - v)^2 + t |u|: compare with a brute-force search on a fine grid.
    grid = torch.linspace(-3, 3, 60001, dtype=torch.float64)
    cost = 0.5 * (grid[None, :] - values[:, None]) ** 2 + threshold * grid.abs()[None, :]
    brute = grid[cost.argmin(dim=1)]
    assert (shrunk - brute).abs().max().item() <= 1e-4  # the grid step
    assert torch.all(shrunk[values.abs() <= 0.5] == 0)
    assert torch.allclose(shrunk.abs(), (values.abs() - 0.5).clamp_min(0))


class _RoundTrip(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.transform = Wavelet2d("sym4", levels=3)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        approximation, details = self.transform(image)
        return self.transform.inverse(approximation, [soft_threshold(d, 0.05) for d in details])


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the legacy exporter, chosen on purpose
def test_onnx_export_with_dynamic_batch(tmp_path: Path) -> None:
    import onnxruntime as ort

    module = _RoundTrip().eval()
    image = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    path = tmp_path / "wavelet.onnx"
    torch.onnx.export(
        module,
        (image[:1],),
        str(path),
        input_names=["image"],
        output_names=["out"],
        dynamic_axes={"image": {0: "batch"}, "out": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = module(image).numpy()
    got = session.run(None, {"image": image.numpy()})[0]
    # Same float32 arithmetic in another order; thresholding can flip a coefficient sitting exactly
    # at the threshold only with probability ~0 on random data.
    assert np.abs(got - expected).max() < 1e-5
