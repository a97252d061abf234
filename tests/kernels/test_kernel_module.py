"""Kernel arguments packed as cuLaunchKernel reads them (checked here by reading the packed memory
back through the addresses), launch shapes, and on a GPU a real module load and launch."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest
from tiny_kernels import tiny_sources

from facert.errors import UnsupportedError, UsageError
from facert.kernels.module import KernelModule, Pointer, check_launch, pack_arguments


class DeviceArray:
    """Device memory as a consumer sees it: only an array interface."""

    def __init__(self, pointer: int) -> None:
        self.__cuda_array_interface__ = {
            "shape": (4,),
            "typestr": "<f4",
            "data": (pointer, False),
            "version": 3,
        }


def read(address: int, kind: type) -> object:
    return ctypes.cast(ctypes.c_void_p(address), ctypes.POINTER(kind)).contents.value


def test_each_argument_is_packed_as_the_kernel_declares_it() -> None:
    args = (
        Pointer(0x7F0000001000),
        DeviceArray(0x7F0000002000),
        1920,
        True,
        0.5,
        np.float32(2.25),
        np.int64(-3),
    )
    packed = pack_arguments(args)
    addresses = [packed.addresses[i] for i in range(len(args))]
    assert ctypes.addressof(packed.addresses) == packed.address
    assert read(addresses[0], ctypes.c_uint64) == 0x7F0000001000  # 8-byte pointers
    assert read(addresses[1], ctypes.c_uint64) == 0x7F0000002000
    assert read(addresses[2], ctypes.c_int) == 1920  # 4-byte ints
    assert read(addresses[3], ctypes.c_int) == 1
    assert read(addresses[4], ctypes.c_float) == 0.5  # 4-byte floats (exact: representable)
    assert read(addresses[5], ctypes.c_float) == 2.25
    assert read(addresses[6], ctypes.c_int) == -3
    assert [ctypes.sizeof(v) for v in packed.values] == [8, 8, 4, 4, 4, 4, 4]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (2**31, "kernel argument 2147483648 does not fit a 32-bit int"),
        ("frame", "a kernel argument is a Pointer, a device array, an int or a float, not str"),
        (np.zeros(3), "not ndarray"),  # host memory is not a device pointer
    ],
)
def test_arguments_a_kernel_cannot_take_are_refused(value: object, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        pack_arguments([value])


@pytest.mark.parametrize(
    ("grid", "block", "message"),
    [
        ((1, 1, 0), (16, 16, 1), "need 3 positive sizes each"),
        ((1, 1, 70000), (16, 16, 1), "exceeds CUDA's limits"),
        ((1, 1, 1), (64, 32, 1), "exceeds 1024 threads"),
    ],
)
def test_launch_shapes_cuda_refuses_are_caught_first(
    grid: tuple, block: tuple, message: str
) -> None:
    with pytest.raises(UsageError, match=f"^tiny: .*{message}"):
        check_launch("tiny", grid, block)
    check_launch("tiny", (120, 68, 65535), (16, 16, 1))  # the largest legal shapes pass


def test_a_module_is_cheap_until_opened() -> None:
    module = KernelModule(b"", ["tiny_axpy"])
    module.close()
    with pytest.raises(RuntimeError, match="is not open"):
        module.launch("tiny_axpy", (1, 1, 1), (1, 1, 1), [], None)


def test_without_a_gpu_loading_is_one_line() -> None:
    from facert.backends.cuda import driver_status

    if driver_status().present:
        pytest.skip("a GPU is present")
    with pytest.raises(UnsupportedError, match="needs an NVIDIA GPU: no NVIDIA driver"):
        KernelModule(b"\x7fELF", ["tiny_axpy"]).open()


@pytest.mark.gpu
def test_a_tiny_kernel_runs_on_the_gpu(tmp_path: Path) -> None:
    from facert.backends.cuda import driver_status
    from facert.backends.cuda.memory import DeviceBuffer, PinnedBuffer, Stream, copy_async
    from facert.errors import MissingDependencyError
    from facert.kernels.compile import arch_of, compile_cubin, nvrtc_module

    try:
        nvrtc_module()
    except MissingDependencyError as exc:
        pytest.skip(f"not run: {exc}")
    cubin = compile_cubin(arch_of(str(driver_status().compute_capability)), tiny_sources(tmp_path))
    n = 1000
    x = np.arange(n, dtype=np.float32)
    with (
        KernelModule(cubin, ["tiny_axpy", "tiny_scale"]) as module,
        Stream() as stream,
        PinnedBuffer(2 * x.nbytes) as pinned,
        DeviceBuffer(x.nbytes) as dx,
        DeviceBuffer(x.nbytes) as dy,
    ):
        host = pinned.array((2, n), np.float32)
        host[0], host[1] = x, 1.0
        copy_async(dx.pointer, pinned.pointer, x.nbytes, stream)
        copy_async(dy.pointer, pinned.pointer + x.nbytes, x.nbytes, stream)
        blocks = (-(-n // 256), 1, 1)
        module.launch(
            "tiny_axpy",
            blocks,
            (256, 1, 1),
            [dy.view((n,), np.float32), dx.view((n,), np.float32), 2.0, n],
            stream,
        )
        module.launch("tiny_scale", blocks, (256, 1, 1), [Pointer(dy.pointer), 0.5, n], stream)
        copy_async(pinned.pointer, dy.pointer, x.nbytes, stream)
        stream.synchronize()
        # exact: small integers and halves are exact in float32
        np.testing.assert_array_equal(host[0], (2.0 * x + 1.0) * 0.5)
        with pytest.raises(UsageError, match="no kernel 'tiny_missing'"):
            module.launch("tiny_missing", (1, 1, 1), (1, 1, 1), [], stream)
    assert not module.is_open
