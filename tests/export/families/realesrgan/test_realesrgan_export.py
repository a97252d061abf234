"""Real-ESRGAN's export writes an FP16 graph only when it passes its checks on photo tiles: one
that cannot hold the weights in float16 is refused in one logged line, the FP32 graph ships alone
(the FP16 graph's accuracy and batch checks: tests/runtime/stages/restore/test_upsampler.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from facert.export.families.realesrgan.export import export_rrdbnet  # noqa: E402
from facert.export.families.realesrgan.net import RRDBConfig, RRDBNet  # noqa: E402
from facert.export.harness.fill import fill_deterministic  # noqa: E402
from facert.models.artifacts import FP16_GRAPH  # noqa: E402


def test_an_fp16_graph_that_fails_its_checks_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The first conv's weights x 1e7 (beyond float16's 65504), the last's / 1e7: the FP32 graph
    computes the same outputs' scale, the FP16 graph cannot be built."""
    model = fill_deterministic(RRDBNet(RRDBConfig(scale=4, num_feat=8, num_block=1, num_grow_ch=4)))
    with torch.no_grad():
        model.conv_first.weight *= 1e7
        model.conv_first.bias *= 1e7
        model.conv_last.weight *= 1e-7
    facts = export_rrdbnet(model, tmp_path / "model.onnx")
    assert "beyond float16's 65504" in facts["fp16_refused"]
    assert set(facts["onnx"]) == {"model.onnx"} and not (tmp_path / FP16_GRAPH).exists()
    assert facts["parity"]["fp32_batch_vs_single_max_abs"] == 0.0  # FP32 still checked
    assert any("FP16 graph refused" in r.getMessage() for r in caplog.records)
