"""ONNX external data (facert.export.harness.onnx): a graph past the threshold keeps its tensors in
one ``<graph>.data`` file beside it, which the manifest lists and the runtime checks and loads.

The threshold is forced down so tiny graphs take the path 2 GB graphs take. Outputs are compared
exactly (0.0): the same graph with its tensors stored elsewhere must compute the same bits in the
same engine.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from pinned_spec import pinned_spec  # noqa: E402
from tiny_export import FACES  # noqa: E402
from torch_state import one_thread  # noqa: E402

from facert.backends import engine_for  # noqa: E402
from facert.errors import ArtifactError  # noqa: E402
from facert.export import exporters  # noqa: E402
from facert.export.families.gfpgan.export import build_gfpgan_export  # noqa: E402
from facert.export.families.gfpgan.net import GFPGAN, GFPGANConfig  # noqa: E402
from facert.export.harness import onnx as harness_onnx  # noqa: E402
from facert.export.harness.api import export_model  # noqa: E402
from facert.export.harness.fill import deterministic_state_dict  # noqa: E402
from facert.export.harness.onnx import data_file, remove_graph, write_onnx  # noqa: E402
from facert.export.harness.source_check import LearnedExporter  # noqa: E402
from facert.export.precision.onnx_fp16 import demote_file, demote_to_float16  # noqa: E402
from facert.io.files import sha256_of  # noqa: E402
from facert.models.artifacts import FP16_GRAPH, FP32_GRAPH, check_artifact  # noqa: E402

TINY = GFPGANConfig(out_size=32, num_style_feat=32, channel_multiplier=1, narrow=0.125)
EXPORTER = "gfpgan-tiny-external-data-test"


class Staged(torch.nn.Module):
    """Two convolutions and a pinned scale between them (float64 in the staged trace, float32
    once demoted); every tensor is past the size that stays inline."""

    def __init__(self) -> None:
        super().__init__()
        self.first = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.scale = torch.nn.Parameter(torch.rand(1, 16, 8, 8, dtype=torch.float64))
        self.second = torch.nn.Conv2d(16, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second((self.first(x).double() * self.scale).float())


def _write(module: torch.nn.Module, path: Path, threshold: int | None = None) -> None:
    write_onnx(
        module.eval(),
        [torch.zeros(1, 3, 8, 8)],
        path,
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
        external_threshold=threshold,
    )


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    with engine_for(path) as engine:
        return engine.run({"x": x})["y"]


def test_below_the_threshold_the_graph_is_what_the_exporter_wrote(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = Staged().eval()
    _write(module, tmp_path / "ours.onnx")
    with torch.no_grad():
        torch.onnx.export(
            module,
            (torch.zeros(1, 3, 8, 8),),
            str(tmp_path / "direct.onnx"),
            dynamo=False,
            opset_version=harness_onnx.OPSET,
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
            do_constant_folding=True,
        )
    assert (tmp_path / "ours.onnx").read_bytes() == (tmp_path / "direct.onnx").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["direct.onnx", "ours.onnx"]
    # The FP16 demotion below the threshold saves what onnx.save saved before.
    expected = demote_to_float16(onnx.load(str(tmp_path / "direct.onnx")))
    demote_file(tmp_path / "ours.onnx")
    assert (tmp_path / "ours.onnx").read_bytes() == expected.SerializeToString()


def test_past_the_threshold_one_data_file_holds_the_tensors(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = Staged().eval()
    _write(module, tmp_path / "inline.onnx")
    _write(module, tmp_path / "external.onnx", threshold=0)
    data = data_file(tmp_path / "external.onnx")
    assert data.name == "external.onnx.data" and data.stat().st_size > 8 * 16 * 64
    assert (tmp_path / "external.onnx").stat().st_size < 1024  # the structure alone
    assert not list(tmp_path.glob(".trace-*"))  # the trace folder is gone
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    assert np.array_equal(_run(tmp_path / "external.onnx", x), _run(tmp_path / "inline.onnx", x))
    # Demoted in place: the data file is rewritten (float16 and float32 tensors), not appended to.
    before = data.stat().st_size
    demote_file(tmp_path / "external.onnx", threshold=0)
    demote_file(tmp_path / "inline.onnx")
    assert data.stat().st_size < before
    expected = _run(tmp_path / "inline.onnx", x)
    assert np.array_equal(_run(tmp_path / "external.onnx", x), expected)
    remove_graph(tmp_path / "external.onnx")  # what a refused FP16 graph gets
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inline.onnx"]


@pytest.fixture(scope="module")
def external(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """A tiny GFPGAN exported through export_model with every graph's data forced external."""
    folder = tmp_path_factory.mktemp("external")
    checkpoint = folder / "tiny.pth"
    torch.save({"params_ema": deterministic_state_dict(GFPGAN(TINY))}, checkpoint)
    spec = pinned_spec("gfpgan-1.4", checkpoint, input_size=TINY.out_size, exporter=EXPORTER)
    build = functools.partial(build_gfpgan_export, config=TINY)
    with pytest.MonkeyPatch.context() as patch, one_thread():
        patch.setitem(exporters._EXPORTERS, EXPORTER, LearnedExporter(lambda _: build, FACES))
        patch.setattr(harness_onnx, "EXTERNAL_DATA_THRESHOLD", 0)
        export_model(spec, [checkpoint], folder / "export", sha256_of(checkpoint))
    return spec, folder / "export"


def test_the_manifest_lists_each_data_file_and_the_runtime_checks_it(external: tuple) -> None:
    spec, folder = external
    manifest = json.loads((folder / "manifest.json").read_text())
    for graph in (FP32_GRAPH, FP16_GRAPH):
        data = manifest["files"][graph]["external_data"]
        path = folder / f"{graph}.data"
        assert data == {
            "file": path.name,
            "sha256": sha256_of(path),
            "bytes": path.stat().st_size,
        }
    export = check_artifact(spec, folder)
    assert export.files == (FP16_GRAPH, FP32_GRAPH)
    # Compiled artifacts are keyed by the graph AND its data: the structure file alone is the
    # same for any weights.
    entry = manifest["files"][FP32_GRAPH]
    assert export.graph_sha256(FP32_GRAPH) not in (
        entry["sha256"],
        entry["external_data"]["sha256"],
    )
    del entry["external_data"]
    inline = dataclasses.replace(export, manifest=manifest)
    assert inline.graph_sha256(FP32_GRAPH) == entry["sha256"]


@pytest.mark.parametrize("graph", [FP32_GRAPH, FP16_GRAPH])
def test_engines_load_the_graph_and_compute_what_the_inline_graph_computes(
    external: tuple, graph: str, tmp_path: Path
) -> None:
    _, folder = external
    inline = tmp_path / graph
    onnx.save(onnx.load(str(folder / graph)), str(inline))  # the same graph, tensors inside
    faces = np.random.default_rng(1).uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32)
    with engine_for(folder / graph) as engine, engine_for(inline) as reference:
        got, expected = engine.run({"image": faces}), reference.run({"image": faces})
        assert np.array_equal(got["restored"], expected["restored"])
    pytest.importorskip("openvino")
    from facert.backends.openvino import OpenVinoEngine

    with OpenVinoEngine(folder / graph) as engine, OpenVinoEngine(inline) as reference:
        got, expected = engine.run({"image": faces}), reference.run({"image": faces})
        assert np.array_equal(got["restored"], expected["restored"])


@pytest.mark.slow  # a TensorRT-RTX build: about 6 s on two loaded cores
def test_tensorrt_rtx_builds_a_plan_from_the_external_graph(
    external: tuple, tmp_path: Path
) -> None:
    pytest.importorskip("tensorrt_rtx")
    from facert.models.trt_plans import BuildRequest, build_export_plans

    spec, folder = external
    [plan] = build_export_plans(check_artifact(spec, folder), tmp_path, BuildRequest(max_batch=2))
    assert plan.key.source_graph == FP16_GRAPH and plan.path.stat().st_size > 10_000


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing", r"missing model\.onnx\.data, the external data of model\.onnx"),
        ("changed", r"model\.onnx\.data \(the external data of model\.onnx\) is not the file"),
        ("shorter", r"model\.onnx\.data \(the external data of model\.onnx\) is not the file"),
    ],
)
def test_a_missing_or_changed_data_file_is_refused_in_one_line(
    external: tuple, damage: str, message: str, tmp_path: Path
) -> None:
    spec, folder = external
    copy = tmp_path / "export"
    copy.mkdir()
    for path in folder.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    data = copy / "model.onnx.data"
    if damage == "missing":
        data.unlink()
    elif damage == "changed":  # same size, one byte flipped
        content = bytearray(data.read_bytes())
        content[len(content) // 2] ^= 0xFF
        data.write_bytes(bytes(content))
    else:
        data.write_bytes(data.read_bytes()[:-4])
    with pytest.raises(ArtifactError, match=message) as info:
        check_artifact(spec, copy)
    assert "\n" not in str(info.value)
