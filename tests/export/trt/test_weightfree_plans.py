"""ISPL's and WIPA's graphs built into TensorRT-RTX plans through the builder, now that their
medians are multi-way bisections rather than a TopK over 32768 entries (TensorRT's TopK stops at
3840). Slow: ISPL's face graph has tens of thousands of layers (about a minute on 2 cores)."""

from __future__ import annotations

import pytest

pytest.importorskip("tensorrt_rtx")

from facert.models.artifacts import find_artifact
from facert.models.registry import get_spec
from facert.models.trt_plans import BuildRequest, build_export_plans

GRAPHS = {"ispl": ["model.onnx"], "wipa": ["model.onnx", "frame.onnx"]}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ispl", "wipa"])
def test_weight_free_graphs_build(name, settings, tmp_path) -> None:
    export = find_artifact(settings.cache_dir, get_spec(name))
    plans = build_export_plans(export, tmp_path, BuildRequest(capabilities=("8.6",)))
    assert [p.key.source_graph for p in plans] == GRAPHS[name]
    for plan in plans:
        build = plan.manifest["build"]
        print(f"{name} {plan.key.source_graph}: {build['seconds']} s, "
              f"{build['engine_bytes'] / 1e6:.1f} MB, {build['layers']} layers")  # fmt: skip
        assert "HALF" not in build["layer_precisions"]
