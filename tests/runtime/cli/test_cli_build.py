"""``facert models build``: plans of the embedded detector built by the command line, and its
mistakes answered in one line (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runs import facert, mtcnn_only_cache

pytest.importorskip("tensorrt_rtx")


def test_build_writes_keyed_plans_with_manifests(capsys, settings, tmp_path: Path) -> None:
    cache = mtcnn_only_cache(tmp_path / "cache", settings)
    out = tmp_path / "plans"
    code, stdout, err = facert(
        capsys, "--cache-dir", cache, "models", "build", "mtcnn", "-o", out,
        "--compute-capability", "8.6", "12.0",
    )  # fmt: skip
    assert code == 0, err
    lines = stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["onet.onnx", "pnet.onnx", "rnet.onnx"]
    assert all("fp32 for sm86+sm120" in line for line in lines)
    manifests = sorted((out / "mtcnn" / "compiled" / "trt-plan").glob("*/manifest.json"))
    assert len(manifests) == 3
    for path in manifests:
        manifest = json.loads(path.read_text())
        assert manifest["build"]["compute_capabilities"] == ["8.6", "12.0"]
        assert (path.parent / manifest["file"]["name"]).stat().st_size == manifest["file"]["bytes"]
    # -o names where the plans go: the cache holds the export they were built from, no plan
    assert not (cache / "mtcnn" / "compiled" / "trt-plan").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--precision", "fp16"], "mtcnn has no FP16 graph"),
        (["--compute-capability", "9.0"], "not 9.0 (Jetson and data-centre GPUs"),
        (["--max-batch", "0"], "--max-batch must be at least 1"),
        (["--target", "tensorrt"], "pip install 'facert[tensorrt]'"),
    ],
)
def test_build_mistakes_are_one_line(capsys, settings, tmp_path, args, message) -> None:
    cache = mtcnn_only_cache(tmp_path / "cache", settings)
    code, _, err = facert(
        capsys, "--cache-dir", cache, "models", "build", "mtcnn", "-o", tmp_path / "o", *args
    )
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o" / "mtcnn" / "compiled").exists() or not any(
        (tmp_path / "o" / "mtcnn" / "compiled").rglob("*.plan")
    )
