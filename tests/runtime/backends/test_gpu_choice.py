"""Which GPU engine ``--backend trt`` takes for a GPU: tested with the facts a driver would give
(no GPU here), on real plans built by the TensorRT-RTX builder."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("tensorrt_rtx")

from facert.backends.cuda import DriverStatus
from facert.backends.gpu_choice import _trt_engine, gpu_precision, trt_flavour
from facert.backends.trt import TrtEngine
from facert.errors import ArtifactError, UsageError
from facert.models.artifacts import find_artifact
from facert.models.registry import get_spec
from facert.models.trt_plans import BuildRequest, build_export_plans


def _gpu(capability: str) -> DriverStatus:
    return DriverStatus(True, name="a GPU", device_count=1, compute_capability=capability)


def test_tensorrt_rtx_is_taken_where_it_runs() -> None:
    assert trt_flavour(_gpu("8.9")) == "tensorrt-rtx"
    expected = "tensorrt" if __import__("importlib").util.find_spec("tensorrt") else None
    assert trt_flavour(_gpu("9.0")) == expected  # H100/H200: enterprise TensorRT only


def test_the_plan_for_this_gpu_is_found_and_foreign_ones_are_not(settings, tmp_path: Path) -> None:
    export = find_artifact(settings.cache_dir, get_spec("mtcnn"))
    build_export_plans(export, tmp_path, BuildRequest(capabilities=("8.6",)))
    engine = _trt_engine(tmp_path, export, "onet.onnx", _gpu("8.6"))
    assert isinstance(engine, TrtEngine) and engine.path.name == "model.plan"
    assert engine.expected is not None and engine.expected.compute_capabilities == ("8.6",)
    assert engine.expected.model == "mtcnn" and engine.expected.flavour == "tensorrt-rtx"
    assert engine.runtime_cache is not None and engine.runtime_cache.parent == engine.path.parent
    with pytest.raises(ArtifactError, match=r"for sm89 .*facert models build mtcnn"):
        _trt_engine(tmp_path, export, "onet.onnx", _gpu("8.9"))


def test_auto_precision_on_a_gpu_is_fp16_where_the_export_has_it(settings) -> None:
    export = find_artifact(settings.cache_dir, get_spec("ispl"))
    assert gpu_precision(export, "auto") == "fp32"  # ISPL has no FP16 graph
    with pytest.raises(UsageError, match="fp16 or fp32, not bf16"):
        gpu_precision(export, "bf16")
