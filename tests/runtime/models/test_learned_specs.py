"""The CodeFormer and RestoreFormer(++) specs: wired to their exporters through the shared harness,
and the export command refuses a file that is not a checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from facert.cli.main import main
from facert.models.registry import get_spec

EXPORTERS = {
    "codeformer": "codeformer",
    "restoreformer": "restoreformer",
    "restoreformer-pp": "restoreformer",
}


@pytest.mark.parametrize("name", sorted(EXPORTERS))
def test_spec_names_its_exporter_and_both_onnx_files(name: str) -> None:
    pytest.importorskip("torch")
    from facert.export.exporters import exporter_for
    from facert.export.harness.source_check import LearnedExporter

    spec = get_spec(name)
    assert spec.exporter == EXPORTERS[name]
    assert isinstance(exporter_for(spec), LearnedExporter)  # checks the file before exporting
    assert spec.onnx_files == ("model.onnx", "model.fp16.onnx") and spec.precision_policy


def test_codeformer_checks_three_fidelities() -> None:
    assert get_spec("codeformer").option("fidelity").checked_values == (0.0, 0.5, 1.0)


@pytest.mark.parametrize("name", ["codeformer", "restoreformer-pp"])
def test_export_refuses_a_file_that_is_not_a_checkpoint(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "weights.pth"
    fake.write_bytes(b"not the checkpoint")
    code = main(["--cache-dir", str(tmp_path), "models", "export", name, "--weights", str(fake)])
    assert code == 2
    assert f"{fake}: not a loadable torch checkpoint" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == [fake.name]  # nothing written
