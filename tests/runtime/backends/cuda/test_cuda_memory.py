"""Owned CUDA resources: lifetimes without a GPU (cheap constructors, close before open), and on a
GPU a host -> device -> device -> host round trip that must return the bytes it was given."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from facert.backends.cuda import driver_status
from facert.backends.cuda.bindings import call, cuda_runtime
from facert.backends.cuda.memory import DeviceBuffer, PinnedBuffer, Stream, stream_handle
from facert.errors import DeviceError, UnsupportedError, UsageError

PRESENT = driver_status().present


def test_constructors_are_cheap_and_closing_unopened_is_a_no_op() -> None:
    """No GPU needed: nothing is allocated (or imported) before open()."""
    for resource in (Stream(), DeviceBuffer(1024), PinnedBuffer(1024)):
        assert not resource.is_open
        resource.close()
        resource.close()
        with pytest.raises(RuntimeError, match="is not open"):
            resource._require_open()


@pytest.mark.skipif(PRESENT, reason="a GPU is present")
@pytest.mark.parametrize("resource", [Stream(), DeviceBuffer(64), PinnedBuffer(64)], ids=repr)
def test_without_a_gpu_opening_a_resource_is_one_line(resource: Stream) -> None:
    with pytest.raises(UnsupportedError) as caught:
        resource.open()
    assert str(caught.value).startswith(
        "CUDA memory and streams needs an NVIDIA GPU: no NVIDIA driver"
    )
    assert not resource.is_open


def test_cuda_errors_are_named() -> None:
    """A real cuda-python call: without a driver its error comes back named (cuda-python finds no
    driver library and says so; nothing crashes); with one, the device count."""
    pytest.importorskip("cuda.bindings")
    runtime = cuda_runtime()
    if PRESENT:
        assert call("cudaGetDeviceCount", runtime.cudaGetDeviceCount()) >= 1
        return
    with pytest.raises(DeviceError, match=r"^CUDA cudaGetDeviceCount failed: cudaError\w+$"):
        call("cudaGetDeviceCount", runtime.cudaGetDeviceCount())


def test_stream_handles_from_other_libraries() -> None:
    class TorchLike:
        cuda_stream = 1234

    class CupyLike:
        ptr = 99

    assert stream_handle(None) == 0
    assert stream_handle(7) == 7
    assert stream_handle(TorchLike()) == 1234
    assert stream_handle(CupyLike()) == 99
    with pytest.raises(UsageError, match="not a CUDA stream: str"):
        stream_handle("stream")


@pytest.mark.gpu
def test_round_trip_through_device_memory_on_a_stream() -> None:
    from facert.backends.cuda.memory import copy_async

    data = np.arange(4096, dtype=np.float32).reshape(4, 1024)
    with (
        Stream() as stream,
        PinnedBuffer(data.nbytes) as pinned,
        DeviceBuffer(data.nbytes) as a,
        DeviceBuffer(data.nbytes) as b,
    ):
        staged = pinned.array(data.shape, data.dtype)
        staged[...] = data
        copy_async(a.pointer, pinned.pointer, data.nbytes, stream)
        copy_async(b.pointer, a.pointer, data.nbytes, stream)
        stream.synchronize()  # the copies have read the pinned memory: it may change now
        staged[...] = 0
        copy_async(pinned.pointer, b.pointer, data.nbytes, stream)
        stream.synchronize()
        np.testing.assert_array_equal(staged, data)  # exact: bytes copied, no arithmetic
        view = b.view((4, 1024), np.float32).__cuda_array_interface__
        assert view == {
            "shape": (4, 1024),
            "typestr": "<f4",
            "data": (b.pointer, False),
            "strides": None,
            "version": 3,
        }
        with pytest.raises(UsageError, match="needs 16388 bytes"):
            b.view((4097,), np.float32)
    assert not a.is_open and not pinned.is_open and not stream.is_open
    a.close()  # twice: a no-op


@pytest.mark.gpu
def test_a_pinned_view_keeps_its_buffer_alive() -> None:
    buffer = PinnedBuffer(64).open()
    view = buffer.array((16,), np.float32)
    view[...] = 3.0
    del buffer
    gc.collect()
    assert float(view.sum()) == 48.0  # the view's base still holds the (open) buffer
    owner = view.base._facert_owner  # type: ignore[union-attr]
    assert owner.is_open
    owner.close()
