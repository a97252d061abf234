"""RestoreFormer(++) export form: ONNX (legacy exporter, opset 17) in ONNX Runtime, dynamic batch, and
the FP16 build (spec precision policy) against FP32 on the real faces."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from restoreformer_support import (  # noqa: E402
    FACES,
    GRACE_HOPPER,
    VARIANT_NAMES,
    config_for,
    export_run,
    face_tensor,
    filled_model,
    psnr,
)

from facert.export.nets.fp16_cpu import Float16ConvolutionsInFloat32  # noqa: E402
from facert.export.nets.restoreformer_build import to_fp16  # noqa: E402

# ONNX Runtime vs torch, FP32 CPU: different convolution kernels, same codebook choices.
ORT_TOLERANCE = 1e-4
# A batch row vs the same face alone: convolution kernels are chosen per batch size (measured
# 1.4e-5 in torch); rows mixed by a batching bug or a different code choice differ by > 0.01.
BATCH_TOLERANCE = 1e-4
# FP16 build vs FP32: the acceptance bar for an FP16 engine on real faces.
FP16_MIN_PSNR_DB = 40.0


def _four_faces(size: int = 512) -> torch.Tensor:
    """(4, 3, size, size): the two real faces and their mirror images."""
    faces = torch.cat([face_tensor(path, size) for path in FACES[:2]])
    return torch.cat([faces, faces.flip(-1)])


@pytest.fixture(scope="module")
def onnx_small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The export form of the small RestoreFormer++ in ONNX, dynamic batch, 512x512."""
    model = filled_model(config_for("restoreformer-pp", "small"), export_form=True)
    path = tmp_path_factory.mktemp("restoreformer") / "model.onnx"
    torch.onnx.export(
        model,
        (face_tensor(GRACE_HOPPER),),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
    )
    return path


def test_onnx_graph_runs_in_onnx_runtime_and_matches_torch(onnx_small: Path) -> None:
    import onnx

    graph = onnx.load(str(onnx_small)).graph
    dims = graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 3, 512, 512]
    ops = {node.op_type for node in graph.node}
    assert {"ArgMin", "Gather"} <= ops and not {"ScatterElements", "ScatterND", "If", "Loop"} & ops
    session = ort.InferenceSession(str(onnx_small), providers=["CPUExecutionProvider"])
    expected, _ = export_run("restoreformer-pp", "small", GRACE_HOPPER)
    (got,) = session.run(None, {"input": face_tensor(GRACE_HOPPER).numpy()})
    assert np.abs(got - expected.numpy()).max() <= ORT_TOLERANCE


def test_onnx_batch_of_four_equals_four_single_runs(onnx_small: Path) -> None:
    session = ort.InferenceSession(str(onnx_small), providers=["CPUExecutionProvider"])
    batch = _four_faces().numpy()
    (together,) = session.run(None, {"input": batch})
    for row in range(4):
        (alone,) = session.run(None, {"input": batch[row : row + 1]})
        assert np.abs(together[row] - alone[0]).max() <= BATCH_TOLERANCE


def test_torch_batch_of_four_equals_four_single_runs() -> None:
    """At 128x128 (the network is convolutional; attention then runs over 4x4 positions)."""
    model = filled_model(config_for("restoreformer-pp", "small"), export_form=True)
    batch = _four_faces(128)
    with torch.no_grad():
        together = model(batch)
        for row in range(4):
            alone = model(batch[row : row + 1])
            assert (together[row] - alone[0]).abs().max().item() <= BATCH_TOLERANCE


def test_cpu_fp16_convolution_emulation_matches_float16_convolution() -> None:
    """The CPU stand-in for GPU FP16 convolutions agrees with torch's own float16 convolution."""
    conv = torch.nn.Conv2d(64, 32, 3, padding=1).half()
    x = torch.randn(2, 64, 24, 24, generator=torch.Generator().manual_seed(0)).half()
    with torch.no_grad():
        native = conv(x).float()
        with Float16ConvolutionsInFloat32():
            emulated = conv(x)
    assert emulated.dtype == torch.float16
    # Both round a float32-accumulated sum once; allow one float16 step (2^-10 relative).
    assert ((emulated.float() - native).abs() <= native.abs() * 2**-10 + 1e-6).all()


def _fp16_psnrs(variant: str, size: str, faces: list[Path]) -> list[float]:
    """PSNR of the FP16 build (spec precision policy) against FP32, per face."""
    half = to_fp16(copy.deepcopy(filled_model(config_for(variant, size), export_form=True)))
    values = []
    for path in faces:
        reference, _ = export_run(variant, size, path)
        with torch.no_grad(), Float16ConvolutionsInFloat32():
            fp16 = half(face_tensor(path))
        assert fp16.dtype == torch.float32 and torch.isfinite(fp16).all()
        values.append(psnr(reference, fp16))
    return values


def test_fp16_build_of_small_config_keeps_40_db() -> None:
    assert min(_fp16_psnrs("restoreformer-pp", "small", [GRACE_HOPPER])) >= FP16_MIN_PSNR_DB


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_fp16_build_of_full_model_keeps_40_db(variant: str) -> None:
    assert min(_fp16_psnrs(variant, "full", FACES)) >= FP16_MIN_PSNR_DB
