""":class:`facert.pipeline.device_ops.DeviceOps` on an NVIDIA GPU: device memory, one stream, CUDA
events, facert's kernels (:class:`facert.kernels.launch.CudaKernels`). Needs a driver: opening
checks for one first (:func:`facert.backends.cuda.require_gpu`), cuda-python is imported then.

Workspaces are owned here (one allocation per name, replaced by a larger one when a larger shape
is asked for) and freed by :meth:`CudaOps.close`. A frame is a pitched allocation
(:class:`facert.backends.cuda.pitched.PitchedBuffer`); copies between a frame and contiguous host
memory are 2D copies that honour the pitch (:func:`facert.backends.cuda.pitched.copy_2d_async`).
Views of workspaces are ``__cuda_array_interface__`` objects (:class:`DeviceArray`) that keep
their owner referenced.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from facert.backends.base import Lifecycle
from facert.errors import UsageError


class DeviceArray:
    """A typed window of device memory: ``pointer``, ``shape``, ``dtype``, ``strides`` in bytes
    (None: C-contiguous), with ``owner`` kept referenced (never freed here)."""

    def __init__(
        self,
        owner: Any,
        pointer: int,
        shape: tuple[int, ...],
        dtype: Any,
        strides: tuple[int, ...] | None = None,
    ) -> None:
        self.owner = owner
        self.pointer = int(pointer)
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.strides = strides

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        return {
            "shape": self.shape,
            "typestr": self.dtype.str,
            "data": (self.pointer, False),
            "strides": self.strides,
            "version": 3,
        }


def array_facts(item: Any) -> tuple[int, tuple[int, ...], np.dtype[Any], int]:
    """(pointer, shape, dtype, row pitch in bytes) of a device array: C-contiguous, or a frame
    whose rows only are ``pitch`` apart (strides (pitch, ..., itemsize) C-contiguous within a row)."""
    interface = getattr(item, "__cuda_array_interface__", None)
    if not isinstance(interface, dict):
        raise UsageError(f"not a device array: {type(item).__name__}")
    shape = tuple(int(d) for d in interface["shape"])
    dtype = np.dtype(interface["typestr"])
    row = math.prod(shape[1:]) * dtype.itemsize
    strides = interface.get("strides")
    pitch = row if strides is None or not shape else int(strides[0])
    if strides is not None and len(shape) > 1:
        inner = [dtype.itemsize * math.prod(shape[i + 1 :]) for i in range(1, len(shape))]
        if [int(s) for s in strides[1:]] != inner:
            raise UsageError(f"device array rows must be contiguous, got strides {list(strides)}")
    return int(interface["data"][0]), shape, dtype, pitch


class CudaOps(Lifecycle):
    """The GPU's :class:`facert.pipeline.device_ops.DeviceOps` on GPU ``device``; ``cache_dir``:
    where NVRTC's cubins of the kernels are cached (:class:`facert.kernels.launch.CudaKernels`)."""

    def __init__(self, device: int = 0, cache_dir: Path | None = None) -> None:
        self.device = device
        self.cache_dir = cache_dir
        self.kernels: Any = None
        self.stream: Any = None
        self._buffers: dict[str, Any] = {}
        self._events: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"CudaOps(device={self.device})"

    def _acquire(self) -> None:
        from facert.backends.cuda import require_gpu
        from facert.backends.cuda.memory import Stream
        from facert.kernels.launch import CudaKernels

        require_gpu(self.device, purpose="the GPU pipeline")
        self.stream = Stream(self.device).open()
        try:
            self.kernels = CudaKernels(self.cache_dir, self.device).open()
        except BaseException:
            self.stream.close()
            raise

    def _release(self) -> None:
        for owned in [*self._events.values(), *self._buffers.values()]:
            owned.close()
        self._events, self._buffers = {}, {}
        self.kernels.close()
        self.stream.close()

    def _owned(self, name: str, nbytes: int, make: Any) -> Any:
        held = self._buffers.get(name)
        if held is None or held.nbytes < nbytes:
            if held is not None:
                self.stream.synchronize()  # queued work may still read it
                held.close()
            held = self._buffers[name] = make().open()
        return held

    def frame(self, name: str, height: int, width: int) -> Any:
        from facert.backends.cuda.pitched import PitchedBuffer

        self._require_open()
        key = f"frame:{name}"
        held = self._buffers.get(key)
        if held is None or (held.height, held.width) != (height, width):
            if held is not None:
                self.stream.synchronize()
                held.close()
            held = self._buffers[key] = PitchedBuffer(height, width, self.device).open()
        return held.frame_view(height, width)

    def buffer(self, name: str, shape: tuple[int, ...], dtype: Any) -> DeviceArray:
        from facert.backends.cuda.memory import DeviceBuffer

        self._require_open()
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        held = self._owned(f"device:{name}", nbytes, lambda: DeviceBuffer(nbytes, self.device))
        return DeviceArray(held, held.pointer, shape, dtype)

    def host(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        from facert.backends.cuda.memory import PinnedBuffer

        self._require_open()
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        held = self._owned(f"host:{name}", nbytes, lambda: PinnedBuffer(nbytes, self.device))
        return held.array(tuple(shape), dtype)

    def rows(self, array: Any, start: int, stop: int) -> DeviceArray:
        pointer, shape, dtype, pitch = array_facts(array)
        if not 0 <= start <= stop <= shape[0]:
            raise UsageError(f"rows {start}:{stop} of an array of {shape[0]}")
        return DeviceArray(array, pointer + start * pitch, (stop - start, *shape[1:]), dtype)

    def _copy(self, target: tuple[int, int], source: tuple[int, int], row: int, rows: int) -> None:
        from facert.backends.cuda.pitched import copy_2d_async

        (dst, dpitch), (src, spitch) = target, source
        copy_2d_async(dst, dpitch, src, spitch, row, rows, self.stream)

    def _transfer(self, device: Any, host: np.ndarray, upload: bool) -> None:
        pointer, shape, dtype, pitch = array_facts(device)
        if shape != host.shape or dtype != host.dtype or not host.flags.c_contiguous:
            raise UsageError(f"cannot copy {host.shape} {host.dtype} to/from {shape} {dtype}")
        row = host.nbytes // max(shape[0], 1) if shape else host.nbytes
        rows = shape[0] if shape else 1
        ends = ((pointer, pitch), (host.ctypes.data, row))
        self._copy(*(ends if upload else ends[::-1]), row, rows)

    def upload(self, target: Any, source: np.ndarray) -> None:
        self._transfer(target, source, upload=True)

    def download(self, target: np.ndarray, source: Any) -> None:
        self._transfer(source, target, upload=False)

    def copy(self, target: Any, source: Any) -> None:
        dst, shape, dtype, dpitch = array_facts(target)
        src, source_shape, source_dtype, spitch = array_facts(source)
        if (shape, dtype) != (source_shape, source_dtype):
            raise UsageError(f"cannot copy {source_shape} {source_dtype} to {shape} {dtype}")
        row = math.prod(shape[1:]) * dtype.itemsize
        self._copy((dst, dpitch), (src, spitch), row, shape[0] if shape else 1)

    def synchronize(self) -> None:
        self.stream.synchronize()

    def event(self, name: str) -> Any:
        from facert.backends.cuda.events import Event

        self._require_open()
        if name not in self._events:
            self._events[name] = Event(self.device).open()
        return _StreamTimer(self._events[name], self.stream)


class _StreamTimer:
    """A CUDA event bound to the ops' stream (the :class:`facert.pipeline.device_ops.Timer`)."""

    def __init__(self, event: Any, stream: Any) -> None:
        self.event = event
        self.stream = stream

    def record(self) -> None:
        self.event.record(self.stream)

    def elapsed_ms(self, end: _StreamTimer) -> float:
        from facert.backends.cuda.events import elapsed_ms

        return elapsed_ms(self.event, end.event)
