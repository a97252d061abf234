"""facert's CUDA kernels: warp-crop, blend and resize-normalise, for the GPU frame pipeline.

The per-pixel arithmetic lives in one header of ``__host__ __device__`` functions (``pixels.cuh``),
which the ``.cu`` files' kernels call and which the tests also compile for the CPU with the host
C++ compiler (tests/kernel_host.py), to compare it with the runtime's NumPy/OpenCV path (its
specification). ``plan.py`` computes on the host what the kernels take besides pointers (matrices,
masks' tables, tiles), with the runtime's own geometry code. At run time the kernels are compiled
by NVRTC (cuda-python and the ``nvidia-cuda-nvrtc`` wheel, the ``facert[kernels]`` extra, in every
GPU extra) or loaded from a prebuilt fatbin. Importing this package imports neither cuda-python nor
NVRTC.
"""

from __future__ import annotations

from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent  # the .cu and .cuh files ship beside this module
