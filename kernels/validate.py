"""The launchers' argument checks: pure functions over ``__cuda_array_interface__`` dicts.

A kernel trusts its arguments (a wrong pitch or count reads or writes out of bounds, silently or
as a lost device), so :class:`facert.kernels.launch.CudaKernels` checks every one here first and
fails in one line (:class:`facert.errors.UsageError`) saying what was expected and what came.
Nothing here touches a GPU: the tests pass objects that carry an interface dict.

Layouts (the contract of issue 11): a frame is (H, W, 3) uint8 BGR with rows ``pitch`` >= 3 W
bytes apart (strides ``(pitch, 3, 1)``, or None for pitch 3 W); network tensors are (N, 3, H, W)
C-contiguous float32 or float16 (``<f4``/``<f2``), aligned to their element size. The kernels index
with 32-bit ints, so every buffer they address stays under 2^31 bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from facert.errors import UsageError

_LIMIT = 2**31  # the kernels' int indexing
GRID_Z = 65535  # faces per launch (grid z)
_TYPES = {"<f4": False, "<f2": True, "=f4": False, "=f2": True}
_BYTES = {"|u1", "<u1", "=u1"}


@dataclass(frozen=True)
class FrameLayout:
    """A checked frame: its device address, size and row pitch in bytes."""

    pointer: int
    height: int
    width: int
    pitch: int


@dataclass(frozen=True)
class TensorLayout:
    """A checked (N, 3, H, W) tensor: its device address, shape and whether it is float16."""

    pointer: int
    shape: tuple[int, ...]
    half: bool


def array_interface(value: Any, name: str) -> dict[str, Any]:
    """``value.__cuda_array_interface__``; :class:`UsageError` when it has none, or a mask."""
    interface = getattr(value, "__cuda_array_interface__", None)
    if not isinstance(interface, dict) or "shape" not in interface or "data" not in interface:
        raise UsageError(
            f"{name}: expected device memory with __cuda_array_interface__ (a DeviceView, a "
            f"CUDA torch tensor, a CuPy array), got {type(value).__name__}"
        )
    if interface.get("mask") is not None:
        raise UsageError(f"{name}: masked arrays are not supported")
    return interface


def _pointer(interface: dict[str, Any], name: str, writable: bool, empty: bool = False) -> int:
    pointer, read_only = interface["data"]
    if not pointer and not empty:  # an empty array may have no memory
        raise UsageError(f"{name}: a null device pointer")
    if writable and read_only:
        raise UsageError(f"{name}: is read-only, the kernel writes it")
    return int(pointer)


def frame_layout(value: Any, name: str = "frame", *, writable: bool = False) -> FrameLayout:
    """The checked layout of a frame: (H, W, 3) uint8, strides None or (pitch, 3, 1), pitch >= 3W,
    H x pitch < 2^31 bytes."""
    interface = array_interface(value, name)
    shape, typestr = tuple(interface["shape"]), str(interface["typestr"])
    if len(shape) != 3 or shape[2] != 3 or min(shape) < 1 or typestr not in _BYTES:
        raise UsageError(
            f"{name}: expected an (H, W, 3) uint8 BGR frame, got shape {list(shape)} {typestr}"
        )
    height, width = int(shape[0]), int(shape[1])
    strides = interface.get("strides")
    pitch = 3 * width if strides is None else int(strides[0])
    if strides is not None and (tuple(strides[1:]) != (3, 1) or pitch < 3 * width):
        raise UsageError(
            f"{name}: expected strides (pitch, 3, 1) with pitch >= {3 * width} (3 x width), "
            f"got {tuple(strides)}"
        )
    if height * pitch >= _LIMIT:
        raise UsageError(f"{name}: {height} rows of {pitch} bytes exceed the kernels' 2 GiB")
    return FrameLayout(_pointer(interface, name, writable), height, width, pitch)


def tensor_layout(
    value: Any, name: str, shape: tuple[int, ...], *, writable: bool = False
) -> TensorLayout:
    """The checked layout of an (N, 3, H, W) tensor that must have exactly ``shape``: float32 or
    float16, C-contiguous, aligned to its element size, under 2^31 bytes."""
    interface = array_interface(value, name)
    found, typestr = tuple(int(d) for d in interface["shape"]), str(interface["typestr"])
    if found != tuple(shape):
        raise UsageError(f"{name}: expected shape {list(shape)}, got {list(found)}")
    if typestr not in _TYPES:
        raise UsageError(f"{name}: expected float32 (<f4) or float16 (<f2), got {typestr}")
    half = _TYPES[typestr]
    itemsize = 2 if half else 4
    strides = interface.get("strides")
    contiguous = tuple(itemsize * math.prod(found[i + 1 :]) for i in range(len(found)))
    if strides is not None and tuple(strides) != contiguous and math.prod(found) > 1:
        raise UsageError(
            f"{name}: expected a C-contiguous tensor (strides {contiguous}), got {tuple(strides)}"
        )
    if math.prod(found) * itemsize >= _LIMIT:
        raise UsageError(f"{name}: {list(found)} exceeds the kernels' 2 GiB")
    pointer = _pointer(interface, name, writable, empty=math.prod(found) == 0)
    if pointer % itemsize:
        raise UsageError(f"{name}: address {pointer:#x} is not {itemsize}-byte aligned")
    return TensorLayout(pointer, found, half)


def check_rows(array: Any, name: str, columns: int, count: int | None = None) -> int:
    """The row count of a plan's (N, ``columns``) array; :class:`UsageError` when it has another
    shape, more than :data:`GRID_Z` rows, or not ``count`` rows."""
    shape = tuple(getattr(array, "shape", ()))
    if len(shape) != 2 or shape[1] != columns:
        raise UsageError(f"plan.{name}: expected (N, {columns}), got {list(shape)}")
    rows = int(shape[0])
    if count is not None and rows != count:
        raise UsageError(f"plan.{name}: {rows} rows for {count} faces")
    if rows > GRID_Z:
        raise UsageError(f"plan.{name}: {rows} faces, at most {GRID_Z} per launch")
    return rows


def check_tiles(tiles: Any, frame: FrameLayout, tile: int) -> int:
    """The count of a blend plan's (M, 2) int32 tile origins, each a multiple of ``tile`` inside
    the frame (the kernel's grid is one block per tile)."""
    rows = check_rows_int(tiles, "tiles")
    if rows:
        xs, ys = tiles[:, 0], tiles[:, 1]
        if (
            int(xs.min()) < 0
            or int(ys.min()) < 0
            or int(xs.max()) >= frame.width
            or int(ys.max()) >= frame.height
            or bool((tiles % tile).any())
        ):
            raise UsageError(
                f"plan.tiles: origins must be multiples of {tile} inside the "
                f"{frame.width}x{frame.height} frame; was the plan made for another frame size?"
            )
    return rows


def check_rows_int(tiles: Any, name: str) -> int:
    shape = tuple(getattr(tiles, "shape", ()))
    if len(shape) != 2 or shape[1] != 2 or str(getattr(tiles, "dtype", "")) != "int32":
        raise UsageError(f"plan.{name}: expected (M, 2) int32, got {list(shape)}")
    return int(shape[0])
