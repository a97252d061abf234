"""The export harness (facert.export.harness.learned) end to end on a tiny GPEN: ONNX FP32 + FP16, checked.

The tiny checkpoint holds equalized fill weights (outputs of order 1, like trained ones) with the
styles of every demodulated conv scaled by 1000: the function is the same (demodulation cancels the
scale) but a naive float16 build overflows, so a passing FP16 export here proves GPEN's export form
keeps its style path safe.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from pinned_spec import pinned_spec  # noqa: E402
from stylegan_export_checks import (  # noqa: E402
    check_any_batch_like_the_faithful_port,
    check_naive_fp16_overflows,
    check_style_path_stays_float32,
    style_path_tensors,
)
from tiny_export import FACES, export_tiny  # noqa: E402

from facert.errors import ExportError  # noqa: E402
from facert.export.families.gpen.export import build_gpen_export, export_gpen  # noqa: E402
from facert.export.families.gpen.export_layers import StaticMapping  # noqa: E402
from facert.export.families.gpen.net import GPEN, GPENConfig, load_gpen  # noqa: E402
from facert.export.harness.fill import equalized_state_dict  # noqa: E402
from facert.export.precision.policy import FP32  # noqa: E402
from facert.models.registry import ModelSpec, get_spec  # noqa: E402

TINY = GPENConfig(out_size=32, style_dim=32, num_mlp=2, channel_multiplier=1, narrow=1 / 16)
STYLE_SCALE = 1000.0


def large_styles(state: dict) -> dict:
    """Scale the style of every demodulated conv (conv1, convs.*): same function, huge styles."""
    demodulated = ("generator.conv1.conv.modulation.", "generator.convs.")
    return {
        key: value * STYLE_SCALE
        if key.startswith(demodulated) and ".conv.modulation." in key
        else value
        for key, value in state.items()
    }


def tiny_spec(checkpoint: Path) -> ModelSpec:
    return pinned_spec("gpen-bfr-512", checkpoint, input_size=TINY.out_size)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelSpec, Path, dict, dict]:
    folder = tmp_path_factory.mktemp("export")
    state = large_styles(equalized_state_dict(GPEN(TINY)))
    checkpoint = folder / "tiny.pth"
    torch.save(state, checkpoint)  # a plain state dict, like the official files
    spec = tiny_spec(checkpoint)
    facts = export_tiny(spec, checkpoint, functools.partial(build_gpen_export, config=TINY))
    return spec, folder, facts, state


def test_export_records_the_parity_it_reached(exported: tuple) -> None:
    spec, folder, facts, _ = exported
    parity = facts["parity"]
    json.dumps(facts, allow_nan=False)  # the manifest is strict JSON
    assert facts["precision_policy"] == list(spec.precision_policy)
    assert parity["ort_fp32_vs_torch_max_abs"] <= 1e-4 * parity["output_scale"]
    assert parity["ort_fp16_psnr_db"] >= 40.0
    assert float(parity["fp16_batch_vs_single_psnr_db"]) >= 60.0  # "inf" when identical
    assert parity["torch_fp16"]["psnr_db"] >= 40.0
    assert {p.name for p in folder.glob("*.onnx")} == set(spec.onnx_files)


def _static_weight(model: onnx.ModelProto, name: str) -> onnx.TensorProto | None:
    """The initializer behind ``name``, following Identity nodes (the exporter shares equal
    constants, such as the blur kernels of same-width layers, through Identity); else None."""
    initializers = {t.name: t for t in model.graph.initializer}
    producers = {out: node for node in model.graph.node for out in node.output}
    while name not in initializers and name in producers:
        node = producers[name]
        if node.op_type != "Identity":
            return None
        name = node.input[0]
    return initializers.get(name)


def test_graphs_have_static_weights_and_no_batch_groups(exported: tuple) -> None:
    _, folder, _, _ = exported
    for name in ("model.onnx", "model.fp16.onnx"):
        model = onnx.load(str(folder / name))
        convs = [n for n in model.graph.node if n.op_type in ("Conv", "ConvTranspose")]
        weights = [_static_weight(model, node.input[1]) for node in convs]
        assert convs and None not in weights  # every conv weight is a constant
        for node, weight in zip(convs, weights, strict=True):
            # Groups are 1, or depthwise (one input channel per group): never the batch.
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            shape = list(weight.dims)
            per_group_in = shape[0] // group if node.op_type == "ConvTranspose" else shape[1]
            assert group == 1 or per_group_in == 1, node.name
        assert not [n for n in model.graph.node if n.op_type.startswith("Random")]
        assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_the_fp16_graph_keeps_the_style_path_float32(exported: tuple) -> None:
    # Pinned weights stay float32, the checkpoint's values with the equalized-LR scales folded in:
    # modulation weight + bias of each modulated conv, the weight-square sums of each demodulated
    # one, weight + bias of each mapping layer (final_linear and the style MLP); nothing else.
    _, folder, _, state = exported
    module = build_gpen_export(state, FP32, TINY)
    (mapping,) = [m for m in module.modules() if isinstance(m, StaticMapping)]
    check_style_path_stays_float32(folder, style_path_tensors(module, mapping.named_parameters()))


def test_onnx_runs_any_batch_like_the_faithful_port(exported: tuple) -> None:
    spec, folder, _, state = exported
    check_any_batch_like_the_faithful_port(spec, folder, load_gpen(state, TINY), FACES)


def test_naive_fp16_overflows_where_the_export_form_does_not(exported: tuple) -> None:
    spec, _, facts, state = exported
    unscaled = functools.partial(build_gpen_export, config=TINY, rescale_styles=False)
    check_naive_fp16_overflows(spec, facts, state, load_gpen(state, TINY), unscaled, FACES)


def test_the_exporter_refuses_a_size_without_an_official_configuration(tmp_path: Path) -> None:
    spec = dataclasses.replace(get_spec("gpen-bfr-512"), input_size=128)
    with pytest.raises(ExportError, match="no GPEN-BFR configuration for 128"):
        export_gpen(spec, [tmp_path / "unused.pth"], tmp_path)
