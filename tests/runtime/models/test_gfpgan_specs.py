"""The gfpgan-* specs: official files, one architecture, wired to the export command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from facert.cli.main import main
from facert.models.registry import get_spec

NAMES = ("gfpgan-1.2", "gfpgan-1.3", "gfpgan-1.4")


def test_three_versions_share_one_graph_and_differ_in_weights() -> None:
    specs = [get_spec(name) for name in NAMES]
    hashes = {spec.weights[0].sha256 for spec in specs}
    # sha256_of gives lowercase hex: a hash in any other form could never match a file.
    assert len(hashes) == 3 and all(re.fullmatch("[0-9a-f]{64}", h) for h in hashes)
    for spec in specs:
        (weight,) = spec.weights
        assert weight.url.startswith("https://github.com/TencentARC/GFPGAN/releases/download/")
        assert weight.url.endswith("/" + weight.filename)
        assert weight.state_dict_keys == ("params_ema", "params")
        assert (spec.input_size, spec.color_order, spec.input_range) == (512, "RGB", (-1.0, 1.0))
        assert spec.onnx_files == ("model.onnx", "model.fp16.onnx") and spec.precision_policy
        assert spec.exporter == "gfpgan"
    assert get_spec("gfpgan-1.2").weights[0].filename == "GFPGANCleanv1-NoCE-C2.pth"


def test_export_refuses_a_file_that_is_not_a_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "GFPGANv1.4.pth"
    fake.write_bytes(b"not the checkpoint")
    code = main(
        ["--cache-dir", str(tmp_path), "models", "export", "gfpgan-1.4", "--weights", str(fake)]
    )
    assert code == 2
    assert f"{fake}: not a loadable torch checkpoint" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == [fake.name]  # nothing written
