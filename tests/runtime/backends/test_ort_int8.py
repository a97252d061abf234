"""Static INT8 QDQ graphs of learned exports (facert.backends.ort_int8), calibrated on
facert.models.calibration's feeds: built through compile_graph from tiny real exports (GFPGAN,
CodeFormer), run by facert's OrtSession, compared with the FP32 graph."""

from __future__ import annotations

import dataclasses
import functools
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

import tiny_codeformer  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from pinned_spec import pinned_spec  # noqa: E402
from tiny_export import FACES  # noqa: E402
from torch_state import one_thread  # noqa: E402

from facert.backends.ort import OrtSession  # noqa: E402
from facert.backends.ort_int8 import Int8Quantizer, pinned_node_names  # noqa: E402
from facert.demo.metrics import psnr  # noqa: E402
from facert.errors import ArtifactError, MissingDependencyError, UsageError  # noqa: E402
from facert.export import exporters  # noqa: E402
from facert.export.families.gfpgan.export import build_gfpgan_export  # noqa: E402
from facert.export.families.gfpgan.net import GFPGAN, GFPGANConfig  # noqa: E402
from facert.export.harness.api import export_model  # noqa: E402
from facert.export.harness.fill import deterministic_state_dict  # noqa: E402
from facert.export.harness.source_check import LearnedExporter  # noqa: E402
from facert.io.files import sha256_of  # noqa: E402
from facert.models.artifacts import FP16_GRAPH, FP32_GRAPH, Artifact, check_artifact  # noqa: E402
from facert.models.calibration import calibration_faces, calibration_feeds  # noqa: E402
from facert.models.check_faces import load_faces, option_arrays, option_cases  # noqa: E402
from facert.models.compiled import CompiledArtifact  # noqa: E402
from facert.models.compiling import compile_graph, compiled_key  # noqa: E402
from facert.models.registry import ExtraInput, get_spec  # noqa: E402

TINY_GFPGAN = GFPGANConfig(out_size=32, num_style_feat=32, channel_multiplier=1, narrow=0.125)
TINY_EXPORTER = "gfpgan-tiny-int8-test"
QUANTIZED = ("Conv", "Gemm", "MatMul")  # more than the default, to see the pinned ones left out


def _export(folder: Path, family: str) -> Artifact:
    """A tiny export of ``family`` with its manifest (facert.export.harness.api.export_model),
    checked on the repository's aligned faces, torch on one thread."""
    checkpoint = folder / "tiny.pth"
    with pytest.MonkeyPatch.context() as patch, one_thread():
        if family == "gfpgan":
            torch.save({"params_ema": deterministic_state_dict(GFPGAN(TINY_GFPGAN))}, checkpoint)
            spec = pinned_spec(
                "gfpgan-1.4", checkpoint, input_size=TINY_GFPGAN.out_size, exporter=TINY_EXPORTER
            )
            build = functools.partial(build_gfpgan_export, config=TINY_GFPGAN)
            exporter = LearnedExporter(lambda spec: build, faces=FACES)
            patch.setitem(exporters._EXPORTERS, TINY_EXPORTER, exporter)
        else:  # tiny_codeformer registers its exporter when imported
            spec = tiny_codeformer.tiny_spec(tiny_codeformer.write_checkpoint(checkpoint))
        export_model(spec, [checkpoint], folder / "export", sha256_of(checkpoint))
    return check_artifact(spec, folder / "export")


# GFPGAN: no graph-input option, a pinned style path; CodeFormer: an option (fidelity) and a
# pinned encoder (its tiny export takes about 10 s, all of this file 20 s).
@pytest.fixture(scope="module", params=["gfpgan", "codeformer"])
def built(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Artifact, CompiledArtifact]:
    export = _export(tmp_path_factory.mktemp("export"), request.param)
    quantizer = Int8Quantizer(export.spec, QUANTIZED)
    key = compiled_key(export, FP32_GRAPH, quantizer, precision="int8")
    return export, compile_graph(tmp_path_factory.mktemp("cache"), export, key, quantizer)


def test_the_key_is_int8_for_any_device(built: tuple[Artifact, CompiledArtifact]) -> None:
    import onnxruntime

    _, artifact = built
    key = artifact.key
    assert (key.kind, key.backend, key.backend_version) == (
        "int8-qdq",
        "onnxruntime",
        onnxruntime.__version__,
    )
    assert (key.precision, key.device, key.batch_profile) == ("int8", "any", None)
    assert artifact.path.name == "model.int8.onnx"


def _producers(model: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    return {output: node for node in model.graph.node for output in node.output}


def _dequantized(node: onnx.NodeProto, producers: dict[str, onnx.NodeProto]) -> list[bool]:
    """Whether each input of ``node`` is a DequantizeLinear's output."""
    return [
        name in producers and producers[name].op_type == "DequantizeLinear" for name in node.input
    ]


def test_quantized_ops_run_through_qdq_and_pinned_ones_do_not(
    built: tuple[Artifact, CompiledArtifact],
) -> None:
    export, artifact = built
    model = onnx.load(str(artifact.path))
    producers = _producers(model)
    by_name = {node.name: node for node in model.graph.node}
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("QuantizeLinear") > 0 and ops.count("DequantizeLinear") > 0
    pinned = pinned_node_names(export.path(FP16_GRAPH)) & set(by_name)
    # The precision policy pins Gemm/MatMul nodes (GFPGAN's style path, CodeFormer's code
    # selection) under the same names in both graphs: the exclusion is tested on real nodes.
    assert {by_name[name].op_type for name in pinned} & {"Gemm", "MatMul"}
    for name in pinned:
        assert not any(_dequantized(by_name[name], producers)), name
    # Every other convolution reads dequantized int8 data and weights. GFPGAN pins no
    # convolution; CodeFormer pins its whole encoder (only its generator's are quantized).
    convs = [node for node in model.graph.node if node.op_type == "Conv"]
    quantized = [node for node in convs if node.name not in pinned]
    assert quantized and all(
        _dequantized(node, producers)[:2] == [True, True] for node in quantized
    )
    assert bool(pinned & {node.name for node in convs}) == (export.spec.family == "codeformer")


def _run_all(path: Path, feeds: list[dict[str, np.ndarray]]) -> tuple[list[np.ndarray], dict]:
    with OrtSession(path, threads=1) as session:
        interface = (session.inputs, session.outputs)
        return [session.run(feed)["restored"] for feed in feeds], interface


def test_it_runs_like_the_fp32_graph_within_int8_noise(
    built: tuple[Artifact, CompiledArtifact],
) -> None:
    export, artifact = built
    spec = export.spec
    images, _ = load_faces(spec, FACES, count=len(FACES))
    feeds = []
    for case in option_cases(spec):
        options = option_arrays(spec, case, len(images))
        names = [o.name for o in spec.options if o.graph_input]
        feeds.append({"image": images, **dict(zip(names, options, strict=True))})
    expected, fp32_interface = _run_all(export.path(FP32_GRAPH), feeds)
    actual, int8_interface = _run_all(artifact.path, feeds)
    assert int8_interface == fp32_interface
    for reference, output in zip(expected, actual, strict=True):
        peak = max(2.0, float(reference.max() - reference.min()))  # the export's peak_to_peak
        values = [psnr(r, o, peak) for r, o in zip(reference, output, strict=True)]
        # Measured: 38.6 dB (tiny GFPGAN), 36.9 dB (tiny CodeFormer, fidelity 0.5). Tiny fills
        # are not trained weights and INT8 costs them more than the 40 dB gate allows; 30 dB (RMS
        # error 3 % of the output's range) still leaves a wrong quantization (a scale off by a
        # factor, a node reading raw integers, a missing option) far below it.
        assert min(values) >= 30.0, values
        assert np.isfinite(output).all()


def _pinned_pair(folder: Path, size: int) -> Path:
    """A hand-written FP32 graph and its FP16 form, whose policy pins the node "pinned": "conv"
    and "pinned" both read ``image``; ``restored`` = conv(image) + 2 image. Returns the FP32 one."""
    rng = np.random.default_rng(0)
    weight, bias = rng.normal(0, 0.3, (3, 3, 3, 3)), rng.normal(0, 0.1, 3)
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, size, size])
    restored = helper.make_tensor_value_info("restored", TensorProto.FLOAT, ["N", 3, size, size])
    for name, dtype in ((FP32_GRAPH, np.float32), (FP16_GRAPH, np.float16)):
        half = dtype == np.float16
        read = "image16" if half else "image"
        nodes = [
            helper.make_node("Conv", [read, "w", "b"], ["features"], name="conv", pads=[1] * 4),
            helper.make_node("Mul", ["image", "two"], ["doubled"], name="pinned"),
            helper.make_node(
                "Add",
                ["features", "doubled16" if half else "doubled"],
                ["sum16" if half else "restored"],
                name="add",
            ),
        ]
        if half:
            to16, to32 = TensorProto.FLOAT16, TensorProto.FLOAT
            nodes.insert(0, helper.make_node("Cast", ["image"], [read], name="in", to=to16))
            nodes.insert(3, helper.make_node("Cast", ["doubled"], ["doubled16"], to=to16))
            nodes.append(helper.make_node("Cast", ["sum16"], ["restored"], name="out", to=to32))
        weights = [
            numpy_helper.from_array(weight.astype(dtype), "w"),
            numpy_helper.from_array(bias.astype(dtype), "b"),
            numpy_helper.from_array(np.float32(2.0), "two"),
        ]
        graph = helper.make_graph(nodes, "pair", [image], [restored], initializer=weights)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        onnx.save(model, str(folder / name))
    return folder / FP32_GRAPH


def test_a_pinned_node_reads_the_float_tensor_a_quantized_one_reads_quantized(
    tmp_path: Path,
) -> None:
    spec = dataclasses.replace(get_spec("gfpgan-1.4"), input_size=8)
    source = _pinned_pair(tmp_path, spec.input_size)
    assert pinned_node_names(tmp_path / FP16_GRAPH) == {"pinned"}  # not the FP16 build's casts
    target = tmp_path / "model.int8.onnx"
    Int8Quantizer(spec, ("Conv", "Mul", "Add")).compile(source, target, "int8", None)
    model = onnx.load(str(target))
    producers = _producers(model)
    nodes = {node.name: node for node in model.graph.node}
    # The quantizer put one QDQ pair on image for the convolution; the pinned Mul still reads
    # the image itself, and its own weight unquantized.
    assert producers[nodes["conv"].input[0]].op_type == "DequantizeLinear"
    assert list(nodes["pinned"].input) == ["image", "two"]
    assert all(_dequantized(nodes["add"], producers))  # Add is quantized: not pinned
    images = calibration_feeds(spec)[0]["image"]
    with OrtSession(source) as fp32, OrtSession(target) as int8:
        expected, actual = fp32.run({"image": images}), int8.run({"image": images})
    peak = float(np.ptp(expected["restored"]))
    # 8-bit steps of a 3-node graph: about 1/255 of the range per step, 40 dB and more.
    assert psnr(expected["restored"], actual["restored"], peak) >= 40.0


def test_a_precision_other_than_int8_is_refused_in_one_line(
    built: tuple[Artifact, CompiledArtifact], tmp_path: Path
) -> None:
    export, _ = built
    quantizer = Int8Quantizer(export.spec)
    key = compiled_key(export, FP32_GRAPH, quantizer)  # the graph's own precision: fp32
    with pytest.raises(UsageError) as info:
        compile_graph(tmp_path, export, key, quantizer)
    assert str(info.value) == "int8-qdq artifacts are int8, not fp32"
    assert not list(tmp_path.rglob("*.onnx"))  # nothing was left behind


def test_a_graph_the_quantizer_cannot_read_is_named(tmp_path: Path) -> None:
    source = tmp_path / "model.onnx"
    source.write_bytes(b"not an onnx graph")
    spec = get_spec("gfpgan-1.4")
    with pytest.raises(ArtifactError) as info:
        Int8Quantizer(spec).compile(source, tmp_path / "out.onnx", "int8", None)
    message = str(info.value)
    assert (
        message.startswith(f"{source}: ONNX Runtime cannot quantize it (") and "\n" not in message
    )


def test_without_onnx_it_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # what `import onnx` meets when it is absent
    with pytest.raises(MissingDependencyError) as info:
        pinned_node_names(tmp_path / "model.fp16.onnx")
    assert str(info.value) == "INT8 quantization needs onnx: pip install facert[int8]"


def test_calibration_feeds_are_fixed_and_cover_every_option_case() -> None:
    spec = dataclasses.replace(
        get_spec("codeformer"),
        input_size=64,
        extra_inputs=(ExtraInput("parsing", (19, 64, 64), "a parsing map", "float16"),),
    )
    first, second = calibration_feeds(spec), calibration_feeds(spec)
    cases = option_cases(spec)
    faces, _ = calibration_faces(spec)
    assert len(cases) > 1 and len(first) == len(second) == len(cases) * len(faces)
    for a, b in zip(first, second, strict=True):
        assert a.keys() == b.keys() == {"image", "fidelity", "parsing"}
        for name in a:
            np.testing.assert_array_equal(a[name], b[name])  # the same arrays, bit for bit
        assert a["image"].shape == (1, 3, 64, 64) and a["image"].dtype == np.float32
        assert a["fidelity"].dtype == np.float32 and a["fidelity"].shape == (1,)
        assert a["parsing"].dtype == np.float16 and not a["parsing"].any()
    # Every face at every case, in order: the faces, then the faces again at the next case.
    for index, case in enumerate(cases):
        block = first[index * len(faces) : (index + 1) * len(faces)]
        assert all(float(feed["fidelity"][0]) == case["fidelity"] for feed in block)
        np.testing.assert_array_equal(np.concatenate([feed["image"] for feed in block]), faces)
    # The check faces, their 48 px copies and 8 degraded photos' faces: all different.
    assert len(faces) == 12 and len({row.tobytes() for row in faces}) == len(faces)
