"""DFDNet's precision policy on a tiny DFDNet: one feature scale (32: the real windows and entry
sizes, 32 channels instead of 512) between a stem convolution and a head, the dictionary step
pinned as in the export form (facert.export.families.dfdnet.export.ScaleMatch).

The features are scaled so the dictionary scores pass float16's 65,504 (the full network's reach
3.2e5 on a real face): unpinned, float16 overflows; pinned, the FP16 graph holds the FP32 output
within the export's 40 dB and chooses the same entries. The full-size export's checks are in
test_dfdnet_export_full.py (slow).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")

from facert.backends import engine_for  # noqa: E402
from facert.demo.metrics import psnr  # noqa: E402
from facert.export.families.dfdnet.dictionaries import PARTS, PREFIXES, entry_shape  # noqa: E402
from facert.export.families.dfdnet.export import ScaleMatch, fold_spectral_norm  # noqa: E402
from facert.export.families.dfdnet.layers import attention_block  # noqa: E402
from facert.export.families.dfdnet.precision import run_recording  # noqa: E402
from facert.export.families.dfdnet.weights import dfdnet_state_dict  # noqa: E402
from facert.export.harness.fill import deterministic_state_dict  # noqa: E402
from facert.export.harness.onnx import write_onnx  # noqa: E402
from facert.export.precision.onnx_fp16 import demote_file  # noqa: E402
from facert.export.precision.policy import (  # noqa: E402
    FP16_STAGED,
    FP32,
    Float16Monitor,
    Precision,
    apply_precision,
    round_weights_to_float16,
)

SIZE, CHANNELS = 32, 32
# Part boxes in 512 crop pixels (left eye, right eye, nose, mouth), as the 68-point rule gives.
BOXES = np.array(
    [[[150, 200, 230, 280], [282, 200, 362, 280], [231, 250, 281, 300], [201, 330, 311, 420]]],
    dtype=np.float32,
)
FEATURE_SCALE = 256.0  # scores up to 3.0e5 (as the full network on a real face), past 65,504


class TinyDFDNet(torch.nn.Module):
    """image (N, 3, 32, 32) -> stem conv -> ScaleMatch at 32 -> head conv -> (N, 3, 32, 32)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, CHANNELS, 3, padding=1)
        self.head = torch.nn.Conv2d(CHANNELS, 3, 3, padding=1)
        generator = torch.Generator().manual_seed(0)
        dictionaries = {
            part: torch.randn(4, CHANNELS, *entry_shape(part, SIZE)[1:], generator=generator)
            for part in PARTS
        }
        blocks = {}
        for prefix in PREFIXES:
            block = attention_block(CHANNELS)
            block.load_state_dict(dfdnet_state_dict(deterministic_state_dict(block)))
            blocks[f"{prefix}_{SIZE}"] = fold_spectral_norm(block)
        model = SimpleNamespace(dictionary=lambda part, _size: dictionaries[part])
        self.match = ScaleMatch(SimpleNamespace(**blocks), model, SIZE)  # type: ignore[arg-type]

    def forward(self, image: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        return self.head(self.match(self.stem(image) * FEATURE_SCALE, boxes)) / FEATURE_SCALE


def tiny(precision: Precision, pinned: bool = True) -> TinyDFDNet:
    torch.manual_seed(0)
    module = TinyDFDNet().eval()
    apply_precision(module, precision, [module.match] if pinned else [])
    if not pinned:
        module.match.pinned_dtype = None
    return module


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    return np.random.default_rng(0).uniform(-1, 1, (2, 3, SIZE, SIZE)).astype(np.float32)


@pytest.fixture(scope="module")
def reference(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return run_recording(tiny(FP32), faces, np.repeat(BOXES, len(faces), 0))


def emulated(faces: np.ndarray, pinned: bool) -> tuple[np.ndarray, np.ndarray, Float16Monitor]:
    module = round_weights_to_float16(tiny(FP16_STAGED, pinned))
    monitor = Float16Monitor(emulate=True)
    output, chosen = run_recording(module, faces, np.repeat(BOXES, len(faces), 0), "cpu", monitor)
    return output, chosen, monitor


def test_scores_pass_float16_so_unpinned_float16_overflows(faces: np.ndarray) -> None:
    _, _, monitor = emulated(faces, pinned=False)
    assert monitor.overflowed


def test_pinned_float16_keeps_the_choices_and_40_db(faces: np.ndarray, reference: tuple) -> None:
    expected, choices = reference
    output, chosen, monitor = emulated(faces, pinned=True)
    assert not monitor.overflowed and monitor.peak < 65504
    assert np.array_equal(chosen, choices) and choices.shape == (2, 4)
    peak = float(expected.max() - expected.min())
    # The export's FP16 limit: 40 dB against FP32 (float16 storage of the unpinned parts).
    assert min(psnr(e, o, peak) for e, o in zip(expected, output, strict=True)) >= 40.0


def test_the_fp16_graph_pins_the_step_and_reads_the_boxes_unrounded(
    faces: np.ndarray, reference: tuple, tmp_path: Path
) -> None:
    path = tmp_path / "model.fp16.onnx"
    write_onnx(
        tiny(FP16_STAGED),
        [torch.from_numpy(faces[:1]), torch.from_numpy(BOXES)],
        path,
        input_names=["image", "boxes"],
        output_names=["restored"],
        dynamic_axes={name: {0: "batch"} for name in ("image", "boxes", "restored")},
    )
    demote_file(path)
    graph = onnx.load(str(path)).graph
    readers = [node for node in graph.node if "boxes" in node.input]
    assert readers and all(node.op_type == "Cast" for node in readers)
    assert all(node.attribute[0].i == onnx.TensorProto.FLOAT for node in readers)
    dictionaries = [t for t in graph.initializer if t.dims[:1] == [4] and len(t.dims) == 4]
    assert dictionaries and {t.data_type for t in dictionaries} == {onnx.TensorProto.FLOAT}
    expected, _ = reference
    with engine_for(path) as engine:
        output = engine.run({"image": faces, "boxes": np.repeat(BOXES, len(faces), 0)})
    peak = float(expected.max() - expected.min())
    values = [psnr(e, o, peak) for e, o in zip(expected, output["restored"], strict=True)]
    assert min(values) >= 40.0  # the export's FP16 limit
