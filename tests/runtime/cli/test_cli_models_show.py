"""``facert models show NAME``: the spec's facts, its weight files and its exports in the cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from facert.cli.main import main
from facert.config import Settings
from facert.models.artifacts import Artifact
from facert.models.registry import get_spec


def show(capsys: pytest.CaptureFixture[str], cache: Path, name: str) -> tuple[int, str, str]:
    code = main(["--cache-dir", str(cache), "models", "show", name])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_summary_licence_notes_options_and_precision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = get_spec("codeformer")
    code, out, err = show(capsys, tmp_path, "codeformer")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"codeformer: {spec.summary}"
    assert f"licence: {spec.licence}" in out
    option = spec.option("fidelity")
    assert "  fidelity: default 0.5, range [0, 1], per run (a graph input)" in lines
    assert f"    {option.help}" in lines
    assert "precision policy (kept in float32 in the FP16 graph):" in lines
    assert f"  - {spec.precision_policy[0]}" in lines
    weight = spec.weights[0]
    assert f"  {weight.filename} (not in the cache): sha256 {weight.sha256}" in lines
    assert f"    {weight.url}" in lines
    assert "exports in the cache: none" in lines
    assert not (tmp_path / "codeformer").exists()  # showing writes nothing


def test_an_estimated_option_shows_auto(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = show(capsys, tmp_path, "ispl")
    assert code == 0
    lines = out.splitlines()
    head = "  blur_sigma: default auto (estimated per face), range [0, 8], per run (a graph input)"
    assert head + ", in photo pixels" in lines
    assert "  lam: default 0.25, range [0, 4], per run (a graph input)" in lines


def test_notes_and_a_weight_file_without_a_published_sha256(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = get_spec("gpen-bfr-1024")
    code, out, _ = show(capsys, tmp_path, "gpen-bfr-1024")
    assert code == 0
    assert "  pytorch_model.pt (not in the cache): no published sha256" in out.splitlines()
    joined = " ".join(out.split())  # notes are wrapped at 100 columns
    for note in spec.notes:
        assert " ".join(note.split()) in joined
    assert "`facert models show gpen-bfr-1024`" in spec.licence  # what `models list` points at


def test_an_export_in_the_cache_with_its_source_and_parity(
    settings: Settings, mtcnn_artifact: Artifact, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = show(capsys, settings.cache_dir, "mtcnn")
    assert code == 0
    lines = out.splitlines()
    sha = mtcnn_artifact.source_sha256
    assert f"  {mtcnn_artifact.folder}" in lines
    assert f"    source: official weights: pnet.pt, rnet.pt, onet.pt, sha256 {sha}" in lines
    parity = mtcnn_artifact.manifest["parity"]
    assert f"      pnet_max_abs_diff: {parity['pnet_max_abs_diff']:.4g}" in lines
    assert "precision: FP32 graphs only" in lines


def test_an_unknown_model_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = show(capsys, tmp_path, "gfpgan-9")
    assert code == 2 and out == ""
    assert err.startswith("facert: error: unknown model 'gfpgan-9'; known models: ")
    assert len(err.splitlines()) == 1
