"""The OpenVINO backend against ONNX Runtime FP32, on tiny configurations of every family.

FP32 agrees within 1e-4 of the output scale (the export's FP32 tolerance: two float32
implementations of the same graph, different summation orders). BF16 must reach the accuracy gate's
40 dB; on a CPU without BF16 instructions OpenVINO runs a bf16 request in f32, and the test says
which it ran. Correct on machines with and without AMX.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino")

from facert.backends.base import TensorInfo
from facert.backends.choice import Chooser, Plan
from facert.backends.openvino import OpenVinoEngine, pinned_ops
from facert.backends.ort import OrtSession
from facert.config import Settings
from facert.errors import ArtifactError, UsageError
from facert.models.artifacts import FP16_GRAPH, FP32_GRAPH, Artifact
from facert.models.check_faces import default_faces, load_faces, option_cases
from facert.models.exporting import ensure_artifact
from facert.models.registry import get_spec

FAMILIES = ("gfpgan", "gpen", "codeformer", "restoreformer")
FP32_TOLERANCE = 1e-4  # x output scale, as the export's ORT-vs-PyTorch parity


def feeds(artifact: Artifact, engine: OrtSession) -> list[dict[str, np.ndarray]]:
    """The check faces at every option case, as graph feeds."""
    spec = artifact.spec
    faces, _ = load_faces(spec, default_faces(), count=2)
    options = {o.name for o in spec.options if o.graph_input}
    image = next(name for name in engine.inputs if name not in options)
    return [
        {image: faces, **{k: np.full(len(faces), v, np.float32) for k, v in case.items()}}
        for case in option_cases(spec)
    ]


def fixed(tensors: dict[str, TensorInfo]) -> dict[str, tuple[object, ...]]:
    """Names, dtypes and fixed sizes (OpenVINO does not keep the names of dynamic dimensions)."""
    return {
        name: (info.dtype, *(d if isinstance(d, int) else None for d in info.shape))
        for name, info in tensors.items()
    }


def assert_fp32_agrees(artifact: Artifact, graph: str = FP32_GRAPH) -> None:
    with (
        OrtSession(artifact.path(graph), threads=2) as reference,
        OpenVinoEngine(artifact.path(graph), threads=2) as engine,
    ):
        assert fixed(engine.inputs) == fixed(reference.inputs)
        # Outputs: the same names and dtypes (OpenVINO may infer sizes ONNX left dynamic).
        assert {n: i.dtype for n, i in engine.outputs.items()} == {
            n: i.dtype for n, i in reference.outputs.items()
        }
        for feed in feeds(artifact, reference):
            expected = reference.run(feed)
            found = engine.run(feed)
            for name, value in expected.items():
                scale = max(1.0, float(np.abs(value).max()))
                assert np.abs(found[name] - value).max() <= FP32_TOLERANCE * scale, name


@pytest.mark.parametrize("family", FAMILIES)
def test_fp32_agrees_with_onnx_runtime(
    family: str, tiny_learned: Callable[[str], Artifact]
) -> None:
    assert_fp32_agrees(tiny_learned(family))


@pytest.mark.parametrize("name", ["ispl", "wipa"])
def test_fp32_agrees_on_the_weight_free_restorers(name: str, settings: Settings) -> None:
    assert_fp32_agrees(ensure_artifact(get_spec(name), settings.cache_dir))


def test_fp32_agrees_on_the_mtcnn_detector(mtcnn_artifact: Artifact) -> None:
    rng = np.random.default_rng(0)
    for graph, size in (("rnet.onnx", 24), ("onet.onnx", 48), ("pnet.onnx", 97)):
        with (
            OrtSession(mtcnn_artifact.path(graph)) as reference,
            OpenVinoEngine(mtcnn_artifact.path(graph), threads=2) as engine,
        ):
            name = next(iter(reference.inputs))
            feed = {name: rng.uniform(-1, 1, (3, 3, size, size)).astype(np.float32)}
            for key, value in reference.run(feed).items():
                np.testing.assert_allclose(engine.run(feed)[key], value, atol=1e-4, rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
def test_bf16_passes_the_accuracy_gate(
    family: str, tiny_learned: Callable[[str], Artifact], tmp_path: Path
) -> None:
    chooser = Chooser(tmp_path, tiny_learned(family), threads=2)
    artifact, source = chooser.openvino_artifact("bf16")
    gate = artifact.manifest["gate"]
    assert gate["passed"] and float(gate["min_psnr_db"]) >= 40.0 and gate["finite"]
    assert gate["faces"] == len(default_faces()) and source.name == FP32_GRAPH


def test_bf16_keeps_the_precision_policy_in_float32(
    tiny_learned: Callable[[str], Artifact],
) -> None:
    """The ops the FP16 graph pins to float32 stay f32 in a bf16 compilation (those OpenVINO does
    not fuse into a bf16 convolution), where unmarked they run in bf16."""
    artifact = tiny_learned("gfpgan")
    pins = pinned_ops(artifact.path(FP16_GRAPH))
    assert len(pins) > 50  # the StyleGAN2 style path of every modulated convolution
    ran = {}
    for keep in ((), pins):
        with OpenVinoEngine(artifact.path(FP32_GRAPH), precision="bf16", keep_f32=keep) as engine:
            precisions = engine.runtime_precisions()
            ran[bool(keep)] = [precisions[p] for p in pins if p in precisions]
            if engine.inference_precision != "bf16":  # a CPU without BF16: all f32 either way
                assert set(ran[bool(keep)]) <= {"f32", "i32"}
                return
            assert keep == () or engine.marked > 0.7 * len(pins)
    share = {k: v.count("f32") / len(v) for k, v in ran.items()}
    assert share[True] >= 0.7 and share[False] <= 0.2, share


def test_cache_reuses_the_compiled_model_and_refuses_another_version_or_cpu(
    tiny_learned: Callable[[str], Artifact], tmp_path: Path
) -> None:
    import dataclasses

    from facert.models.compiled import check_compiled, find_compiled

    lines: list[str] = []
    chooser = Chooser(tmp_path, tiny_learned("gfpgan"), threads=2, report=lines.append)
    built, _ = chooser.openvino_artifact("fp32")
    assert len(lines) == 1 and "building" in lines[0]
    again, _ = Chooser(tmp_path, chooser.export, report=lines.append).openvino_artifact("fp32")
    assert len(lines) == 1 and again.folder == built.folder  # found, not rebuilt
    blobs = list((built.folder / "model-cache").glob("*"))
    assert blobs  # OpenVINO's compiled model, written when the gate compiled it
    with chooser.engine(Plan("openvino", "fp32")) as engine:
        assert engine.loaded_from_cache
    other_version = dataclasses.replace(built.key, backend_version="2025.0.0")
    with pytest.raises(ArtifactError, match="no openvino artifact"):
        find_compiled(tmp_path, chooser.spec, other_version)
    other_cpu = dataclasses.replace(built.key, device="cpu-x86_64-000000000000")
    with pytest.raises(ArtifactError, match="compiled for device cpu-x86_64-"):
        check_compiled(chooser.spec, built.folder, other_cpu)


def test_fp16_and_unknown_precisions_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--backend ort --precision fp16"):
        OpenVinoEngine(tmp_path / "model.onnx", precision="fp16")


def test_a_graph_openvino_cannot_read_is_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "model.onnx"
    broken.write_bytes(b"not a graph")
    with pytest.raises(ArtifactError, match="OpenVINO cannot compile it") as caught:
        OpenVinoEngine(broken).open()
    assert "\n" not in str(caught.value)
