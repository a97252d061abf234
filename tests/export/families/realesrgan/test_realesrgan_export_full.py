"""`facert models export realesrgan-x2 --weights FILE` on a full-size checkpoint in the official
layout (deterministic weights under ``params_ema``, saved as the official files are): the export
runs its checks (FP32 parity, batch rows, the FP16 graph) and the manifest records them; a wrong file is one line, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from cli_runs import facert  # noqa: E402

from facert.export.families.realesrgan.export import TOLERANCE  # noqa: E402
from facert.export.families.realesrgan.net import RRDBConfig, RRDBNet  # noqa: E402
from facert.export.harness.fill import deterministic_state_dict  # noqa: E402


@pytest.mark.slow
def test_models_export_of_a_full_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACERT_CACHE", str(tmp_path / "cache"))
    weights = tmp_path / "RealESRGAN_x2plus_deterministic.pth"
    torch.save({"params_ema": deterministic_state_dict(RRDBNet(RRDBConfig(scale=2)))}, weights)
    out = tmp_path / "export"
    code, _, err = facert(
        capsys, "models", "export", "realesrgan-x2", "--weights", weights, "-o", out
    )
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    diffs = [v for k, v in manifest["parity"].items() if k.endswith("max_abs_diff")]
    assert len(diffs) == 2 and max(diffs) <= TOLERANCE and manifest["source"]["official"] is False
    # FP16 on 3 photo tiles, measured with these weights: 69.9 dB (x4: 74.1 dB); batch rows equal
    assert set(manifest["files"]) == {"model.onnx", "model.fp16.onnx"}
    assert manifest["parity"]["fp16_psnr_db"] >= 40
    assert manifest["parity"]["fp32_batch_vs_single_max_abs"] <= TOLERANCE
    wrong = tmp_path / "x4_as_x2.pth"
    torch.save({"params_ema": deterministic_state_dict(RRDBNet(RRDBConfig(scale=4)))}, wrong)
    code, _, err = facert(
        capsys, "models", "export", "realesrgan-x2", "--weights", wrong, "-o", tmp_path / "no"
    )
    assert code != 0 and err.count("\n") == 1 and "not a Real-ESRGAN x2 RRDBNet checkpoint" in err
    assert not (tmp_path / "no").exists()
