"""CI's accuracy check: the accuracy part of the default matrix, run here, against the committed
baseline (bench/baselines/: this machine's if there is one, else the reference machine's, which
``--compare`` then holds to accuracy only, each reduced-precision row only where the ISA path is the
same). Accuracy is deterministic on a machine, so a drop of more than 0.1 dB is a real change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runs import facert

from facert.benchmark.machine import machine_facts
from facert.benchmark.matrix import DEFAULT
from facert.config import Settings
from facert.models.artifacts import Artifact
from facert.models.exporting import ensure_artifact
from facert.models.registry import get_spec

BASELINES = Path(__file__).resolve().parents[3] / "bench" / "baselines"
REFERENCE = BASELINES / "amd-epyc-2c-b3251bde7a.json"  # the project's machine (AMD EPYC, AVX-512)


def baseline_here() -> Path:
    own = BASELINES / f"{machine_facts(0)['fingerprint']}.json"
    return own if own.is_file() else REFERENCE


def test_default_accuracy_matches_the_committed_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mtcnn_artifact: Artifact, settings: Settings
) -> None:
    for name in DEFAULT.models:
        ensure_artifact(get_spec(name), settings.cache_dir)
    matrix = tmp_path / "default.json"  # the default matrix without learned models of the cache
    matrix.write_text(json.dumps({**DEFAULT.to_json(), "cached_models": False}))
    baseline = baseline_here()
    code, out, err = facert(
        capsys,
        "--threads",
        "2",
        "bench",
        "--matrix",
        matrix,
        "--part",
        "accuracy",
        "--no-plot",
        "-o",
        tmp_path / "accuracy.json",
        "--compare",
        baseline,
    )
    assert code == 0, out + err
    assert "no regression" in out
    compared = [line for line in out.splitlines() if line.startswith("accuracy")]
    # Every fp32 row of the default matrix is compared on any machine (ISA path "fp32").
    for model in DEFAULT.models:
        assert any(f"{model} ort fp32" in line and "ok" in line for line in compared), out
