"""Shared by the full-size export tests: a fill checkpoint through ``export_model`` (the path of
``facert models export NAME --weights FILE``), its manifest held to the issue's limits.

The export checks the harness's fixed faces and, beside a source checkout with ../shared, two of its
degraded real crops as extra check faces (:data:`SHARED_FACES`: the ones the harness added by
itself before its check faces were fixed).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from pinned_spec import pinned_spec

from facert.export.harness.api import export_model
from facert.models.artifacts import check_artifact
from facert.models.registry import ModelSpec

CROPS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real-inputs"
SHARED_FACES = [CROPS / "codeformer-cropped" / name for name in ("0143.png", "0729.png")]


def shared_faces() -> list[Path]:
    """:data:`SHARED_FACES` where ../shared has them, else none."""
    return SHARED_FACES if all(path.is_file() for path in SHARED_FACES) else []


def export_and_check(spec: ModelSpec, checkpoint: Path, out: Path) -> dict[str, Any]:
    """Export ``spec`` from ``checkpoint`` (pinned as its sha256) into ``out``; return the manifest
    after asserting opset 17, both graphs, FP32 parity and FP16 PSNR."""
    spec = pinned_spec(spec, checkpoint)
    folder = export_model(
        spec, [checkpoint], out, spec.weights[0].sha256, check_faces=shared_faces()
    )
    return check_export(spec, folder)


def check_export(spec: ModelSpec, folder: Path) -> dict[str, Any]:
    """The manifest in ``folder``, after asserting opset 17, both graphs, FP32 parity and FP16
    PSNR."""
    manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text())
    parity = manifest["parity"]
    print(json.dumps(parity, indent=1))  # the numbers, for the record (pytest -s)
    assert manifest["opset"] == 17 and set(manifest["files"]) == set(spec.onnx_files)
    # The limits, as the harness states them: 1e-4 of the output scale; 40 dB.
    assert parity["ort_fp32_vs_torch_max_abs"] <= 1e-4 * parity["output_scale"]
    assert parity["ort_fp16_psnr_db"] >= 40.0 and parity["torch_fp16"]["psnr_db"] >= 40.0
    check_plans(spec, folder)
    return manifest


def check_plans(spec: ModelSpec, folder: Path) -> None:
    """Build the FP16 and FP32 TensorRT-RTX plans of the export in ``folder`` (beside it) and
    assert that every FP32 pin of its FP16 graph is an FP32 layer of the network (where
    tensorrt_rtx is installed; it is in the lock)."""
    if importlib.util.find_spec("tensorrt_rtx") is None:
        return
    from facert.models.trt_plans import BuildRequest, build_export_plans

    export = check_artifact(spec, folder)
    [plan] = build_export_plans(export, folder.parent / "plans", BuildRequest(precision="fp16"))
    build = plan.manifest["build"]
    print(json.dumps({k: v for k, v in build.items() if k != "fp32_pins"}, indent=1))
    pins = build["fp32_pins"]
    print(f"fp32 pins: {pins['fp32_layers_found']} of {pins['pinned_nodes']} found FP32")
    assert pins["pinned_nodes"] > 0 and pins["not_fp32"] == [] and pins["absent"] == []
    [fp32] = build_export_plans(export, folder.parent / "plans", BuildRequest(precision="fp32"))
    assert "HALF" not in fp32.manifest["build"]["layer_precisions"]
