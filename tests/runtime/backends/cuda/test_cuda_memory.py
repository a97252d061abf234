"""Owned CUDA resources: lifetimes without a GPU (cheap constructors, close before open), and on a
GPU a host -> device -> device -> host round trip that must return the bytes it was given."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from facert.backends.cuda import driver_status
from facert.backends.cuda.bindings import call, cuda_runtime
from facert.backends.cuda.events import Event, elapsed_ms
from facert.backends.cuda.memory import (
    DeviceBuffer,
    PinnedBuffer,
    Stream,
    stream_handle,
)
from facert.backends.cuda.pitched import PitchedBuffer
from facert.errors import DeviceError, UnsupportedError, UsageError

PRESENT = driver_status().present


def test_constructors_are_cheap_and_closing_unopened_is_a_no_op() -> None:
    """No GPU needed: nothing is allocated (or imported) before open()."""
    for resource in (
        Stream(),
        DeviceBuffer(1024),
        PinnedBuffer(1024),
        PinnedBuffer(1024, mapped=True),
        PitchedBuffer(1080, 1920),
        Event(),
    ):
        assert not resource.is_open
        resource.close()
        resource.close()
        with pytest.raises(RuntimeError, match="is not open"):
            resource._require_open()


@pytest.mark.skipif(PRESENT, reason="a GPU is present")
@pytest.mark.parametrize(
    "resource",
    [
        Stream(),
        DeviceBuffer(64),
        PinnedBuffer(64),
        PinnedBuffer(64, mapped=True),
        PitchedBuffer(4, 4),
        Event(),
    ],
    ids=repr,
)
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


def test_a_pitched_frame_needs_a_size() -> None:
    with pytest.raises(UsageError, match="a pitched frame needs a positive size, not 0x1920"):
        PitchedBuffer(0, 1920)


def test_only_mapped_pinned_memory_has_a_device_address() -> None:
    with pytest.raises(RuntimeError, match="is not open"):
        PinnedBuffer(64).device_view((16,), np.float32)


@pytest.mark.gpu
def test_a_pitched_frame_round_trip() -> None:
    """A 1080p frame up into pitched memory row by row (cudaMemcpy2DAsync), a view with strides
    (pitch, 3, 1), and back: the bytes it was given (exact: copies only)."""
    from facert.backends.cuda.pitched import copy_2d_async

    frame = np.random.default_rng(0).integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    with (
        Stream() as stream,
        PitchedBuffer(1080, 1920) as pitched,
        PinnedBuffer(frame.nbytes) as pinned,
    ):
        assert pitched.pitch >= 3 * 1920
        view = pitched.frame_view()
        assert view.__cuda_array_interface__["strides"] == (pitched.pitch, 3, 1)
        assert pitched.frame_view(720, 1280).shape == (720, 1280, 3)
        with pytest.raises(UsageError, match="does not fit this 1080x1920 buffer"):
            pitched.frame_view(1081, 1920)
        host = pinned.array(frame.shape, np.uint8)
        host[...] = frame
        row = 3 * 1920
        copy_2d_async(pitched.device_pointer, pitched.pitch, pinned.pointer, row, row, 1080, stream)
        stream.synchronize()
        host[...] = 0
        copy_2d_async(pinned.pointer, row, pitched.device_pointer, pitched.pitch, row, 1080, stream)
        stream.synchronize()
        np.testing.assert_array_equal(host, frame)


@pytest.mark.gpu
def test_mapped_pinned_memory_is_seen_by_the_device() -> None:
    """Host writes to mapped memory, copied on the GPU from its DEVICE address into device memory
    and back into an ordinary pinned buffer: the same bytes (exact: copies only)."""
    from facert.backends.cuda.memory import copy_async

    data = np.arange(256, dtype=np.float32)
    with (
        Stream() as stream,
        PinnedBuffer(data.nbytes, mapped=True) as mapped,
        DeviceBuffer(data.nbytes) as device,
        PinnedBuffer(data.nbytes) as back,
    ):
        mapped.array(data.shape, np.float32)[...] = data
        view = mapped.device_view(data.shape, np.float32)
        assert view.pointer == mapped.device_pointer
        copy_async(device.pointer, view.pointer, data.nbytes, stream)
        copy_async(back.pointer, device.pointer, data.nbytes, stream)
        stream.synchronize()
        np.testing.assert_array_equal(back.array(data.shape, np.float32), data)
        with pytest.raises(UsageError, match="needs a PinnedBuffer"):
            _ = back.device_pointer


@pytest.mark.gpu
def test_events_time_the_work_between_them() -> None:
    from facert.backends.cuda.memory import copy_async

    nbytes = 64 << 20
    with Stream() as stream, DeviceBuffer(nbytes) as a, DeviceBuffer(nbytes) as b:
        with Event() as start, Event() as end:
            start.record(stream)
            for _ in range(4):
                copy_async(b.pointer, a.pointer, nbytes, stream)
            end.record(stream)
            end.synchronize()
            elapsed = elapsed_ms(start, end)
        # 256 MB copied on the device: more than 0 ms, less than 1 s on any GPU facert supports
        assert 0.0 < elapsed < 1000.0
