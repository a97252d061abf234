"""RestoreFormer++ through the shared export harness (facert.export.harness.learned) on a tiny configuration,
and both variants at full size (slow).

The tiny network has the multi-scale layout of RestoreFormer++ (encoder attention at 16 px, decoder
cross-attention at 16 and 32 px) at 64 px input.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from full_export import export_and_check  # noqa: E402
from pinned_spec import pinned_spec  # noqa: E402
from tiny_export import FACES, export_tiny  # noqa: E402
from tiny_families import RESTOREFORMER_TINY as TINY  # noqa: E402

from facert.backends.ort import OrtSession  # noqa: E402
from facert.export.families.restoreformer.export import (  # noqa: E402
    build_restoreformer,
    build_restoreformer_export,
    variant_config,
)
from facert.export.families.restoreformer.net import RestoreFormer  # noqa: E402
from facert.export.harness.checks import load_faces  # noqa: E402
from facert.export.harness.fill import deterministic_state_dict  # noqa: E402
from facert.models.registry import ModelSpec, get_spec  # noqa: E402


def lightning_checkpoint(state: dict[str, torch.Tensor], path: Path) -> Path:
    """``state`` saved as the RestoreFormer++ release lays it out (``state_dict``, ``vqvae.``)."""
    torch.save({"state_dict": {f"vqvae.{key}": value for key, value in state.items()}}, path)
    return path


def with_checkpoint(spec: ModelSpec, checkpoint: Path, input_size: int) -> ModelSpec:
    return pinned_spec(spec, checkpoint, input_size=input_size)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelSpec, Path, dict, dict]:
    folder = tmp_path_factory.mktemp("restoreformer")
    state = deterministic_state_dict(build_restoreformer(TINY, export_form=False))
    checkpoint = lightning_checkpoint(state, folder / "tiny.ckpt")
    spec = with_checkpoint(get_spec("restoreformer-pp"), checkpoint, TINY.resolution)
    facts = export_tiny(
        spec, checkpoint, functools.partial(build_restoreformer_export, variant=TINY)
    )
    return spec, folder, facts, state


def test_export_records_the_parity_it_reached(exported: tuple) -> None:
    spec, folder, facts, _ = exported
    json.dumps(facts, allow_nan=False)  # the manifest is strict JSON
    assert facts["precision_policy"] == list(spec.precision_policy)
    assert facts["graph"]["inputs"] == ["image"] and facts["checked_options"] == {}
    parity = facts["parity"]
    assert parity["ort_fp32_vs_torch_max_abs"] <= 1e-4 * parity["output_scale"]
    assert parity["fp32_batch_vs_single_max_abs"] <= 1e-4 * parity["output_scale"]
    assert parity["ort_fp16_psnr_db"] >= 40.0 and parity["torch_fp16"]["psnr_db"] >= 40.0
    assert parity["fp16_batch_vs_single_psnr_db"] == "inf" or (
        parity["fp16_batch_vs_single_psnr_db"] >= 60.0
    )
    assert {p.name for p in folder.glob("*.onnx")} == set(spec.onnx_files)


def test_graphs_look_codes_up_and_keep_the_encoder_float32(exported: tuple) -> None:
    _, folder, _, _ = exported
    fp32 = onnx.load(str(folder / "model.onnx"))
    fp16 = onnx.load(str(folder / "model.fp16.onnx"))
    for model in (fp32, fp16):
        operators = {node.op_type for node in model.graph.node}
        assert {"ArgMin", "Gather"} <= operators
        assert not {"ScatterElements", "ScatterND", "If", "Loop"} & operators
        (image,) = model.graph.input
        dims = image.type.tensor_type.shape.dim
        assert [d.dim_param or d.dim_value for d in dims] == ["batch", 3, 64, 64]
        assert image.type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # in both graphs
    # The pinned encoder reads the float32 image unrounded in the FP16 graph too.
    readers = [n for n in fp16.graph.node if "image" in n.input]
    assert readers and all(
        (n.op_type, n.attribute[0].i) == ("Cast", onnx.TensorProto.FLOAT) for n in readers
    )
    fp32_casts = {n.attribute[0].i for n in fp32.graph.node if n.op_type == "Cast"}
    assert not fp32_casts & {onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE}
    # The policy in the FP16 graph: the encoder's convolutions and quant_conv keep float32 weights,
    # every other convolution (decoder, post_quant_conv) is float16.
    weights = {t.name: t.data_type for t in fp16.graph.initializer}
    conv_types = [weights[n.input[1]] for n in fp16.graph.node if n.op_type == "Conv"]
    model = build_restoreformer(TINY, export_form=True, device="meta")
    pinned = sum(isinstance(m, torch.nn.Conv2d) for m in model.encoder.modules()) + 1
    assert conv_types.count(onnx.TensorProto.FLOAT) == pinned
    assert conv_types.count(onnx.TensorProto.FLOAT16) == len(conv_types) - pinned > 0


def test_onnx_runs_any_batch_like_the_faithful_port(exported: tuple) -> None:
    spec, folder, _, state = exported
    faces, _ = load_faces(spec, FACES, count=3)
    faithful = RestoreFormer(TINY).eval()
    faithful.load_state_dict(state)
    with torch.no_grad():
        expected = faithful(torch.from_numpy(faces)).numpy()
    with OrtSession(folder / "model.onnx") as session:
        restored = session.run({"image": faces})["restored"]
    # FP32: ORT vs PyTorch reorders float32 sums; the codes are the same (one-hot vs gather).
    assert np.abs(restored - expected).max() <= 1e-4 * max(1.0, float(np.abs(expected).max()))


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["restoreformer", "restoreformer-pp"])
def test_full_size_export_passes_its_checks(variant: str, tmp_path: Path) -> None:
    """`facert models export <variant>`'s path (export_model -> the spec's exporter) with
    deterministic weights standing in for the official file. Minutes on two CPU cores."""
    spec = get_spec(variant)
    model = build_restoreformer(variant_config(variant), export_form=False, device="meta")
    state = deterministic_state_dict(model)
    if spec.weights[0].strip_prefix:
        checkpoint = lightning_checkpoint(state, tmp_path / "fill.ckpt")
    else:
        checkpoint = tmp_path / "fill.pth"
        torch.save({"params_ema": state}, checkpoint)
    export_and_check(spec, checkpoint, tmp_path / "out")
