"""TensorRT-RTX plans of facert's graphs, built on this machine without a GPU (ahead of time): every
graph builds, the FP32 pins of FP16 graphs survive into the network, plans are keyed and cached,
and a stale or foreign plan is refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("tensorrt_rtx")

from facert.errors import ArtifactError, UsageError
from facert.models.artifacts import Artifact, find_artifact
from facert.models.compiled import check_compiled
from facert.models.registry import get_spec
from facert.models.trt_plans import (
    BuildRequest,
    build_export_plans,
    cached_plans,
    find_plan,
)

TINY_FAMILIES = ("gfpgan", "gpen", "codeformer", "restoreformer")


@pytest.fixture(scope="module")
def mtcnn_plans(settings, tmp_path_factory) -> tuple[Artifact, Path, list]:
    export = find_artifact(settings.cache_dir, get_spec("mtcnn"))
    root = tmp_path_factory.mktemp("plans")
    return export, root, build_export_plans(export, root, BuildRequest())


def test_every_mtcnn_net_builds_with_its_profile(mtcnn_plans) -> None:
    _, _, plans = mtcnn_plans
    by_graph = {p.key.source_graph: p for p in plans}
    assert set(by_graph) == {"pnet.onnx", "rnet.onnx", "onet.onnx"}
    pnet = by_graph["pnet.onnx"]
    # P-Net: one pyramid level per call, height and width dynamic (4K frames, faces from 20 px)
    assert pnet.key.batch_profile == (1, 1, 1) and pnet.key.spatial_profile == (12, 648, 2304)
    assert by_graph["rnet.onnx"].key.batch_profile == (1, 64, 1024)
    for plan in plans:
        build = plan.manifest["build"]
        assert plan.key.backend == "tensorrt-rtx" and plan.key.precision == "fp32"
        assert plan.key.device == "sm86+sm89+sm120"
        assert build["engine_bytes"] == plan.path.stat().st_size > 100_000
        assert build["strongly_typed"] and set(build["layer_precisions"]) >= {"FLOAT"}
        assert "HALF" not in build["layer_precisions"]  # an FP32 graph stays FP32


def test_a_plan_in_the_cache_is_reused_and_a_changed_one_rebuilt(mtcnn_plans) -> None:
    export, root, plans = mtcnn_plans
    onet = next(p for p in plans if p.key.source_graph == "onet.onnx")
    stamp = onet.path.stat().st_mtime_ns
    again = build_export_plans(export, root, BuildRequest())
    assert next(p for p in again if p.key.source_graph == "onet.onnx").path.stat().st_mtime_ns == (
        stamp
    )
    onet.path.write_bytes(onet.path.read_bytes()[:-1] + b"\0")  # a damaged plan
    with pytest.raises(ArtifactError, match="not the file its manifest hashed"):
        check_compiled(export.spec, onet.folder, onet.key)
    rebuilt = build_export_plans(export, root, BuildRequest())
    assert check_compiled(export.spec, onet.folder, onet.key)
    assert any(p.folder == onet.folder for p in rebuilt)


def test_the_runtime_finds_a_plan_for_its_gpu_and_refuses_others(mtcnn_plans) -> None:
    export, root, plans = mtcnn_plans
    version = plans[0].key.backend_version
    found = find_plan(root, export, "onet.onnx", "tensorrt-rtx", version, "sm89")
    assert found.key.source_graph == "onet.onnx"
    with pytest.raises(ArtifactError, match=r"for sm75 .*facert models build mtcnn"):
        find_plan(root, export, "onet.onnx", "tensorrt-rtx", version, "sm75")
    with pytest.raises(ArtifactError, match="no tensorrt-rtx 0.1 plan"):
        find_plan(root, export, "onet.onnx", "tensorrt-rtx", "0.1", "sm89")
    assert len(cached_plans(root, export.spec)) == 3


def test_a_foreign_plan_is_refused_in_one_line(mtcnn_plans) -> None:
    """A manifest that says another version built it does not match the key the runtime asks for."""
    export, _, plans = mtcnn_plans
    plan = plans[0]
    other = type(plan.key)(**{**plan.key.__dict__, "backend_version": "9.9.9"})
    with pytest.raises(ArtifactError, match=r"compiled for backend version 1\..*asks for 9\.9\.9"):
        check_compiled(export.spec, plan.folder, other)


def test_no_fp16_plan_of_a_graph_that_has_no_fp16_form(mtcnn_plans, tmp_path) -> None:
    export, _, _ = mtcnn_plans
    with pytest.raises(UsageError, match="mtcnn has no FP16 graph.*--precision fp32"):
        build_export_plans(export, tmp_path, BuildRequest(precision="fp16"))


def test_targets_outside_tensorrt_rtx_are_refused(mtcnn_plans, tmp_path) -> None:
    export, _, _ = mtcnn_plans
    with pytest.raises(
        UsageError, match=r"not 9\.0 \(Jetson and data-centre GPUs.*--target tensorrt"
    ):
        build_export_plans(export, tmp_path, BuildRequest(capabilities=("9.0",)))


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_tiny_learned_fp16_plans_keep_every_pinned_layer_fp32(
    family: str, tiny_learned: Callable[[str], Artifact], tmp_path: Path
) -> None:
    export = tiny_learned(family)
    [plan] = build_export_plans(export, tmp_path, BuildRequest(max_batch=4))
    build = plan.manifest["build"]
    assert plan.key.source_graph == "model.fp16.onnx" and plan.key.precision == "fp16"
    assert plan.key.batch_profile == (1, 4, 4)
    pins = build["fp32_pins"]
    # Every node the FP16 graph computes in float32 is a layer of the network, computed in FP32.
    assert pins["pinned_nodes"] > 0 and pins["not_fp32"] == [] and pins["absent"] == []
    assert pins["fp32_layers_found"] == pins["pinned_nodes"] == len(pins["layers"])
    assert build["layer_precisions"]["HALF"] > 0 and build["layer_precisions"]["FLOAT"] > 0


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_tiny_learned_fp32_plans_build(
    family: str, tiny_learned: Callable[[str], Artifact], tmp_path: Path
) -> None:
    [plan] = build_export_plans(tiny_learned(family), tmp_path, BuildRequest(precision="fp32"))
    assert plan.key.source_graph == "model.onnx"
    assert "HALF" not in plan.manifest["build"]["layer_precisions"]
    assert "fp32_pins" not in plan.manifest["build"]
