"""A tiny CUDA program of facert's shape (one header of ``__host__ __device__`` functions, a
``.cu`` whose kernel calls it) for the compile, fatbin and module tests: compiled by NVRTC and nvcc
here without a GPU, launched where there is one. ``tiny_axpy(y, x, a, n)``: y = a x + y."""

from __future__ import annotations

import struct
from pathlib import Path

from facert.kernels.compile import KernelSources

HEADER = """#pragma once
#ifdef __CUDACC__
#define TINY_HD __host__ __device__
#else
#define TINY_HD inline
#endif
TINY_HD float tiny_axpy_value(float a, float x, float y) { return a * x + y; }
"""

UNIT = """#include "tiny.cuh"
extern "C" __global__ void tiny_axpy(float* y, const float* x, float a, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = tiny_axpy_value(a, x[i], y[i]);
}
"""

# a second unit of the same program: the header is included twice (its guard holds)
SCALE = """#include "tiny.cuh"
extern "C" __global__ void tiny_scale(float* y, float a, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = tiny_axpy_value(a, y[i], 0.0f);
}
"""

BROKEN = """#include "tiny.cuh"
extern "C" __global__ void tiny_broken(float* y) { y[0] = not_declared_anywhere; }
"""


def tiny_sources(folder: Path, broken: bool = False) -> KernelSources:
    """The tiny program written into ``folder`` (``axpy.cu``, ``scale.cu`` and ``tiny.cuh``; with
    ``broken`` a third unit that does not compile)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny.cuh").write_text(HEADER)
    (folder / "axpy.cu").write_text(UNIT)
    (folder / "scale.cu").write_text(SCALE)
    units = ("axpy.cu", "scale.cu")
    if broken:
        (folder / "broken.cu").write_text(BROKEN)
        units += ("broken.cu",)
    return KernelSources(folder, units, ("tiny.cuh",))


def cubin_arch(cubin: bytes) -> int:
    """The SM number a cubin (a CUDA ELF: machine 190) is built for: bits 8-15 of its e_flags."""
    assert cubin[:4] == b"\x7fELF" and cubin[4] == 2, "not a 64-bit ELF"
    assert struct.unpack_from("<H", cubin, 18)[0] == 190, "not a CUDA ELF"
    return (struct.unpack_from("<I", cubin, 48)[0] >> 8) & 0xFF
