"""The shared export harness (facert.export.harness.learned) end to end on a tiny GFPGAN, and its failures.

The tiny checkpoint has the styles of every demodulated conv scaled by 1000: the function is the same
(demodulation cancels the scale) but a naive float16 build overflows, so a passing FP16 export here
also proves the overflow fix.
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

from facert.errors import ExportError, WeightsError  # noqa: E402
from facert.export import exporters  # noqa: E402
from facert.export.families.gfpgan.export import build_gfpgan_export  # noqa: E402
from facert.export.families.gfpgan.net import GFPGAN, GFPGANConfig, load_gfpgan  # noqa: E402
from facert.export.harness.api import export_model  # noqa: E402
from facert.export.harness.fill import deterministic_state_dict  # noqa: E402
from facert.export.harness.learned import export_learned  # noqa: E402
from facert.export.precision.policy import FP32, Precision  # noqa: E402
from facert.io.files import sha256_of  # noqa: E402
from facert.models.registry import ModelSpec  # noqa: E402

TINY = GFPGANConfig(out_size=32, num_style_feat=32, channel_multiplier=1, narrow=0.125)
STYLE_SCALE = 1000.0


def large_styles(state: dict) -> dict:
    """Scale the style (modulation) of every demodulated conv: same function, huge squared styles."""
    return {
        key: value * STYLE_SCALE
        if key.startswith("stylegan_decoder.style_conv") and ".modulation." in key
        else value
        for key, value in state.items()
    }


def tiny_spec(checkpoint: Path) -> ModelSpec:
    return pinned_spec("gfpgan-1.4", checkpoint, input_size=TINY.out_size)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelSpec, Path, dict, dict]:
    folder = tmp_path_factory.mktemp("export")
    state = large_styles(deterministic_state_dict(GFPGAN(TINY)))
    checkpoint = folder / "tiny.pth"
    torch.save({"params_ema": state}, checkpoint)
    spec = tiny_spec(checkpoint)
    facts = export_tiny(spec, checkpoint, functools.partial(build_gfpgan_export, config=TINY))
    return spec, folder, facts, state


def test_export_records_the_parity_it_reached(exported: tuple) -> None:
    spec, folder, facts, _ = exported
    assert facts["opset"] == 17 and facts["precision_policy"] == list(spec.precision_policy)
    parity = facts["parity"]
    mirrored = [f"{p.name} mirrored" for p in FACES]
    assert parity["faces"] == [p.name for p in FACES] + mirrored
    json.dumps(facts, allow_nan=False)  # the manifest is strict JSON
    assert parity["ort_fp32_vs_torch_max_abs"] <= 1e-4 * parity["output_scale"]
    assert parity["ort_fp16_psnr_db"] >= 40.0
    assert parity["torch_fp16"]["psnr_db"] >= 40.0
    assert parity["torch_fp16"]["mode"] == "float16 storage emulated on CPU"
    # No graph-input options: one case, the defaults, whose numbers the top level repeats.
    assert facts["checked_options"] == {} and len(parity["cases"]) == 1
    assert parity["cases"][0]["options"] == {}
    assert parity["cases"][0]["ort_fp16_psnr_db"] == parity["ort_fp16_psnr_db"]
    assert {p.name for p in folder.glob("*.onnx")} == set(spec.onnx_files)


def _initializers(model: onnx.ModelProto) -> dict[str, int]:
    return {t.name: t.data_type for t in model.graph.initializer}


def test_graphs_have_static_weights_free_batch_and_fp16_types(exported: tuple) -> None:
    _, folder, _, _ = exported
    fp32 = onnx.load(str(folder / "model.onnx"))
    fp16 = onnx.load(str(folder / "model.fp16.onnx"))
    for model, weight_type in ((fp32, onnx.TensorProto.FLOAT), (fp16, onnx.TensorProto.FLOAT16)):
        weights = _initializers(model)
        convs = [n for n in model.graph.node if n.op_type == "Conv"]
        assert convs and all(weights.get(n.input[1]) == weight_type for n in convs)
        assert all(a.i == 1 for n in convs for a in n.attribute if a.name == "group")
        assert not [n for n in model.graph.node if n.op_type.startswith("Random")]
        image = model.graph.input[0]
        assert image.name == "image" and image.type.tensor_type.shape.dim[0].dim_param == "batch"
    # The FP16 graph has the FP32 graph's float32 interface: the image goes to float16 once (its
    # reader is a float16 convolution), the output comes back to float32 at the end.
    assert fp16.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert fp16.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    readers = [n for n in fp16.graph.node if "image" in n.input]
    assert [(n.op_type, n.attribute[0].i) for n in readers] == [("Cast", onnx.TensorProto.FLOAT16)]
    assert fp16.graph.node[-1].op_type == "Cast" and fp16.graph.node[-1].output[0] == "restored"
    assert not [n for n in fp32.graph.node if n.op_type == "Cast"]


def test_the_fp16_graph_keeps_the_style_path_float32(exported: tuple) -> None:
    # Pinned weights stay float32, the checkpoint's own values: each modulated conv's modulation
    # (weight, bias) and each demodulated one's weight-square sums; nothing else stays float32.
    _, folder, _, state = exported
    module = build_gfpgan_export(state, FP32, config=TINY)
    check_style_path_stays_float32(folder, style_path_tensors(module))


def test_onnx_runs_any_batch_like_the_faithful_port(exported: tuple) -> None:
    spec, folder, _, state = exported
    check_any_batch_like_the_faithful_port(spec, folder, load_gfpgan(state, TINY), FACES)


def test_naive_fp16_overflows_where_the_export_form_does_not(exported: tuple) -> None:
    spec, _, facts, state = exported
    unscaled = functools.partial(build_gfpgan_export, config=TINY, rescale_styles=False)
    check_naive_fp16_overflows(spec, facts, state, load_gfpgan(state, TINY), unscaled, FACES)


class RowMixer(torch.nn.Module):
    """A 1x1 conv that leaks the batch mean into every row: batch and single runs must differ."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        out = self.conv(image.to(self.conv.weight.dtype))  # float32 in, as the harness feeds
        return out + 0.5 * (out.mean(0, keepdim=True) - out)


class FrozenBranch(torch.nn.Module):
    """A 1x1 conv whose sign follows a Python branch on the data: tracing freezes the side the
    example face takes (the astronaut, mean 0.10), so the graph disagrees with the module on faces
    that take the other (grace_hopper, mean -0.12): the classic traced-export bug."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        out = self.conv(image.to(self.conv.weight.dtype))
        return out if float(image.mean()) > 0 else -out


BROKEN = {"row-mixer": RowMixer, "frozen-branch": FrozenBranch}


def export_broken(spec: ModelSpec, sources: list[Path], workdir: Path) -> dict:
    """The exporter of the broken specs below: the harness on the BROKEN network of that name."""

    def build(state: dict, precision: Precision) -> torch.nn.Module:
        module = BROKEN[spec.name]()
        module.load_state_dict(state)
        return module.to(precision.activation)

    return export_learned(spec, sources, workdir, build, faces=FACES)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("row-mixer", r"FP32 batch of 4 vs single runs: max abs difference"),
        ("frozen-branch", r"ONNX Runtime FP32 vs PyTorch: max abs .* on grace_hopper_512\.png"),
    ],
)
@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_an_export_failing_an_fp32_check_writes_nothing(
    tmp_path: Path, name: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint = tmp_path / f"{name}.pth"
    torch.save({"params": deterministic_state_dict(BROKEN[name]())}, checkpoint)
    spec = dataclasses.replace(tiny_spec(checkpoint), name=name, exporter="broken-test")
    monkeypatch.setitem(exporters._EXPORTERS, spec.exporter, export_broken)
    with pytest.raises(ExportError, match=message) as info:
        export_model(spec, [checkpoint], tmp_path / "export", sha256_of(checkpoint))
    assert "\n" not in str(info.value)
    # Neither the export folder nor the work folder it was built in is left behind.
    assert [p.name for p in tmp_path.iterdir()] == [checkpoint.name]


def test_a_wrong_checkpoint_is_named(tmp_path: Path) -> None:
    state = deterministic_state_dict(GFPGAN(TINY))
    del state["final_linear.bias"]
    checkpoint = tmp_path / "broken.pth"
    torch.save({"params_ema": state}, checkpoint)
    build = functools.partial(build_gfpgan_export, config=TINY)
    with pytest.raises(WeightsError, match=r"broken\.pth: keys do not match.*final_linear\.bias"):
        export_learned(tiny_spec(checkpoint), [checkpoint], tmp_path, build, faces=FACES)
