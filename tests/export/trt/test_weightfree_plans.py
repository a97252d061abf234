"""ISPL's and WIPA's face graphs built into TensorRT-RTX plans through the builder, now that their
medians are bisections rather than a TopK over 32768 entries (TensorRT's TopK stops at 3840).
Slow: ISPL's graph has ~56,000 layers (about two minutes on 2 cores), WIPA's ~14,500. WIPA's
whole-photo graph does not build in useful time and is skipped with its reason."""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("tensorrt_rtx")

from facert.models.artifacts import find_artifact
from facert.models.registry import get_spec
from facert.models.trt_plans import UNBUILDABLE, BuildRequest, build_export_plans


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ispl", "wipa"])
def test_weight_free_face_graphs_build(name, settings, tmp_path, caplog) -> None:
    export = find_artifact(settings.cache_dir, get_spec(name))
    with caplog.at_level(logging.WARNING):
        plans = build_export_plans(export, tmp_path, BuildRequest(capabilities=("8.6",)))
    assert [p.key.source_graph for p in plans] == ["model.onnx"]
    build = plans[0].manifest["build"]
    print(
        f"{name}: {build['seconds']} s, {build['engine_bytes'] / 1e6:.1f} MB, {build['layers']} layers"
    )
    assert "HALF" not in build["layer_precisions"]
    skipped = [r.getMessage() for r in caplog.records if "not built" in r.getMessage()]
    reason = UNBUILDABLE["wipa", "frame.onnx"]
    assert skipped == ([f"wipa frame.onnx: not built: {reason}"] if name == "wipa" else [])
