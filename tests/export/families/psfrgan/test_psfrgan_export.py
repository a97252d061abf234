"""PSFR-GAN's exporter end to end on a tiny network: three graphs, each checked.

A 32 px PSFR-GAN (tests/tiny_psfrgan.py: deterministic fill in the official layouts, the generator's
spectral-norm u and v from power iterations) through the real exporter: the restorer graphs through
the shared harness (ONNX Runtime FP32 vs PyTorch within 1e-4 of the output scale, FP16 >= 40 dB,
batch rows = single runs), ParseNet's graph checked the same way in FP32.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from tiny_export import FACES  # noqa: E402
from tiny_psfrgan import TINY_G, TINY_P, tiny_export, tiny_files, tiny_spec  # noqa: E402

from facert.backends.ort import OrtSession  # noqa: E402
from facert.errors import ExportError, WeightsError  # noqa: E402
from facert.export.families.psfrgan.exporter import PSFRGANExporter  # noqa: E402
from facert.export.families.psfrgan.generator import load_generator, one_hot_of_max  # noqa: E402
from facert.export.families.psfrgan.parsenet import load_parsenet  # noqa: E402
from facert.models.artifacts import Artifact  # noqa: E402
from facert.models.check_faces import load_faces  # noqa: E402
from facert.models.registry import get_spec  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Artifact, dict]]:
    yield tiny_export(tmp_path_factory.mktemp("psfrgan"))


def test_export_records_the_parity_it_reached(exported: tuple) -> None:
    artifact, facts = exported
    json.dumps(facts, allow_nan=False)  # the manifest is strict JSON
    parity = facts["parity"]
    assert parity["ort_fp32_vs_torch_max_abs"] <= 1e-4 * parity["output_scale"]
    assert parity["fp32_batch_vs_single_max_abs"] <= 1e-4 * parity["output_scale"]
    assert parity["ort_fp16_psnr_db"] >= 40.0 and parity["torch_fp16"]["psnr_db"] >= 40.0
    assert float(parity["fp16_batch_vs_single_psnr_db"]) >= 60.0  # "inf" when identical
    assert "fp16_refused" not in facts
    assert {p.name for p in artifact.folder.glob("*.onnx")} == set(artifact.spec.onnx_files)
    parse = facts["parsenet"]
    assert parse["ort_fp32_vs_torch_max_abs"] <= 1e-4 * parse["output_scale"]
    assert parse["fp32_batch_vs_single_max_abs"] <= 1e-4 * parse["output_scale"]


def _faces(count: int = 2) -> np.ndarray:
    return load_faces(tiny_spec(), FACES, count)[0]


def test_the_graphs_are_the_official_test_path(exported: tuple) -> None:
    # model.onnx = generator(image, one-hot(ParseNet(image))) of the faithful ports; parsenet.onnx
    # = ParseNet's logits. Same tolerance as the export's: 1e-4 of the output scale.
    artifact, _ = exported
    state = [torch.load(p, weights_only=True) for p in tiny_files(artifact.folder / "again")]
    generator, parse = load_generator(state[0], TINY_G), load_parsenet(state[1], TINY_P)
    faces = _faces()
    with torch.no_grad():
        logits, _ = parse(torch.from_numpy(faces))
        expected = generator(torch.from_numpy(faces), one_hot_of_max(logits)).numpy()
    with OrtSession(artifact.path("model.onnx")) as session:
        restored = session.run({"image": faces})["restored"]
    with OrtSession(artifact.path("parsenet.onnx")) as session:
        parsing = session.run({"image": faces})["parsing"]
    assert np.abs(restored - expected).max() <= 1e-4 * max(1.0, float(np.abs(expected).max()))
    assert np.abs(parsing - logits.numpy()).max() <= 1e-4 * max(1.0, float(logits.abs().max()))
    assert parsing.shape == (2, 19, 32, 32)


def test_the_one_hot_is_reduce_max_equal_cast(exported: tuple) -> None:
    artifact, _ = exported
    ops = {node.op_type for node in onnx.load(str(artifact.path("model.onnx"))).graph.node}
    assert {"ReduceMax", "Equal", "Cast"} <= ops and "ArgMax" not in ops


def test_the_fp16_graph_keeps_parsenet_float32(exported: tuple) -> None:
    # Every ParseNet conv weight stays float32 in the FP16 graph (the policy's first entry), the
    # generator's are float16: the one-hot is taken from float32 logits.
    artifact, _ = exported
    model = onnx.load(str(artifact.path("model.fp16.onnx")))
    initializers = {t.name: t.data_type for t in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    dtypes = [initializers.get(n.input[1]) for n in convs]
    parse_convs = sum(1 for n in convs if "parse" in n.name)
    assert parse_convs > 0
    float32 = [n.name for n, d in zip(convs, dtypes, strict=True) if d == onnx.TensorProto.FLOAT]
    assert all("parse" in name for name in float32) and len(float32) == parse_convs


def test_a_size_other_than_the_networks_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="networks are 512, not 32"):
        PSFRGANExporter()(tiny_spec(), tiny_files(tmp_path), tmp_path)


def test_one_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="expected the generator and ParseNet files, got 1"):
        PSFRGANExporter(TINY_P, TINY_G).check_sources(tiny_spec(), tiny_files(tmp_path)[:1])


def test_swapped_files_are_refused_naming_the_file(tmp_path: Path) -> None:
    files = tiny_files(tmp_path)
    with pytest.raises(WeightsError) as caught:
        PSFRGANExporter(TINY_P, TINY_G).check_sources(get_spec("psfrgan"), files[::-1])
    assert str(files[1]) in str(caught.value) and "\n" not in str(caught.value)


def test_openvino_bf16_passes_the_accuracy_gate_with_parsenet_kept_f32(
    exported: tuple, tmp_path: Path
) -> None:
    # BF16 keeps the FP16 graph's pins (ParseNet, the instance norms) in f32, as FP16 does; the
    # gate's 40 dB on the check faces. On a CPU without BF16 OpenVINO runs f32 (the gate passes).
    pytest.importorskip("openvino")
    from facert.backends.choice import Chooser
    from facert.backends.openvino import pinned_ops

    artifact, _ = exported
    pins = pinned_ops(artifact.path("model.fp16.onnx"))
    assert any("parse" in name for name in pins)
    compiled, _ = Chooser(tmp_path, artifact, threads=2).openvino_artifact("bf16")
    gate = compiled.manifest["gate"]
    assert gate["passed"] and float(gate["min_psnr_db"]) >= 40.0 and gate["finite"]
