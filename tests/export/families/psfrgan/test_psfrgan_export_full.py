"""Full-size PSFR-GAN through ``export_model`` (the path of ``facert models export psfrgan --weights
FOLDER``), with deterministic weights standing in for the official files, then its TensorRT-RTX
plans. Slow: 40 minutes on two CPU cores shared at load 9-15 (2026-12-05), checking 6 faces.

Measured then: ONNX Runtime FP32 vs the reference 2.3e-6 (output scale 1.96), batch = single
exactly, FP16 81.2 dB (ONNX Runtime) and 76.2 dB (PyTorch, float16 storage emulated); ParseNet's
logits 1.8e-4 of scale 98.5, and 2 pixels over the 6 faces whose one-hot differs between ONNX
Runtime and PyTorch; the FP16 plan keeps all 246 pinned layers FP32."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from full_export import shared_faces  # noqa: E402

from facert.export.families.psfrgan.generator import PSFRGenerator  # noqa: E402
from facert.export.families.psfrgan.parsenet import ParseNet  # noqa: E402
from facert.export.harness.api import export_model  # noqa: E402
from facert.export.harness.fill import deterministic_state_dict, spectral_state_dict  # noqa: E402
from facert.models.artifacts import check_artifact  # noqa: E402
from facert.models.registry import get_spec  # noqa: E402
from facert.models.weights import combined_sha256  # noqa: E402


@pytest.mark.slow
def test_full_size_export_passes_its_checks(tmp_path: Path) -> None:
    spec = get_spec("psfrgan")
    files = [tmp_path / weight.filename for weight in spec.weights]
    torch.save(spectral_state_dict(PSFRGenerator()), files[0])
    torch.save(deterministic_state_dict(ParseNet()), files[1])
    folder = export_model(
        spec, files, tmp_path / "out", combined_sha256(files), check_faces=shared_faces()
    )
    manifest = json.loads((folder / "manifest.json").read_text())
    parity, parse = manifest["parity"], manifest["parsenet"]
    print(json.dumps({"parity": parity, "parsenet": parse}, indent=1))  # for the record (-s)
    assert manifest["opset"] == 17 and set(manifest["files"]) == set(spec.onnx_files)
    assert parity["ort_fp32_vs_torch_max_abs"] <= 1e-4 * parity["output_scale"]
    assert parity["ort_fp16_psnr_db"] >= 40.0 and parity["torch_fp16"]["psnr_db"] >= 40.0
    assert parse["ort_fp32_vs_torch_max_abs"] <= 1e-4 * parse["output_scale"]
    if importlib.util.find_spec("tensorrt_rtx") is None:
        return
    from facert.models.trt_plans import BuildRequest, build_export_plans

    export = check_artifact(spec, folder)
    plans = build_export_plans(export, tmp_path / "plans", BuildRequest(precision="fp16"))
    builds = {plan.manifest["key"]["source_graph"]: plan.manifest["build"] for plan in plans}
    pins = builds["model.fp16.onnx"]["fp32_pins"]
    print(f"fp32 pins: {pins['fp32_layers_found']} of {pins['pinned_nodes']} found FP32")
    assert pins["pinned_nodes"] > 0 and pins["not_fp32"] == [] and pins["absent"] == []
