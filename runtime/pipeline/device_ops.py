"""The device operations the GPU frame pipeline is written over, and their host implementation.

:class:`facert.pipeline.gpu_frame.GpuPipeline` never calls CUDA itself: it asks a
:class:`DeviceOps` for memory (named workspaces it owns: a pitched frame, contiguous tensors,
page-locked host staging), transfers, events and the three kernels (``warp_crop``, ``blend``,
``resize_normalize``, each taking its plan from :mod:`facert.kernels.plan`). Two implementations:

- :class:`facert.pipeline.cuda_ops.CudaOps`: device memory, one stream, CUDA events and
  :class:`facert.kernels.launch.CudaKernels` (needs a GPU);
- :class:`HostOps` here: numpy arrays stand for device memory (the frame with a pitch wider than
  its rows, as cudaMallocPitch gives), transfers are copies, events read the host clock, and the
  kernels are any object with the kernels' methods on numpy arrays: the tests pass the kernel
  header compiled for the host (tests/kernel_host.py), so the same pipeline code runs the same
  per-pixel arithmetic on the CPU, with real ONNX Runtime engines (:mod:`facert.pipeline.bound`).

Every operation is queued on the ops' one stream (``ops.stream``); host arrays handed to
:meth:`DeviceOps.download` are valid after :meth:`DeviceOps.synchronize`.
"""

from __future__ import annotations

import math
import time
from typing import Any, Protocol

import numpy as np

from facert.backends.base import Lifecycle


class Kernels(Protocol):
    """facert's kernels (:mod:`facert.kernels`): device arrays in, plans from its ``plan`` module."""

    def warp_crop(self, frame: Any, plan: Any, out: Any, stream: Any) -> None: ...

    def blend(self, frame: Any, faces: Any, plan: Any, stream: Any) -> None: ...

    def resize_normalize(self, frame: Any, plan: Any, out: Any, stream: Any) -> None: ...


class Timer(Protocol):
    """An event: :meth:`record` marks the stream's position; :meth:`elapsed_ms` (after the stream
    has passed both) is the time from this mark to ``end``'s."""

    def record(self) -> None: ...

    def elapsed_ms(self, end: Any) -> float: ...


class DeviceOps(Protocol):
    """What the GPU pipeline needs of a device. Buffers are named workspaces the ops own: asking
    again for a name returns the same memory (grown when a larger shape is asked for, so an
    earlier view of that name may then be stale)."""

    kernels: Kernels
    stream: Any

    def frame(self, name: str, height: int, width: int) -> Any:
        """A (height, width, 3) uint8 frame whose rows lie ``pitch >= 3 width`` bytes apart."""
        ...

    def buffer(self, name: str, shape: tuple[int, ...], dtype: Any) -> Any:
        """A C-contiguous device array."""
        ...

    def host(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """A C-contiguous page-locked host array (the end of uploads and downloads)."""
        ...

    def rows(self, array: Any, start: int, stop: int) -> Any:
        """Items ``start:stop`` of a C-contiguous device array's first axis, as a view."""
        ...

    def upload(self, target: Any, source: np.ndarray) -> None:
        """Queue the copy of host ``source`` into device ``target`` (same shape; a frame's pitch
        is honoured)."""
        ...

    def download(self, target: np.ndarray, source: Any) -> None:
        """Queue the copy of device ``source`` into host ``target`` (same shape)."""
        ...

    def copy(self, target: Any, source: Any) -> None:
        """Queue a device to device copy (same shape and dtype, both C-contiguous)."""
        ...

    def synchronize(self) -> None:
        """Wait until the stream has run everything queued."""
        ...

    def event(self, name: str) -> Timer:
        """The event ``name`` (one per name, reused frame after frame)."""
        ...

    def open(self) -> Any: ...

    def close(self) -> None: ...


def host_pitch(width: int) -> int:
    """The row pitch of a host stand-in frame: 3 ``width`` rounded up to 64 bytes, plus 64, so that
    code assuming contiguous rows fails its tests."""
    return -(-3 * width // 64) * 64 + 64


class HostTimer:
    """An event on the host clock: the ops run synchronously, so the mark is the moment."""

    def __init__(self) -> None:
        self.mark = 0.0

    def record(self) -> None:
        self.mark = time.perf_counter()

    def elapsed_ms(self, end: HostTimer) -> float:
        return (end.mark - self.mark) * 1000.0


class HostOps(Lifecycle):
    """:class:`DeviceOps` on numpy arrays with ``kernels`` running on the host (the kernel header
    compiled for the host: tests/kernel_host.py). Synchronous: every operation is done when it
    returns."""

    def __init__(self, kernels: Kernels) -> None:
        self.kernels = kernels
        self.stream: Any = None
        self._arrays: dict[str, np.ndarray] = {}
        self._timers: dict[str, HostTimer] = {}

    def _release(self) -> None:
        self._arrays.clear()

    def _array(self, name: str, nbytes: int) -> np.ndarray:
        memory = self._arrays.get(name)
        if memory is None or memory.nbytes < nbytes:
            memory = self._arrays[name] = np.empty(max(nbytes, 1), np.uint8)
        return memory

    def frame(self, name: str, height: int, width: int) -> np.ndarray:
        self._require_open()
        pitch = host_pitch(width)
        rows = self._array(name, pitch * height)[: pitch * height].reshape(height, pitch)
        return rows[:, : 3 * width].reshape(height, width, 3)

    def buffer(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        self._require_open()
        dtype = np.dtype(dtype)
        count = math.prod(shape)
        memory = self._array(name, count * dtype.itemsize)
        return memory[: count * dtype.itemsize].view(dtype).reshape(shape)

    def host(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return self.buffer("host:" + name, shape, dtype)

    def rows(self, array: np.ndarray, start: int, stop: int) -> np.ndarray:
        return array[start:stop]

    def upload(self, target: np.ndarray, source: np.ndarray) -> None:
        np.copyto(target, source)

    def download(self, target: np.ndarray, source: np.ndarray) -> None:
        np.copyto(target, source)

    def copy(self, target: np.ndarray, source: np.ndarray) -> None:
        np.copyto(target, source)

    def synchronize(self) -> None:
        """Nothing to wait for: every operation ran when it was called."""

    def event(self, name: str) -> HostTimer:
        return self._timers.setdefault(name, HostTimer())
