"""The driver check: "no GPU" with its reason where there is none (in this process and in a fresh
one, which must exit 0: nothing may crash), the GPU's facts where there is one."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from facert.backends.cuda import (
    DriverStatus,
    GpuTarget,
    driver_status,
    gpu_fingerprint,
    probe_driver,
    require_gpu,
)
from facert.errors import UnsupportedError

PRESENT = driver_status().present


def test_a_missing_driver_library_is_no_gpu_with_the_reason() -> None:
    status = probe_driver(library="libcuda-not-here.so.1")
    assert not status.present
    assert status.reason == "no NVIDIA driver (libcuda-not-here.so.1: No such file or directory)"
    assert status.summary().startswith("no NVIDIA GPU: no NVIDIA driver")


def test_a_library_without_the_driver_api_is_no_gpu() -> None:
    status = probe_driver(library="libm.so.6")  # loads, but has no cuInit
    assert not status.present
    assert "libm.so.6 is not an NVIDIA driver" in status.reason


@pytest.mark.skipif(PRESENT, reason="a GPU is present")
def test_without_a_gpu_require_gpu_raises_one_line() -> None:
    with pytest.raises(UnsupportedError) as caught:
        require_gpu(purpose="the trt backend")
    message = str(caught.value)
    assert message.startswith("the trt backend needs an NVIDIA GPU: no NVIDIA driver (libcuda.so.1")
    assert "\n" not in message
    with pytest.raises(UnsupportedError, match="no GPU fingerprint"):
        gpu_fingerprint(driver_status())
    with pytest.raises(
        UnsupportedError, match="^a GPU build needs an NVIDIA GPU: no NVIDIA driver"
    ):
        GpuTarget().device()


def test_a_fresh_process_reports_its_status_and_exits_cleanly() -> None:
    """The check in a new interpreter (nothing cached, nothing imported): exit code 0, and neither
    cuda-python nor TensorRT imported by it."""
    code = (
        "import json, sys\n"
        "from facert.backends.cuda import driver_status\n"
        "s = driver_status()\n"
        "heavy = sorted(m for m in sys.modules if m.startswith(('cuda', 'tensorrt')))\n"
        "print(json.dumps({'present': s.present, 'reason': s.reason, 'heavy': heavy}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["present"] is PRESENT
    assert report["heavy"] == []
    if not PRESENT:
        assert report["reason"].startswith("no NVIDIA driver (libcuda.so.1")


def test_the_fingerprint_names_the_capability_and_changes_with_the_driver() -> None:
    gpu = DriverStatus(
        True,
        name="NVIDIA GeForce RTX 3060",
        compute_capability="8.6",
        cuda_version="13.0",
        driver_version="580.1",
    )
    newer = DriverStatus(
        True,
        name="NVIDIA GeForce RTX 3060",
        compute_capability="8.6",
        cuda_version="13.0",
        driver_version="590.2",
    )
    assert gpu_fingerprint(gpu).startswith("gpu-sm86-")
    assert len(gpu_fingerprint(gpu)) == len("gpu-sm86-") + 12
    assert gpu_fingerprint(gpu) == gpu_fingerprint(gpu)
    assert gpu_fingerprint(gpu) != gpu_fingerprint(newer)
    assert (
        gpu.summary() == "NVIDIA GeForce RTX 3060 (compute capability 8.6, driver 580.1, CUDA 13.0)"
    )


@pytest.mark.gpu
def test_a_gpu_reports_its_name_capability_and_versions() -> None:
    status = require_gpu()
    assert status.device_count >= 1 and status.name
    major, minor = str(status.compute_capability).split(".")
    assert int(major) >= 5 and minor.isdigit()
    assert status.cuda_version and int(status.cuda_version.split(".")[0]) >= 11
    assert GpuTarget().device() == gpu_fingerprint(status)
    assert probe_driver(device=status.device_count).reason.startswith(
        f"device {status.device_count} asked for"
    )
