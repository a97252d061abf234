"""The CUDA kernels' per-pixel code (kernels/pixels.cuh) compiled for the CPU, and a numpy front.

:func:`host_library` builds tests/kernel_host.cpp (the header + one loop over each kernel's launch
grid, ``facert_host_<kernel>`` with the kernel's exact parameters) with g++ into a temporary
directory keyed by the sources' sha256, once per machine and source version, and loads it with
ctypes. :class:`HostKernels` has the launcher's three methods (``facert.kernels.launch.CudaKernels``)
on numpy arrays, so the GPU pipeline's code runs on the CPU with the kernels' own arithmetic.

The library is built with ``-ffp-contract=off``: the header fuses multiply-adds only where it says
so (``fx_fma``), as the GPU build does with its ``__f*_rn`` intrinsics.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facert.kernels import SOURCE_DIR
from facert.kernels.plan import BlendPlan, ResizePlan, WarpPlan

HOST_SOURCE = Path(__file__).resolve().parent / "kernel_host.cpp"
HEADER = SOURCE_DIR / "pixels.cuh"
FLAGS = ["-O2", "-march=native", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror"]
_F, _I, _P = ctypes.c_float, ctypes.c_int, ctypes.c_void_p
_SIGNATURES = {
    "warp_crop": [_P, _I, _I, _I, _P, _I, _I, _P, _I, _F, _F, _I, _F, _F, _F],
    "blend": [_P, _I, _I, _I, _P, _I, _I, _I, _F, _F, _P, _P, _P, _I],
    "resize_normalize": [_P, _I, _I, _I, _P, _I, _I, _I, _P, _I, _F, _F],
}


def compiler() -> str | None:
    """The host C++ compiler's path, None when there is none."""
    return shutil.which(os.environ.get("CXX", "g++"))


def host_library() -> ctypes.CDLL:
    """The host build of the kernels, built on first use (RuntimeError without a compiler)."""
    return _load(_build())


def _build() -> Path:
    digest = hashlib.sha256()
    for part in (HEADER.read_bytes(), HOST_SOURCE.read_bytes(), " ".join(FLAGS).encode()):
        digest.update(hashlib.sha256(part).digest())
    directory = Path(tempfile.gettempdir()) / f"facert-kernel-host-{digest.hexdigest()[:16]}"
    library = directory / "libfacert_kernels_host.so"
    if library.exists():
        return library
    cxx = compiler()
    if cxx is None:
        raise RuntimeError("no host C++ compiler (g++ or $CXX) to build the kernels' host twin")
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f"build-{os.getpid()}.so"
    command = [cxx, *FLAGS, "-shared", "-fPIC", f"-I{SOURCE_DIR}", "-o", str(partial)]
    result = subprocess.run([*command, str(HOST_SOURCE)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"building the kernels' host twin failed:\n{result.stderr}")
    os.replace(partial, library)  # atomic: a concurrent session sees all of it or none
    return library


@functools.lru_cache(maxsize=4)
def _load(path: Path) -> ctypes.CDLL:
    library = ctypes.CDLL(str(path))
    for kernel, arguments in _SIGNATURES.items():
        for suffix in ("f32", "f16"):
            function = getattr(library, f"facert_host_{kernel}_{suffix}")
            function.argtypes = arguments
            function.restype = None
    for name in ("facert_host_to_half", "facert_host_from_half"):
        getattr(library, name).argtypes = [_P, _P, _I]
        getattr(library, name).restype = None
    return library


@contextlib.contextmanager
def opencv_ipp(enabled: bool) -> Iterator[None]:
    """OpenCV with Intel IPP on or off for the block (x86 wheels hand some warps to IPP)."""
    before = cv2.ipp.useIPP()
    cv2.ipp.setUseIPP(enabled)
    try:
        yield
    finally:
        cv2.ipp.setUseIPP(before)


def _frame_arguments(frame: np.ndarray) -> list[Any]:
    """(pointer, width, height, pitch) of an (H, W, 3) uint8 BGR frame whose rows may be pitched."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"frame must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
    if frame.strides[1:] != (3, 1) or frame.strides[0] < 3 * frame.shape[1]:
        raise ValueError(f"frame rows must be packed BGR pixels, got strides {frame.strides}")
    return [frame.ctypes.data, frame.shape[1], frame.shape[0], frame.strides[0]]


def _suffix(tensor: np.ndarray, shape: tuple[int, ...], name: str) -> str:
    """ "f32" or "f16" for a C-contiguous float tensor of ``shape``."""
    if tensor.shape != shape:
        raise ValueError(f"{name} must be {shape}, got {tensor.shape}")
    if not tensor.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous, got strides {tensor.strides}")
    if tensor.dtype not in (np.float32, np.float16):
        raise ValueError(f"{name} must be float32 or float16, got {tensor.dtype}")
    return "f32" if tensor.dtype == np.float32 else "f16"


def _pointer(array: np.ndarray, dtype: type[np.generic]) -> tuple[np.ndarray, int]:
    """A C-contiguous copy (if needed) of ``array`` as ``dtype``, and its address."""
    contiguous = np.ascontiguousarray(array, dtype=dtype)
    return contiguous, contiguous.ctypes.data


class HostKernels:
    """The CUDA launchers' interface on numpy arrays, running the header's code on the CPU.

    ``stream`` is accepted and ignored (every call completes before it returns).
    """

    def __init__(self) -> None:
        self.library = host_library()

    def warp_crop(
        self, frame: np.ndarray, plan: WarpPlan, out: np.ndarray, stream: Any = None
    ) -> None:
        """Crops of ``frame`` into ``out`` (N, 3, S, S) float32/float16, as facert_warp_crop_*."""
        count = len(plan.crop_to_frame)
        suffix = _suffix(out, (count, 3, plan.size, plan.size), "warp-crop output")
        matrices, address = _pointer(plan.crop_to_frame, np.float32)
        function = getattr(self.library, f"facert_host_warp_crop_{suffix}")
        function(
            *_frame_arguments(frame),
            address,
            count,
            plan.size,
            out.ctypes.data,
            int(plan.rgb),
            plan.scale,
            plan.offset,
            plan.border_mode,
            *plan.border_bgr,
        )
        del matrices

    def blend(
        self, frame: np.ndarray, faces: np.ndarray, plan: BlendPlan, stream: Any = None
    ) -> None:
        """Paste ``faces`` (N, 3, S, S) float32/float16 into ``frame`` in place, as facert_blend_*."""
        count = len(plan.face_params)
        suffix = _suffix(faces, (count, 3, plan.size, plan.size), "restored faces")
        if not frame.flags.writeable:
            raise ValueError("the frame the faces are blended into must be writeable")
        params, params_address = _pointer(plan.face_params, np.float32)
        tables, tables_address = _pointer(plan.tables, np.float32)
        tiles, tiles_address = _pointer(plan.tiles, np.int32)
        function = getattr(self.library, f"facert_host_blend_{suffix}")
        function(
            *_frame_arguments(frame),
            faces.ctypes.data,
            count,
            plan.size,
            int(plan.rgb),
            plan.low,
            plan.high,
            params_address,
            tables_address,
            tiles_address,
            len(tiles),
        )
        del params, tables

    def resize_normalize(
        self, frame: np.ndarray, plan: ResizePlan, out: np.ndarray, stream: Any = None
    ) -> None:
        """Area resizes of ``plan.boxes`` into ``out`` (N, 3, oh, ow), as facert_resize_normalize_*."""
        count = len(plan.boxes)
        shape = (count, 3, plan.out_height, plan.out_width)
        suffix = _suffix(out, shape, "resize output")
        boxes, address = _pointer(plan.boxes, np.float32)
        frame_arguments = _frame_arguments(frame)
        height, width = frame.shape[:2]
        if np.any(boxes[:, :2] < 0) or np.any(boxes[:, 2] > width) or np.any(boxes[:, 3] > height):
            raise ValueError(f"resize boxes must lie inside the {width}x{height} frame")
        function = getattr(self.library, f"facert_host_resize_normalize_{suffix}")
        function(
            *frame_arguments,
            address,
            count,
            plan.out_width,
            plan.out_height,
            out.ctypes.data,
            int(plan.rgb),
            plan.scale,
            plan.offset,
        )
