"""``facert bench`` on a tiny real matrix (WIPA, the fastest restorer, ONNX Runtime FP32, one
320x240 frame), and ``--compare`` on its document: unchanged passes, planted regressions fail, a
different machine compares accuracy only, an ISA path that differs is not compared, and a bad
baseline is one line with exit 2."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import cv2
import pytest
from cli_runs import facert

from facert.benchmark.compare import LATENCY_TOLERANCE, compare
from facert.benchmark.latency import STAGES, bench_frame, summarise
from facert.benchmark.matrix import DEFAULT, load_matrix
from facert.cli.main import main
from facert.config import Settings
from facert.models.artifacts import Artifact
from facert.models.exporting import ensure_artifact
from facert.models.registry import get_spec

TINY = {
    "name": "tiny",
    "models": ["wipa"],
    "plans": ["ort fp32"],
    "batches": [1],
    "frames": [[320, 240]],
    "warmup": 1,
    "repeats": 3,
    "rounds": 1,
}


@pytest.fixture(scope="module")
def run(
    tmp_path_factory: pytest.TempPathFactory, mtcnn_artifact: Artifact, settings: Settings
) -> Path:
    """One real run of the tiny matrix: the path of its document."""
    ensure_artifact(get_spec("wipa"), settings.cache_dir)
    folder = tmp_path_factory.mktemp("bench")
    matrix = folder / "tiny.json"
    matrix.write_text(json.dumps(TINY))
    code = main(
        ["--threads", "2", "bench", "--matrix", str(matrix), "-o", str(folder / "run.json")]
    )
    assert code == 0
    return folder / "run.json"


def _write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_document_report_and_plot(run: Path) -> None:
    document = json.loads(run.read_text())
    assert document["schema"] == "facert-bench/1"
    assert document["models"] == ["wipa"]  # cached_models is off in a matrix file by default
    machine = document["machine"]
    assert machine["fingerprint"] and machine["cpu"] and machine["versions"]["onnxruntime"]
    assert set(machine["isa_paths"]) == {"fp32", "fp16", "bf16", "int8"}
    [row] = document["latency"]
    assert row["ran"] == "ort fp32" and row["faces_found"] == 1
    assert set(row["stages_ms"]) == set(STAGES)
    total = row["stages_ms"]["total"]
    assert (
        total["min"] <= total["p10"] <= total["p50"] <= total["p90"] <= total["p99"] <= total["max"]
    )
    parts = sum(row["stages_ms"][s]["p50"] for s in STAGES[:-1])
    assert parts <= total["max"]  # the stages are part of the end-to-end time
    assert row["peak_memory_mib"] > 50 and row["faces_per_s"] > 0
    [accuracy] = document["accuracy"]
    # ORT FP32 is the reference: equal to itself, and WIPA restores the 48 px faces to > 15 dB.
    assert accuracy["psnr_db"] == "inf" and accuracy["ssim_min"] == 1.0
    assert accuracy["nan"] == accuracy["inf"] == 0 and accuracy["quality_psnr_db"] > 15
    assert "| wipa | ort fp32 |" in run.with_suffix(".md").read_text()
    plot = cv2.imread(str(run.with_suffix(".png")))
    assert plot is not None and plot.shape[0] > 200


def test_unchanged_run_passes(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = facert(capsys, "bench", "--compare", run, "--current", run)
    assert code == 0, out
    assert "same machine" in out and "no regression" in out and "REGRESSION" not in out


def test_planted_latency_regression_fails(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    faster = json.loads(run.read_text())
    for stats in faster["latency"][0]["stages_ms"].values():
        for key in stats:
            stats[key] /= 2  # the baseline claims twice the speed, its spread too
    code, out, _ = facert(
        capsys, "bench", "--compare", _write(tmp_path / "b.json", faster), "--current", run
    )
    assert code == 1
    assert "total p50 ms" in out and "REGRESSION" in out and "+100.0%" in out


def test_slower_within_spread_or_tolerance_passes(run: Path) -> None:
    document = json.loads(run.read_text())
    baseline = copy.deepcopy(document)
    total = document["latency"][0]["stages_ms"]["total"]
    # 5 % slower and outside the spread: within the 10 % tolerance.
    total["p50"] = baseline["latency"][0]["stages_ms"]["total"]["p90"] + 1
    baseline["latency"][0]["stages_ms"]["total"]["p50"] = total["p50"] / (1 + LATENCY_TOLERANCE / 2)
    verdicts = {c.metric: c.verdict for c in compare(baseline, document).changes}
    assert verdicts["total p50 ms"] == "ok"


def test_planted_accuracy_regression_fails(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    better = json.loads(run.read_text())
    better["accuracy"][0]["quality_psnr_db"] += 0.2  # the baseline claims 0.2 dB more
    code, out, _ = facert(
        capsys, "bench", "--compare", _write(tmp_path / "b.json", better), "--current", run
    )
    assert code == 1
    assert "quality_psnr_db" in out and "-0.200  REGRESSION" in out
    within = json.loads(run.read_text())
    within["accuracy"][0]["quality_psnr_db"] += 0.05  # under the 0.1 dB tolerance
    code, out, _ = facert(
        capsys, "bench", "--compare", _write(tmp_path / "w.json", within), "--current", run
    )
    assert code == 0, out


def test_psnr_above_the_ceiling_is_exact(run: Path) -> None:
    document = json.loads(run.read_text())
    baseline, current = copy.deepcopy(document), copy.deepcopy(document)
    baseline["accuracy"][0]["psnr_db"], current["accuracy"][0]["psnr_db"] = 91.0, 72.0
    assert not compare(baseline, current).regressions  # both above 60 dB: one level in a few pixels
    current["accuracy"][0]["psnr_db"] = 59.8
    assert [c.metric for c in compare(baseline, current).regressions] == ["psnr_db"]


def test_other_machine_compares_accuracy_only(run: Path) -> None:
    document = json.loads(run.read_text())
    other = copy.deepcopy(document)
    other["machine"]["fingerprint"] = "some-other-cpu-8c-0123456789"
    for stats in other["latency"][0]["stages_ms"].values():
        for key in stats:
            stats[key] /= 10
    result = compare(other, document)
    assert not result.same_machine and "accuracy only" in result.notes[0]
    assert {c.part for c in result.changes} == {"accuracy"} and not result.regressions
    other["machine"]["fingerprint"] = document["machine"]["fingerprint"]
    other["machine"]["threads"] = 7  # the same machine, run with another thread count
    result = compare(other, document)
    assert "7 threads then" in result.notes[0] and not result.regressions


def test_other_isa_path_is_not_compared(run: Path) -> None:
    document = json.loads(run.read_text())
    baseline, current = copy.deepcopy(document), copy.deepcopy(document)
    for doc, path in ((baseline, "amx_bf16"), (current, "avx512_bf16")):
        row = doc["accuracy"][0]
        row.update(plan="openvino bf16", isa_path=path)
    baseline["accuracy"][0]["psnr_db"] = 60.0
    current["accuracy"][0]["psnr_db"] = 41.0  # far lower, but on other instructions
    [change] = [c for c in compare(baseline, current).changes if c.part == "accuracy"]
    assert change.verdict.startswith("not compared: ISA path amx_bf16 then, avx512_bf16 now")
    current["accuracy"][0]["isa_path"] = "amx_bf16"  # the same path: the drop is a regression
    assert compare(baseline, current).regressions


def test_bad_baselines_are_one_line_errors(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"schema": "facert-bench/1", "machine"')
    wrong = _write(tmp_path / "wrong.json", {"schema": "something-else/2"})
    rows = json.loads(run.read_text())
    rows["accuracy"] = [{"model": "wipa"}]
    cases = {
        tmp_path / "missing.json": "cannot read the benchmark file",
        corrupt: "not valid JSON",
        wrong: "not a facert-bench/1 document (schema: 'something-else/2')",
        _write(tmp_path / "rows.json", rows): "malformed benchmark rows",
    }
    for path, reason in cases.items():
        code, _out, err = facert(capsys, "bench", "--compare", path, "--current", run)
        assert code == 2, err
        assert err.count("\n") == 1 and reason in err and str(path) in err


def test_matrices() -> None:
    assert DEFAULT.plans[0] == "ort fp32" and load_matrix("full").name == "full"
    assert len(list(DEFAULT.latency_cases(["wipa"]))) == 6  # 3 plans (bf16 skipped) x 2 batches
    frame = bench_frame((640, 480), 3)
    assert frame.shape == (480, 640, 3) and (frame != 128).any(axis=2).mean() > 0.3
    noise = summarise([0.010, 0.011, 0.030, 0.012, 0.013, 0.014], rounds=3)
    assert noise["noise_low"] == 10.5 and noise["noise_high"] == 21.0 and noise["p50"] == 12.5


def test_bad_matrices_and_usage_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def matrix(name: str, facts: dict[str, Any]) -> Path:
        return _write(tmp_path / name, facts)

    cases = [
        (["--matrix", tmp_path / "none.json"], "not a matrix name (default, full) nor a readable"),
        (["--matrix", matrix("a.json", {**TINY, "speed": 1})], "unknown matrix fields ['speed']"),
        (["--matrix", matrix("b.json", {**TINY, "plans": ["ort auto"]})], "must name a backend"),
        (["--matrix", matrix("c.json", {**TINY, "plans": ["openvino fp32"]})], "first plan"),
        (["--matrix", matrix("d.json", {**TINY, "models": ["mtcnn"]})], "mtcnn is not a restorer"),
        (["--matrix", matrix("e.json", {**TINY, "repeats": 4, "rounds": 3})], "multiple of rounds"),
        (["--matrix", matrix("f.json", {**TINY, "skip": {"wipa": ["ort fp32"]}})], "cannot be"),
        (["--current", tmp_path / "a.json"], "give --compare BASELINE too"),
    ]
    for args, reason in cases:
        code, _out, err = facert(capsys, "bench", *args, "-o", tmp_path / "out.json")
        assert code == 2 and reason in err and err.count("\n") == 1, err
    assert not (tmp_path / "out.json").exists()
