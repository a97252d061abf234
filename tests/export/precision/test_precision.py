"""The one precision mechanism (facert.export.precision.policy) on the blocks of the codebook families:
pinned parts' dtypes, and the CPU float16 emulation against true float16 (tiny blocks: PyTorch's
CPU float16 convolutions are slow)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from facert.export.families.restoreformer.blocks import (  # noqa: E402
    MultiHeadAttention,
    PinnedGroupNorm,
    ResnetBlock,
)
from facert.export.harness.fill import fill_deterministic, fill_value  # noqa: E402
from facert.export.precision.policy import (  # noqa: E402
    FP16,
    FP16_STAGED,
    FP32,
    Float16Monitor,
    Precision,
    apply_precision,
    round_weights_to_float16,
    to_float16_grid,
)


class CrossAttentionStage(torch.nn.Module):
    """A RestoreFormer decoder stage: residual block, then cross-attention to encoder features."""

    def __init__(self) -> None:
        super().__init__()
        self.block = ResnetBlock(32, 64)
        self.attention = MultiHeadAttention(64, heads=4)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.attention(self.block(x), context)


def stage(precision: Precision) -> CrossAttentionStage:
    module = fill_deterministic(CrossAttentionStage()).eval()
    norms = [m for m in module.modules() if isinstance(m, PinnedGroupNorm)]
    return apply_precision(module, precision, norms)  # type: ignore[return-value]


def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """(2, 32, 8, 8) features and (2, 64, 8, 8) context, on the float16 grid, float32."""
    x = to_float16_grid(fill_value("x", (2, 32, 8, 8), torch.float32))
    context = to_float16_grid(fill_value("context", (2, 64, 8, 8), torch.float32))
    return x, context


def test_apply_precision_pins_parts_and_sets_every_pinned_dtype() -> None:
    for precision in (FP32, FP16, FP16_STAGED):
        module = stage(precision)
        dtypes = {name: p.dtype for name, p in module.named_parameters()}
        assert dtypes["block.conv1.weight"] == precision.activation
        assert dtypes["attention.q.weight"] == precision.activation
        assert dtypes["block.norm1.weight"] == precision.pinned
        assert dtypes["attention.norm2.bias"] == precision.pinned
        pinned = {m.pinned_dtype for m in module.modules() if hasattr(m, "pinned_dtype")}
        assert pinned == {precision.pinned}


def test_cpu_emulation_matches_true_float16() -> None:
    x, context = inputs()
    with torch.no_grad():
        true_half = stage(FP16)(x.half(), context.half()).float()
        staged = round_weights_to_float16(stage(FP16_STAGED))
        monitor = Float16Monitor(emulate=True)
        with monitor:
            emulated = staged(x, context)
    assert emulated.dtype == torch.float32 and not monitor.overflowed
    # Both store every op's result in float16; they may differ where an op rounds its float32
    # accumulation differently: allow 2 float16 spacings at the output's largest magnitude.
    spacing = float(np.spacing(np.float16(true_half.abs().max())))
    assert float((emulated - true_half).abs().max()) <= 2 * spacing
    # Float16 storage: the emulated output holds float16 values only (float32 results would not).
    assert torch.equal(emulated, to_float16_grid(emulated))


def test_emulation_reads_graph_inputs_as_the_fp16_graph_does() -> None:
    """Float16 readers see a graph input rounded, a pinned entry (a dtype conversion) sees it
    exactly: the FP16 graph's Cast to float16, and its Cast to float32 of the float32 input."""
    x = fill_value("input", (2, 8), torch.float32)
    assert not torch.equal(x, to_float16_grid(x))  # off the float16 grid
    monitor = Float16Monitor(emulate=True)
    monitor.graph_inputs(x)
    with monitor:
        widened = x.to(torch.float64)
        scaled = x * 2.0
        joined = torch.cat([x, x], dim=1)
    assert torch.equal(widened, x.double())
    assert torch.equal(scaled, 2.0 * to_float16_grid(x))
    assert torch.equal(joined, to_float16_grid(torch.cat([x, x], dim=1)))


class Triple(torch.nn.Module):
    """3 x image, read in float64 (a pinned entry) or in float32 (a float16 reader)."""

    def __init__(self, pinned_entry: bool) -> None:
        super().__init__()
        self.pinned_entry = pinned_entry
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return image.to(torch.float64) * 3.0 if self.pinned_entry else image * 3.0


def test_the_harness_emulation_reads_the_image_as_the_fp16_graph_does() -> None:
    from facert.export.harness.verify import torch_runner
    from facert.models.registry import get_spec

    spec = get_spec("gfpgan-1.4")  # no options: the image is the only input
    faces = fill_value("faces", (1, 3, 4, 4), torch.float32).numpy()
    for pinned_entry in (True, False):
        monitor = Float16Monitor(emulate=True)
        output = torch_runner(spec, Triple(pinned_entry), {}, monitor=monitor)(faces)
        read = faces if pinned_entry else to_float16_grid(torch.from_numpy(faces)).numpy()
        expected = (read.astype(np.float64) * 3.0).astype(np.float32)
        if not pinned_entry:  # a float32 result is stored as float16
            expected = to_float16_grid(torch.from_numpy(expected)).numpy()
        assert np.array_equal(output, expected), pinned_entry
