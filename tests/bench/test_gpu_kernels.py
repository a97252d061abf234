"""bench/gpu_kernels.py, the kernel check of `make gpu-check`: its accuracy check runs here with
the kernels' host build (the same header compiled for the CPU, tests/kernel_host.py) over host
memory, so its references and tolerances are exercised before any GPU runs it; on a GPU the whole
check (CUDA kernels, timing) must pass."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from kernel_host import HostKernels, compiler
from testdata import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import gpu_kernels

from facert.stages.blend.paste import paste_path


def test_the_faces_include_an_off_frame_one_and_an_overlapping_pair() -> None:
    affines = gpu_kernels.face_affines((1080, 1920), 6, np.random.default_rng(11), 420.0)
    corners = [np.linalg.inv(np.vstack([a, [0, 0, 1]]))[:2] @ [255.5, 255.5, 1] for a in affines]
    assert np.allclose(corners[0], [0, 0], atol=1e-6)  # centred on the frame's corner
    assert np.linalg.norm(corners[1] - corners[2]) < 420 * 0.6  # overlapping
    assert paste_path(affines[0], 512, 1.0, (1080, 1920, 3)) == "box"  # cut by the frame


@pytest.mark.skipif(compiler() is None, reason="no host C++ compiler (g++)")
def test_the_accuracy_check_passes_with_the_kernels_host_build() -> None:
    report = gpu_kernels.accuracy(
        HostKernels(), gpu_kernels.HostMemory(), np.random.default_rng(11)
    )
    assert set(report) == {
        "warp_crop float32",
        "warp_crop float16",
        "resize_normalize pyramid 692x389",
        "resize_normalize crop 1 24x24",
        "resize_normalize crop 2 24x24",
        "blend float32",
    }
    assert not gpu_kernels.failed({"accuracy": report}), report


def test_without_a_gpu_the_check_is_not_run() -> None:
    from facert.backends.cuda import driver_status

    if driver_status().present:
        pytest.skip("a GPU is present")
    assert gpu_kernels.run()["kernels"].startswith("not run on a GPU: no NVIDIA GPU")


@pytest.mark.gpu
def test_the_kernel_check_passes_on_the_gpu() -> None:
    report = gpu_kernels.run(rounds=5)
    if "kernels" in report:  # no NVRTC and no fatbin here
        pytest.skip(report["kernels"])
    assert not gpu_kernels.failed(report), report["accuracy"]
    assert report["timing"]["blend fp16 1080p us per face"] > 0
