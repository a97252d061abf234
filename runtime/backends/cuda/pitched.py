"""Pitched device memory for frames: rows padded to the alignment the GPU reads fastest.

A frame on the GPU is (H, W, 3) uint8 BGR whose rows start ``pitch`` bytes apart
(``cudaMallocPitch`` picks ``pitch`` >= 3 W); kernels and interop see it through a
:class:`facert.backends.cuda.memory.DeviceView` with strides ``(pitch, 3, 1)``.
:func:`copy_2d_async` moves frames between pitched memory and host (or other device) memory row by
row on a stream. Lifetimes as every owned resource (:mod:`facert.backends.cuda.memory`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from facert.backends.base import Lifecycle
from facert.backends.cuda.bindings import call, cuda_runtime, set_device
from facert.backends.cuda.memory import DeviceView, stream_handle
from facert.errors import UsageError


class PitchedBuffer(Lifecycle):
    """Device memory for a ``height`` x ``width`` x 3 uint8 frame whose rows are ``pitch`` bytes
    apart (``cudaMallocPitch`` picks the pitch, >= 3 ``width``, for aligned row access); its sole
    owner. :meth:`frame_view` gives the frame kernels take (strides ``(pitch, 3, 1)``)."""

    def __init__(self, height: int, width: int, device: int = 0) -> None:
        if height < 1 or width < 1:
            raise UsageError(f"a pitched frame needs a positive size, not {height}x{width}")
        self.height, self.width, self.device = int(height), int(width), device
        self._pointer = 0
        self.pitch = 0

    def __repr__(self) -> str:
        return f"PitchedBuffer({self.height}x{self.width}x3, device={self.device})"

    def _acquire(self) -> None:
        set_device(self.device)
        runtime = cuda_runtime()
        pointer, pitch = call(
            f"cudaMallocPitch({3 * self.width}, {self.height})",
            runtime.cudaMallocPitch(3 * self.width, self.height),
        )
        self._pointer, self.pitch = int(pointer), int(pitch)

    def _release(self) -> None:
        pointer, self._pointer = self._pointer, 0
        call("cudaFree", cuda_runtime().cudaFree(pointer))

    @property
    def nbytes(self) -> int:
        self._require_open()
        return self.pitch * self.height

    @property
    def device_pointer(self) -> int:
        self._require_open()
        return self._pointer

    def frame_view(self, height: int | None = None, width: int | None = None) -> DeviceView:
        """The top-left ``height`` x ``width`` frame (default: all of it), (H, W, 3) uint8 BGR
        with strides ``(pitch, 3, 1)``."""
        self._require_open()
        height, width = height or self.height, width or self.width
        if not (0 < height <= self.height and 0 < width <= self.width):
            raise UsageError(
                f"a {height}x{width} frame does not fit this {self.height}x{self.width} buffer"
            )
        return DeviceView(self, (height, width, 3), np.uint8, (self.pitch, 3, 1))


def copy_2d_async(
    destination: int,
    destination_pitch: int,
    source: int,
    source_pitch: int,
    row_bytes: int,
    rows: int,
    stream: Any,
) -> None:
    """Queue a copy of ``rows`` rows of ``row_bytes`` each between pitched memory (host or
    device: a host frame into a :class:`PitchedBuffer`, and back) on ``stream``."""
    runtime = cuda_runtime()
    kind = runtime.cudaMemcpyKind.cudaMemcpyDefault
    call(
        "cudaMemcpy2DAsync",
        runtime.cudaMemcpy2DAsync(
            destination,
            destination_pitch,
            source,
            source_pitch,
            row_bytes,
            rows,
            kind,
            stream_handle(stream),
        ),
    )
