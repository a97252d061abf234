"""FP16 safety of the static modulated conv, in true float16 arithmetic (tiny blocks: PyTorch's CPU
float16 convolutions are slow), and the CPU float16 emulation the export harness uses."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from facert.export.families.stylegan2.export import StaticStyleConv  # noqa: E402
from facert.export.families.stylegan2.net import StyleConv  # noqa: E402
from facert.export.harness.fill import fill_deterministic, fill_value  # noqa: E402
from facert.export.precision.policy import (  # noqa: E402
    FP16,
    FP16_STAGED,
    FP32,
    Float16Monitor,
    Precision,
    round_weights_to_float16,
    to_float16_grid,
)

STYLE_SCALE = 1000.0  # styles this large make sum((w * s)^2) overflow float16 (65504)


def _block() -> tuple[StyleConv, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A filled upsampling StyleConv 16 -> 16 with huge styles, a noise map, inputs and latents."""
    block = fill_deterministic(StyleConv(16, 16, num_style_feat=32, upsample=True)).eval()
    with torch.no_grad():
        block.modulated_conv.modulation.weight.mul_(STYLE_SCALE)
        block.modulated_conv.modulation.bias.mul_(STYLE_SCALE)
    noise = fill_value("noise", (1, 1, 16, 16), torch.float32)
    x = to_float16_grid(fill_value("x", (2, 16, 8, 8), torch.float32))
    latent = to_float16_grid(fill_value("latent", (2, 32), torch.float32))
    return block, noise, x, latent


def test_naive_float16_overflows_and_the_export_form_does_not() -> None:
    block, noise, x, latent = _block()
    with torch.no_grad():
        expected = block(x, latent, noise)
        fixed = StaticStyleConv(block, noise, FP16, rescale_styles=True).half()
        unpinned = Precision("unpinned", torch.float16, torch.float16)
        naive = StaticStyleConv(block, noise, unpinned, rescale_styles=False).half()
        fixed_monitor, naive_monitor = Float16Monitor(emulate=False), Float16Monitor(emulate=False)
        with fixed_monitor:
            fixed_out = fixed(x.half(), latent.half()).float()
        with naive_monitor:
            naive_out = naive(x.half(), latent.half()).float()
    scale = float(expected.abs().max())
    # Naive: the squared styles overflow to inf, rsqrt(inf) = 0 wipes the conv out (no inf reaches
    # the output, only a wrong one).
    assert naive_monitor.overflowed
    assert float((naive_out - expected).abs().max()) > 0.1 * scale
    assert not fixed_monitor.overflowed and torch.isfinite(fixed_out).all()
    # float16 storage: relative error of a few 1e-3 of the output's scale at most.
    assert float((fixed_out - expected).abs().max()) <= 5e-3 * scale
    # And the float32 export form is the faithful function (huge styles cancel exactly).
    with torch.no_grad():
        static32 = StaticStyleConv(block, noise, FP32, rescale_styles=True)(x, latent)
    assert float((static32 - expected).abs().max()) <= 1e-5 * scale


def test_cpu_emulation_matches_true_float16() -> None:
    block, noise, x, latent = _block()
    with torch.no_grad():
        true_half = StaticStyleConv(block, noise, FP16, True).half()(x.half(), latent.half())
        staged = round_weights_to_float16(StaticStyleConv(block, noise, FP16_STAGED, True))
        monitor = Float16Monitor(emulate=True)
        with monitor:
            emulated = staged(x, latent)
    true_half = true_half.float()
    assert not monitor.overflowed and monitor.peak >= float(emulated.abs().max())
    # Both store every op's result in float16; they may differ where an op rounds its float32
    # accumulation differently: allow 2 float16 spacings at the output's largest magnitude.
    spacing = float(np.spacing(np.float16(true_half.abs().max())))
    assert float((emulated - true_half).abs().max()) <= 2 * spacing
