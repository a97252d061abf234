"""Full-size GPEN-BFR 256/512/1024 through `export_model` (the path of `facert models export
gpen-bfr-512 --weights FILE`), with deterministic equalized weights standing in for the official
files. Slow: about 1.5 (256), 3 (512) and 4.5 (1024) minutes on two CPU cores."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from facert.export.api import export_model  # noqa: E402
from facert.export.fill import equalized_state_dict  # noqa: E402
from facert.export.nets.gpen import GPEN, OFFICIAL_CONFIGS  # noqa: E402
from facert.fileutil import sha256_of  # noqa: E402
from facert.registry import get_spec  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("size", [512, 256, 1024])
def test_full_size_export_passes_its_checks(tmp_path: Path, size: int) -> None:
    checkpoint = tmp_path / f"GPEN-BFR-{size}-fill.pth"
    torch.save(equalized_state_dict(GPEN(OFFICIAL_CONFIGS[size])), checkpoint)
    sha256 = sha256_of(checkpoint)
    spec = get_spec(f"gpen-bfr-{size}")
    spec = dataclasses.replace(spec, weights=(dataclasses.replace(spec.weights[0], sha256=sha256),))
    folder = export_model(spec, [checkpoint], tmp_path / "out", sha256)
    manifest = json.loads((folder / "manifest.json").read_text())
    parity = manifest["parity"]
    print(json.dumps(parity, indent=1))  # the numbers, for the record (pytest -s)
    assert manifest["opset"] == 17 and set(manifest["files"]) == set(spec.onnx_files)
    assert parity["ort_fp32_vs_torch_max_abs"] <= 1e-4 * parity["output_scale"]
    assert parity["ort_fp16_psnr_db"] >= 40.0 and parity["torch_fp16"]["psnr_db"] >= 40.0
