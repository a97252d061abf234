"""Owned CUDA resources: a stream, device memory, page-locked host memory (style rules 1 and 2).

Each is a :class:`facert.backends.base.Lifecycle`: the constructor records sizes only, :meth:`open`
allocates, :meth:`close` frees (twice a no-op), ``__del__`` only warns. Each pointer has exactly one
owner, the object that allocated it; everything else holds a view that keeps its owner referenced:
:class:`DeviceView` (``__cuda_array_interface__`` and DLPack, for TensorRT bindings, facert's
kernels and CuPy/PyTorch interop) and the numpy arrays of :meth:`PinnedBuffer.array`. Closing an
owner frees its memory whatever views remain: an engine closes its buffers in its own ``close``,
after its last run. Pitched frames: :mod:`facert.backends.cuda.pitched`; events:
:mod:`facert.backends.cuda.events`.

Every copy takes a stream and is asynchronous on it; :meth:`Stream.synchronize` waits.
"""

from __future__ import annotations

import ctypes
import math
from typing import Any

import numpy as np

from facert.backends.base import Lifecycle
from facert.backends.cuda.bindings import call, cuda_runtime, set_device
from facert.backends.cuda.dlpack import KDL_CUDA, dlpack_capsule
from facert.errors import UsageError


def stream_handle(stream: Any) -> int:
    """The ``cudaStream_t`` of ``stream`` as an int: a :class:`Stream`, PyTorch's ``cuda_stream``,
    CuPy's ``ptr``, a cuda-python stream object, an int, or None (the legacy default stream, 0)."""
    if stream is None:
        return 0
    if isinstance(stream, Stream):
        return stream.handle
    for attribute in ("cuda_stream", "ptr"):  # torch.cuda.Stream, cupy.cuda.Stream
        if isinstance(getattr(stream, attribute, None), int):
            return int(getattr(stream, attribute))
    try:
        return int(stream)
    except (TypeError, ValueError):
        raise UsageError(f"not a CUDA stream: {type(stream).__name__}") from None


class Stream(Lifecycle):
    """A non-blocking CUDA stream on ``device``, created by :meth:`open`."""

    def __init__(self, device: int = 0) -> None:
        self.device = device
        self._stream: Any = None

    def __repr__(self) -> str:
        return f"Stream(device={self.device})"

    def _acquire(self) -> None:
        set_device(self.device)  # the driver check first
        runtime = cuda_runtime()
        self._stream = call(
            "cudaStreamCreateWithFlags",
            runtime.cudaStreamCreateWithFlags(runtime.cudaStreamNonBlocking),
        )

    def _release(self) -> None:
        stream, self._stream = self._stream, None
        call("cudaStreamDestroy", cuda_runtime().cudaStreamDestroy(stream))

    @property
    def handle(self) -> int:
        self._require_open()
        return int(self._stream)

    def synchronize(self) -> None:
        """Wait until everything queued on the stream has run."""
        synchronize(self)


def synchronize(stream: Any) -> None:
    """Wait until everything queued on ``stream`` (anything :func:`stream_handle` takes) has run."""
    call("cudaStreamSynchronize", cuda_runtime().cudaStreamSynchronize(stream_handle(stream)))


def copy_async(destination: int, source: int, nbytes: int, stream: Any) -> None:
    """Queue a copy of ``nbytes`` from pointer ``source`` to pointer ``destination`` (host or
    device, unified addressing decides) on ``stream``."""
    runtime = cuda_runtime()
    kind = runtime.cudaMemcpyKind.cudaMemcpyDefault
    handle = stream_handle(stream)
    call("cudaMemcpyAsync", runtime.cudaMemcpyAsync(destination, source, nbytes, kind, handle))


def _typestr(dtype: np.dtype[Any]) -> str:
    return np.dtype(dtype).str


class DeviceView:
    """A (shape, dtype) window of an owner's device memory, for interop through
    ``__cuda_array_interface__`` (version 3) and DLPack (``__dlpack__``). ``strides`` in bytes
    (None: C-contiguous), as a pitched frame's ``(pitch, 3, 1)``. Holds its owner, never frees.
    The owner gives ``device_pointer`` (device memory, or mapped host memory's device address),
    ``nbytes`` and ``device``."""

    def __init__(
        self, owner: Any, shape: tuple[int, ...], dtype: Any, strides: tuple[int, ...] | None = None
    ) -> None:
        self.owner = owner
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.strides = None if strides is None else tuple(int(s) for s in strides)
        if self.strides is not None and len(self.strides) != len(self.shape):
            raise UsageError(f"strides {self.strides} do not match shape {list(self.shape)}")
        self.nbytes = extent(self.shape, self.dtype.itemsize, self.strides)
        if self.nbytes > owner.nbytes:
            raise UsageError(
                f"a {list(self.shape)} {self.dtype.name} view needs {self.nbytes} bytes, "
                f"the buffer holds {owner.nbytes}"
            )

    def __repr__(self) -> str:
        return f"DeviceView({list(self.shape)} {self.dtype.name}, strides={self.strides})"

    @property
    def pointer(self) -> int:
        return int(self.owner.device_pointer)

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        return {
            "shape": self.shape,
            "typestr": _typestr(self.dtype),
            "data": (self.pointer, False),
            "strides": self.strides,
            "version": 3,
        }

    def __dlpack_device__(self) -> tuple[int, int]:
        """(kDLCUDA, the owner's device)."""
        return (KDL_CUDA, int(self.owner.device))

    def __dlpack__(
        self,
        *,
        stream: Any = None,
        max_version: tuple[int, int] | None = None,
        dl_device: tuple[int, int] | None = None,
        copy: bool | None = None,
    ) -> Any:
        """A DLPack capsule of this view (:mod:`facert.backends.cuda.dlpack`). facert's views
        carry no pending work: whoever queued writes into the memory synchronizes (or orders the
        consumer's stream after them) before handing the view over, so ``stream`` needs nothing.
        No copies: ``copy=True`` or another ``dl_device`` raise :class:`BufferError`."""
        if copy or (dl_device is not None and tuple(dl_device) != self.__dlpack_device__()):
            raise BufferError("a DeviceView exports its own device memory only, without a copy")
        return dlpack_capsule(
            self.pointer, self.shape, self.dtype, self.strides, self.__dlpack_device__(), self
        )


def extent(shape: tuple[int, ...], itemsize: int, strides: tuple[int, ...] | None) -> int:
    """Bytes from the first element to past the last of an array of ``shape`` (0 when empty)."""
    if math.prod(shape) == 0:
        return 0
    if strides is None:
        return math.prod(shape) * itemsize
    if min(strides) < 0:
        raise UsageError(f"negative strides {strides} are not supported")
    return sum((d - 1) * s for d, s in zip(shape, strides, strict=True)) + itemsize


class _Allocation(Lifecycle):
    """``nbytes`` of memory that :data:`ALLOCATE` takes in :meth:`open` (with ``device`` current)
    and :data:`FREE` gives back in :meth:`close`; its sole owner."""

    ALLOCATE = ""  # the CUDA runtime call that allocates, e.g. "cudaMalloc"
    FREE = ""  # ...and the one that frees

    def __init__(self, nbytes: int, device: int = 0) -> None:
        self.nbytes = int(nbytes)
        self.device = device
        self._pointer = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.nbytes} bytes, device={self.device})"

    def _acquire(self) -> None:
        set_device(self.device)  # the driver check first
        allocate = getattr(cuda_runtime(), self.ALLOCATE)
        self._pointer = int(call(f"{self.ALLOCATE}({self.nbytes})", allocate(max(self.nbytes, 1))))

    def _release(self) -> None:
        pointer, self._pointer = self._pointer, 0
        call(self.FREE, getattr(cuda_runtime(), self.FREE)(pointer))

    @property
    def pointer(self) -> int:
        self._require_open()
        return self._pointer

    @property
    def device_pointer(self) -> int:
        """The address kernels use (device memory: :attr:`pointer`)."""
        return self.pointer


class DeviceBuffer(_Allocation):
    """``nbytes`` of device memory on ``device`` (cudaMalloc in :meth:`open`, cudaFree in
    :meth:`close`); its sole owner. :meth:`view` gives typed windows of it."""

    ALLOCATE, FREE = "cudaMalloc", "cudaFree"

    def view(self, shape: tuple[int, ...], dtype: Any) -> DeviceView:
        """The first ``prod(shape)`` elements of ``dtype`` as an array-interface view."""
        self._require_open()
        return DeviceView(self, shape, dtype)

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        return self.view((self.nbytes,), np.uint8).__cuda_array_interface__


class PinnedBuffer(_Allocation):
    """``nbytes`` of page-locked host memory, the staging area for fast asynchronous copies; its
    sole owner. :meth:`array` gives numpy views that keep it referenced.

    ``mapped=True`` allocates it mapped into the device's address space (``cudaHostAlloc`` with
    ``cudaHostAllocMapped``; ``cudaHostGetDevicePointer`` gives the address kernels use, see
    :meth:`device_view`). On an integrated GPU (Jetson), whose device memory IS host memory, that
    is the zero-copy path: kernels read and write the frame where the CPU put it, no copy at all.
    On a discrete GPU every access crosses PCIe: use it there only for data read once."""

    ALLOCATE, FREE = "cudaMallocHost", "cudaFreeHost"

    def __init__(self, nbytes: int, device: int = 0, *, mapped: bool = False) -> None:
        super().__init__(nbytes, device)
        self.mapped = mapped
        self._device_pointer = 0

    def __repr__(self) -> str:
        mapped = ", mapped" if self.mapped else ""
        return f"PinnedBuffer({self.nbytes} bytes, device={self.device}{mapped})"

    def _acquire(self) -> None:
        if not self.mapped:
            super()._acquire()
            return
        set_device(self.device)
        runtime = cuda_runtime()
        size = max(self.nbytes, 1)
        self._pointer = int(
            call(
                f"cudaHostAlloc({self.nbytes}, mapped)",
                runtime.cudaHostAlloc(size, runtime.cudaHostAllocMapped),
            )
        )
        try:
            self._device_pointer = int(
                call("cudaHostGetDevicePointer", runtime.cudaHostGetDevicePointer(self._pointer, 0))
            )
        except BaseException:
            super()._release()
            raise

    def _release(self) -> None:
        self._device_pointer = 0
        super()._release()

    @property
    def device_pointer(self) -> int:
        """The device's address of mapped memory; :class:`UsageError` when not ``mapped``."""
        self._require_open()
        if not self.mapped:
            raise UsageError("device_pointer needs a PinnedBuffer(..., mapped=True)")
        return self._device_pointer

    def device_view(
        self, shape: tuple[int, ...], dtype: Any, strides: tuple[int, ...] | None = None
    ) -> DeviceView:
        """A device view (kernels' address) of mapped memory: the same bytes :meth:`array` shows
        the host. Host writes are visible to kernels queued after them, and kernels' writes to
        the host once their stream is synchronized."""
        self.device_pointer  # noqa: B018 -- open and mapped, or a one-line error
        return DeviceView(self, shape, dtype, strides)

    def array(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """A C-contiguous numpy view of the first ``prod(shape)`` elements of ``dtype``. The view's
        base holds this buffer, so the memory lives as long as the view (until :meth:`close`)."""
        self._require_open()
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > self.nbytes:
            raise UsageError(
                f"a {list(shape)} {dtype.name} array needs {nbytes} bytes, the buffer holds {self.nbytes}"
            )
        memory = (ctypes.c_byte * max(nbytes, 1)).from_address(self._pointer)
        memory._facert_owner = self  # the view's base chain keeps us alive
        return np.frombuffer(memory, dtype=dtype, count=math.prod(shape)).reshape(shape)
