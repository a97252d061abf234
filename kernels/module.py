"""A loaded CUDA module of facert's kernels, and kernel launches with ctypes-packed arguments.

:class:`KernelModule` loads a cubin or fatbin (:class:`facert.kernels.fatbin.KernelImage`) into the
device's primary context (the one the runtime API, TensorRT and PyTorch share) with the driver
API's ``cuModuleLoadData``, looks its entry points up once, and launches them with
``cuLaunchKernel`` on a stream. The arguments are packed by :func:`pack_arguments`, a pure function
(tested on the CPU): ``cuLaunchKernel`` takes an array of pointers, one per kernel parameter, each
to the parameter's value laid out as the kernel declares it.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from facert.backends.base import Lifecycle
from facert.backends.cuda.bindings import call, cuda_driver, cuda_runtime, driver_call, set_device
from facert.backends.cuda.memory import stream_handle
from facert.errors import UsageError

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
Dim3 = tuple[int, int, int]


@dataclass(frozen=True)
class Pointer:
    """A device address passed to a kernel's pointer parameter (``float*``): 8 bytes."""

    address: int


def kernel_argument(value: Any) -> ctypes._SimpleCData[Any]:
    """The ctypes value of one kernel argument: a :class:`Pointer` or an object with
    ``__cuda_array_interface__`` -> ``c_void_p`` (its data pointer); ``int`` / ``bool`` /
    NumPy integer -> ``c_int`` (32-bit, range checked); ``float`` / NumPy floating -> ``c_float``.
    Anything else: :class:`UsageError` (a kernel's parameter types are fixed)."""
    if isinstance(value, Pointer):
        return ctypes.c_void_p(value.address)
    interface = getattr(value, "__cuda_array_interface__", None)
    if isinstance(interface, dict):
        return ctypes.c_void_p(int(interface["data"][0]))
    if isinstance(value, (bool, int, np.integer)):
        number = int(value)
        if not _INT_MIN <= number <= _INT_MAX:
            raise UsageError(f"kernel argument {number} does not fit a 32-bit int")
        return ctypes.c_int(number)
    if isinstance(value, (float, np.floating)):
        return ctypes.c_float(float(value))
    raise UsageError(
        f"a kernel argument is a Pointer, a device array, an int or a float, not {type(value).__name__}"
    )


@dataclass(frozen=True)
class PackedArguments:
    """The values of the arguments (ctypes objects) and the array of their addresses that
    ``cuLaunchKernel`` takes (``kernelParams``); keep this object until the launch returns."""

    values: tuple[ctypes._SimpleCData[Any], ...]
    addresses: ctypes.Array[ctypes.c_void_p]

    @property
    def address(self) -> int:
        """The ``void**`` for ``cuLaunchKernel``."""
        return ctypes.addressof(self.addresses)


def pack_arguments(args: Sequence[Any]) -> PackedArguments:
    """The kernel parameter array of ``args``, each converted by :func:`kernel_argument`."""
    values = tuple(kernel_argument(value) for value in args)
    addresses = (ctypes.c_void_p * max(len(values), 1))(*(ctypes.addressof(v) for v in values))
    return PackedArguments(values, addresses)


def check_launch(name: str, grid: Dim3, block: Dim3) -> None:
    """A launch shape CUDA takes: 3 positive numbers each, grid y/z <= 65535, <= 1024 threads per
    block; :class:`UsageError` in one line naming the kernel otherwise."""
    if len(grid) != 3 or len(block) != 3 or min(*grid, *block) < 1:
        raise UsageError(f"{name}: grid {grid} and block {block} need 3 positive sizes each")
    if grid[0] > _INT_MAX or max(grid[1], grid[2]) > 65535:
        raise UsageError(f"{name}: grid {grid} exceeds CUDA's limits (2^31-1, 65535, 65535)")
    if block[0] * block[1] * block[2] > 1024 or block[2] > 64:
        raise UsageError(f"{name}: block {block} exceeds 1024 threads (or 64 in z)")


class KernelModule(Lifecycle):
    """The kernels ``names`` of ``image`` (cubin or fatbin bytes) on GPU ``device``: loaded by
    :meth:`open` (after the driver check), unloaded by :meth:`close`."""

    def __init__(self, image: bytes, names: Sequence[str], device: int = 0) -> None:
        self.image = image
        self.names = tuple(names)
        self.device = device
        self._module: Any = None
        self._functions: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"KernelModule({len(self.image)} bytes, {len(self.names)} kernels, device={self.device})"

    def _acquire(self) -> None:
        set_device(self.device)  # the driver check, then the primary context
        call("cudaFree(0)", cuda_runtime().cudaFree(0))  # makes the primary context current
        driver = cuda_driver()
        module = driver_call("cuModuleLoadData", driver.cuModuleLoadData(self.image))
        try:
            self._functions = {
                name: driver_call(
                    f"cuModuleGetFunction({name})",
                    driver.cuModuleGetFunction(module, name.encode()),
                )
                for name in self.names
            }
        except BaseException:
            driver.cuModuleUnload(module)
            raise
        self._module = module

    def _release(self) -> None:
        module, self._module, self._functions = self._module, None, {}
        set_device(self.device)
        driver_call("cuModuleUnload", cuda_driver().cuModuleUnload(module))

    def launch(
        self, name: str, grid: Dim3, block: Dim3, args: Sequence[Any], stream: Any, shared: int = 0
    ) -> None:
        """Queue kernel ``name`` on ``stream`` (anything :func:`stream_handle` takes) over
        ``grid`` x ``block`` threads with ``args`` (packed by :func:`pack_arguments`)."""
        self._require_open()
        function = self._functions.get(name)
        if function is None:
            raise UsageError(f"no kernel {name!r} in this module; it has {', '.join(self.names)}")
        check_launch(name, grid, block)
        packed = pack_arguments(args)
        driver = cuda_driver()
        driver_call(
            f"cuLaunchKernel({name})",
            driver.cuLaunchKernel(
                function, *grid, *block, shared, stream_handle(stream), packed.address, 0
            ),
        )
