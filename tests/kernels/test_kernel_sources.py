"""The CUDA sources build warning-free: the header with the host C++ compiler, every .cu with nvcc
for each architecture facert ships (CUDA 13: sm_75 to sm_120), and they include nothing NVRTC
lacks. Also the header's software half conversions against NumPy's."""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from kernel_host import HOST_SOURCE, compiler, host_library

from facert.kernels import SOURCE_DIR

ARCHITECTURES = ("75", "86", "87", "89", "90", "120")
KERNELS = {
    "warp_crop.cu": ["facert_warp_crop_f32", "facert_warp_crop_f16"],
    "blend.cu": ["facert_blend_f32", "facert_blend_f16"],
    "resize_normalize.cu": ["facert_resize_normalize_f32", "facert_resize_normalize_f16"],
}


def nvcc() -> str | None:
    """nvcc on the PATH, under $CUDA_HOME, or in /usr/local/cuda; None when absent."""
    home = os.environ.get("CUDA_HOME", "/usr/local/cuda")
    found = shutil.which("nvcc") or str(Path(home) / "bin" / "nvcc")
    return found if Path(found).is_file() else None


def test_sources_include_only_the_header() -> None:
    """NVRTC has no standard headers and no cuda_fp16.h: kernels include pixels.cuh, it nothing."""
    for path in sorted(SOURCE_DIR.glob("*.cu*")):
        includes = re.findall(r"^\s*#\s*include\s*(.+)$", path.read_text(), re.MULTILINE)
        assert includes == ([] if path.suffix == ".cuh" else ['"pixels.cuh"']), path.name


def test_entry_points_are_the_contracts() -> None:
    for name, entries in KERNELS.items():
        found = re.findall(r"^FACERT_\w+\((facert_\w+),", (SOURCE_DIR / name).read_text(), re.M)
        assert found == entries


@pytest.mark.skipif(compiler() is None, reason="no host C++ compiler (g++)")
def test_header_compiles_warning_free_on_the_host(tmp_path: Path) -> None:
    """g++ -Wall -Wextra -Werror over the header with every kernel function instantiated."""
    command = [str(compiler()), "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-pedantic"]
    result = subprocess.run(
        [*command, f"-I{SOURCE_DIR}", str(HOST_SOURCE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(nvcc() is None, reason="nvcc not found (PATH, $CUDA_HOME, /usr/local/cuda)")
@pytest.mark.parametrize("source", sorted(KERNELS))
def test_nvcc_compiles_every_architecture(source: str, tmp_path: Path) -> None:
    """One nvcc call per file for all six architectures, any warning an error (about 4 s each)."""
    generate = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in ARCHITECTURES]
    command = [
        str(nvcc()),
        "-c",
        *generate,
        "-Werror",
        "all-warnings",
        "-Xcompiler",
        "-Wall,-Werror",
    ]
    start = time.perf_counter()
    result = subprocess.run(
        [*command, "-o", str(tmp_path / "kernel.o"), str(SOURCE_DIR / source)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert time.perf_counter() - start < 120


@pytest.fixture(scope="module")
def library() -> ctypes.CDLL:
    if compiler() is None:
        pytest.skip("no host C++ compiler (g++) to build the kernels' host twin")
    return host_library()


def test_half_to_float_is_exact(library: ctypes.CDLL) -> None:
    """Every one of the 65,536 halves widens to NumPy's float32 (NaNs stay NaN)."""
    halves = np.arange(1 << 16, dtype=np.uint16)
    values = np.empty(halves.size, np.float32)
    library.facert_host_from_half(halves.ctypes.data, values.ctypes.data, halves.size)
    expected = halves.view(np.float16).astype(np.float32)
    assert np.array_equal(values, expected, equal_nan=True)


def test_float_to_half_rounds_to_nearest_even(library: ctypes.CDLL) -> None:
    """Random floats over every exponent, halfway cases, subnormals, overflow and specials."""
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 1 << 32, 200_000, dtype=np.uint64).astype(np.uint32)
    finite = np.arange(0x7C00, dtype=np.uint16).view(np.float16).astype(np.float64)
    midpoints = np.concatenate([(finite[:-1] + finite[1:]) / 2, -(finite[:-1] + finite[1:]) / 2])
    special = np.array(
        [
            0.0,
            -0.0,
            65504,
            65519.99,
            65520,
            1e9,
            -1e9,
            np.inf,
            -np.inf,
            2**-25,
            2**-24,
            3 * 2**-26,
            5.96e-8,
            np.nan,
        ],
        np.float64,
    )
    values = np.concatenate(
        [bits.view(np.float32), midpoints.astype(np.float32), special.astype(np.float32)]
    )
    out = np.empty(values.size, np.uint16)
    library.facert_host_to_half(values.ctypes.data, out.ctypes.data, values.size)
    with np.errstate(over="ignore"):  # beyond 65504: infinity, as the kernel
        expected = values.astype(np.float16)
    nan = np.isnan(values)
    assert np.array_equal(out[~nan], expected[~nan].view(np.uint16))
    assert np.all(np.isnan(out[nan].view(np.float16)))


NVRTC_BUILD = """
import sys
from pathlib import Path
from cuda.bindings import nvrtc
source, header, architecture = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
_, program = nvrtc.nvrtcCreateProgram(
    source.read_bytes(), source.name.encode(), 1, [header.read_bytes()], [b"pixels.cuh"]
)
options = [f"--gpu-architecture={architecture}".encode(), b"-std=c++17"]
(result,) = nvrtc.nvrtcCompileProgram(program, len(options), options)
_, size = nvrtc.nvrtcGetProgramLogSize(program)
log = bytearray(size)  # never a bytes object: b" " * 1 is CPython's shared b" "
nvrtc.nvrtcGetProgramLog(program, log)
print(log.decode(errors="replace").strip(" \\0"))
sys.exit(0 if result == nvrtc.nvrtcResult.NVRTC_SUCCESS else 1)
"""


@pytest.mark.parametrize("source", sorted(KERNELS))
def test_nvrtc_compiles_without_any_system_header(source: str) -> None:
    """NVRTC (the nvidia-cuda-nvrtc wheel, no GPU needed) builds each source with only pixels.cuh
    given to it, for the oldest and newest architectures, warning-free. In a child process. (The
    torch.load failures that followed an in-process compile came from writing NVRTC's 1-byte log
    into ``b" " * 1``, CPython's shared b" ": buffers NVRTC writes are bytearrays, see
    facert.kernels.compile and test_kernel_compile.)"""
    pytest.importorskip("cuda.bindings.nvrtc", reason="cuda-python's NVRTC not installed")
    for architecture in ("sm_75", "sm_120"):
        arguments = [str(SOURCE_DIR / source), str(SOURCE_DIR / "pixels.cuh"), architecture]
        result = subprocess.run(
            [sys.executable, "-c", NVRTC_BUILD, *arguments], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "warning" not in result.stdout, result.stdout


def test_header_constants_match_the_plans() -> None:
    """The blend's parameter count and tile size are written twice: in the header and plan.py."""
    from facert.kernels.plan import BLEND_PARAMS, TILE

    header = (SOURCE_DIR / "pixels.cuh").read_text()
    assert re.search(rf"#define FACERT_BLEND_PARAMS {BLEND_PARAMS}\b", header)
    assert re.search(rf"#define FACERT_TILE {TILE}\b", header)
