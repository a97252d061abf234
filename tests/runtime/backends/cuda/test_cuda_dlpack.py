"""DLPack export: the capsule facert builds with ctypes is checked here by a real consumer,
numpy.from_dlpack, on HOST memory (kDLCPU): the same structs and code path a CUDA consumer
(torch, CuPy) takes on a DeviceView, only the device type differs. On a GPU, torch takes a
DeviceView's capsule."""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
import pytest

from facert.backends.cuda.dlpack import (
    KDL_CPU,
    KDL_CUDA,
    DLManagedTensor,
    DLTensor,
    data_type,
    dlpack_capsule,
    live_tensors,
)
from facert.backends.cuda.memory import DeviceView, extent
from facert.errors import UsageError


class HostExport:
    """Host memory exported through facert's capsule builder (kDLCPU)."""

    def __init__(
        self, array: np.ndarray, shape: tuple[int, ...], strides: tuple[int, ...] | None
    ) -> None:
        self.array, self.shape, self.strides = array, shape, strides

    def __dlpack__(self, **kwargs: Any) -> Any:
        return dlpack_capsule(
            self.array.ctypes.data,
            self.shape,
            self.array.dtype,
            self.strides,
            (KDL_CPU, 0),
            self.array,
        )

    def __dlpack_device__(self) -> tuple[int, int]:
        return (KDL_CPU, 0)


def test_the_struct_layout_is_dlpacks() -> None:
    """dlpack.h on a 64-bit machine: DLTensor is 48 bytes, the managed tensor 64."""
    assert DLTensor.data.offset == 0 and DLTensor.device.offset == 8
    assert DLTensor.ndim.offset == 16 and DLTensor.dtype.offset == 20
    assert DLTensor.shape.offset == 24 and DLTensor.strides.offset == 32
    assert DLTensor.byte_offset.offset == 40
    assert DLManagedTensor.manager_ctx.offset == 48 and DLManagedTensor.deleter.offset == 56
    assert (data_type(np.uint8).code, data_type(np.float16).bits) == (1, 16)


@pytest.mark.parametrize("dtype", [np.uint8, np.float16, np.float32, np.int32])
def test_numpy_reads_a_contiguous_export(dtype: type) -> None:
    base = np.arange(2 * 3 * 4).astype(dtype)
    before = live_tensors()
    imported = np.from_dlpack(HostExport(base, (2, 3, 4), None))
    assert imported.dtype == base.dtype and imported.shape == (2, 3, 4)
    np.testing.assert_array_equal(imported, base.reshape(2, 3, 4))  # exact: the same memory
    assert imported.ctypes.data == base.ctypes.data  # no copy
    assert live_tensors() == before + 1
    del imported
    gc.collect()
    assert live_tensors() == before  # the consumer called the deleter


def test_numpy_reads_a_pitched_frame_export() -> None:
    """A 3 x 2 BGR frame in rows of 8 bytes (pitch 8 > 3 x 2): strides (pitch, 3, 1)."""
    rows = np.arange(3 * 8, dtype=np.uint8)
    frame = np.from_dlpack(HostExport(rows, (3, 2, 3), (8, 3, 1)))
    assert frame.strides == (8, 3, 1)
    np.testing.assert_array_equal(frame[2, 1], [19, 20, 21])  # byte 2 x 8 + 1 x 3
    np.testing.assert_array_equal(frame[:, 0, 0], [0, 8, 16])


def test_an_unconsumed_capsule_frees_its_tensor() -> None:
    before = live_tensors()
    capsule = HostExport(np.zeros(4, np.float32), (4,), None).__dlpack__()
    assert live_tensors() == before + 1
    del capsule
    gc.collect()
    assert live_tensors() == before


def test_strides_that_are_not_whole_elements_are_refused() -> None:
    with pytest.raises(UsageError, match=r"strides \(6, 2\) are not whole float32 elements"):
        dlpack_capsule(0, (2, 2), np.float32, (6, 2), (KDL_CPU, 0), None)


class Owner:
    """What a DeviceView asks of its owner (an address, a size, a device): the views' own logic,
    run here without allocating device memory."""

    nbytes, device_pointer, device = 4096, 0x7F0000000000, 1


def test_a_device_view_describes_its_memory() -> None:
    view = DeviceView(Owner(), (10, 100, 3), np.uint8, (320, 3, 1))
    assert view.__cuda_array_interface__ == {
        "shape": (10, 100, 3),
        "typestr": "|u1",
        "data": (0x7F0000000000, False),
        "strides": (320, 3, 1),
        "version": 3,
    }
    assert view.nbytes == 9 * 320 + 99 * 3 + 2 + 1
    assert view.__dlpack_device__() == (KDL_CUDA, 1)
    with pytest.raises(UsageError, match=r"a \[13, 100, 3\] uint8 view needs 4140 bytes"):
        DeviceView(Owner(), (13, 100, 3), np.uint8, (320, 3, 1))
    with pytest.raises(BufferError):
        view.__dlpack__(copy=True)
    assert extent((0, 5), 4, None) == 0


@pytest.mark.gpu
def test_torch_takes_a_device_view() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("not run: torch has no CUDA")
    from facert.backends.cuda.pitched import PitchedBuffer

    with PitchedBuffer(4, 5) as buffer:
        view = buffer.frame_view()
        tensor = torch.from_dlpack(view)
        assert tensor.shape == (4, 5, 3) and tensor.stride() == (buffer.pitch, 3, 1)
        tensor.fill_(7)
        torch.cuda.synchronize()
        assert int(tensor.sum()) == 7 * 60
        del tensor
