"""`make gpu-check` on a machine without a GPU: it finishes cleanly (exit code 0) with one JSON
report in which every flavour, every gpu/trt marked test and every bench is "not run" with why."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from testdata import ROOT

from facert.backends.cuda import driver_status


@pytest.mark.skipif(driver_status().present, reason="a GPU is present: run `make gpu-check` itself")
def test_without_a_gpu_everything_is_not_run_and_the_exit_code_is_0(tmp_path: Path) -> None:
    out = tmp_path / "gpu-check.json"
    command = [sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    reason = "not run: no NVIDIA GPU: no NVIDIA driver (libcuda.so.1"
    assert report["device"]["present"] is False
    assert set(report["available"]) == {"tensorrt-rtx", "tensorrt", "ort-gpu", "torch-cuda"}
    assert all(state.startswith(reason) for state in report["available"].values())
    assert all(state.startswith(reason) for state in report["bench"].values())
    assert report["kernels"]["kernels"].startswith(
        "not run on a GPU: no NVIDIA GPU: no NVIDIA driver (libcuda.so.1"
    )
    tests = report["tests"]
    assert (
        "tests.runtime.backends.test_trt::test_outputs_match_onnx_runtime_cpu_at_every_batch"
        in tests
    )
    assert "tests.kernels.test_kernel_module::test_a_tiny_kernel_runs_on_the_gpu" in tests
    assert {test["outcome"] for test in tests.values()} == {"not run"}
    assert report["versions"]["numpy"]
