"""``--backend`` / ``--precision`` on ``facert enhance``, and ``facert doctor``."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_runs import facert, one_face_photo

from facert.backends.device import cpu_flags


def test_a_pair_no_backend_runs_is_refused_in_one_line_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = one_face_photo(tmp_path / "p.png")
    out = tmp_path / "out"
    code, _, err = facert(
        capsys, "enhance", photo, "-o", out, "--backend", "ort", "--precision", "bf16"
    )
    assert code == 2 and not out.exists()
    assert err.splitlines() == [
        "facert: error: ONNX Runtime has no BF16 CPU path: --backend openvino --precision bf16"
    ]


def test_openvino_restores_like_onnx_runtime(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ISPL on OpenVINO FP32 and on ONNX Runtime: the same photo within one gray level (float32
    rounding may move a value across a .5 before the uint8 conversion)."""
    pytest.importorskip("openvino")
    photo = one_face_photo(tmp_path / "p.png")
    images = {}
    for backend in ("ort", "openvino"):
        out = tmp_path / backend
        code, text, err = facert(capsys, "enhance", photo, "-o", out, "--backend", backend)
        assert code == 0 and "1 face restored" in text, err
        images[backend] = cv2.imread(str(out / "p.png")).astype(np.int16)
    difference = np.abs(images["ort"] - images["openvino"])
    assert difference.max() <= 1 and (difference > 0).mean() < 0.01


def test_doctor_prints_the_machine_and_what_can_run(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = facert(capsys, "doctor")
    assert code == 0, err
    lines = out.splitlines()
    instructions = next(line for line in lines if line.startswith("instructions:"))
    for flag in ("avx512_bf16", "amx_bf16"):
        assert flag in instructions
    plans = {
        line.split()[0] + " " + line.split()[1]: line for line in lines if line.startswith("  ")
    }
    assert "can run" in plans["ort fp32"]
    bf16 = "can run" in plans["openvino bf16"]
    has_bf16 = bool({"amx_bf16", "avx512_bf16"} & set(cpu_flags()))
    openvino = pytest.importorskip("openvino")
    assert openvino is not None and bf16 == has_bf16
    assert "ispl: ort fp32 (its spec allows no other CPU plan)" in out


@pytest.mark.parametrize("backend", ["trt", "ort-gpu"])
def test_a_gpu_backend_without_a_gpu_says_why_in_one_line(
    backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No driver here: the GPU backends refuse before any work (the driver check runs first, so
    neither TensorRT nor cuda-python is loaded, and nothing is written)."""
    from facert.backends.cuda import driver_status

    if driver_status().present:
        pytest.skip("this machine has an NVIDIA GPU")
    photo = one_face_photo(tmp_path / "p.png")
    out = tmp_path / "out"
    code, _, err = facert(capsys, "enhance", photo, "-o", out, "--backend", backend)
    assert code == 2 and not out.exists()
    [line] = err.splitlines()
    assert line.startswith(f"facert: error: cannot run {backend} fp32: no NVIDIA GPU (")


def test_a_gpu_backend_at_a_cpu_precision_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = one_face_photo(tmp_path / "p.png")
    code, _, err = facert(
        capsys, "enhance", photo, "-o", tmp_path / "o", "--backend", "trt", "--precision", "int8"
    )
    assert code == 2 and err.splitlines() == [
        "facert: error: --backend trt runs fp16 or fp32, not int8"
    ]


def test_doctor_names_the_gpu_and_the_tensorrt_flavours(capsys: pytest.CaptureFixture[str]) -> None:
    from facert.backends.cuda import driver_status

    code, out, err = facert(capsys, "doctor")
    assert code == 0, err
    lines = out.splitlines()
    assert f"GPU: {driver_status().summary()}" in lines
    [flavours] = [line for line in lines if line.startswith("TensorRT: ")]
    rtx = pytest.importorskip("tensorrt_rtx")
    assert f"tensorrt-rtx {rtx.__version__}" in flavours
    [trt] = [line for line in lines if line.startswith("  trt fp16")]
    assert ("can run" in trt) == driver_status().present
