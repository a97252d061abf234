"""A TensorRT engine's I/O tensors: names, dtypes, profile shapes, and the memory each one owns.

:func:`describe` reads them from a deserialized engine (optimization profile 0): each input's
(min, max) shapes from the profile, each output's largest shape by setting every input to its
maximum. :class:`IoTensor` then owns one device buffer and one page-locked staging buffer of that
largest size. :func:`device_feed` checks a feed of device buffers at the boundary.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facert.backends.base import TensorInfo, check_input, check_names
from facert.errors import FacertError, UnsupportedError, UsageError

# TensorRT DataType names -> numpy; the others (BF16, FP8, INT4...) have no numpy equivalent.
NUMPY_TYPES = {
    "FLOAT": np.float32,
    "HALF": np.float16,
    "INT8": np.int8,
    "INT32": np.int32,
    "INT64": np.int64,
    "BOOL": np.bool_,
    "UINT8": np.uint8,
}


@dataclass
class IoTensor:
    """One input or output: its engine shape (-1 where dynamic), the profile's smallest and
    largest shapes (an output: largest only), and once allocated its device and pinned buffers."""

    name: str
    is_input: bool
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    min_shape: tuple[int, ...]
    max_shape: tuple[int, ...]
    device: Any = field(default=None, repr=False)  # cuda.memory.DeviceBuffer
    pinned: Any = field(default=None, repr=False)  # cuda.memory.PinnedBuffer

    @property
    def info(self) -> TensorInfo:
        return TensorInfo(tuple(None if d < 0 else d for d in self.shape), self.dtype)

    @property
    def max_bytes(self) -> int:
        return math.prod(self.max_shape) * self.dtype.itemsize

    def allocate(self, device: int) -> list[Any]:
        """Open the device and pinned buffers for the largest shape; returns them (to close)."""
        from facert.backends.base import open_all
        from facert.backends.cuda.memory import DeviceBuffer, PinnedBuffer

        self.device = DeviceBuffer(self.max_bytes, device)
        self.pinned = PinnedBuffer(self.max_bytes, device)
        open_all([self.device, self.pinned])
        return [self.device, self.pinned]

    def check_shape(self, shape: tuple[int, ...], path: Path) -> None:
        """:class:`UsageError` unless ``shape`` lies within the profile, dimension by dimension."""
        if len(shape) != len(self.min_shape) or any(
            not lo <= d <= hi
            for d, lo, hi in zip(shape, self.min_shape, self.max_shape, strict=True)
        ):
            raise UsageError(
                f"{path}: input {self.name!r} has shape {list(shape)}, the plan's profile allows "
                f"{list(self.min_shape)} to {list(self.max_shape)} (rebuild it with a larger "
                "--max-batch for more faces at once)"
            )


def _numpy_type(module: Any, engine: Any, name: str, path: Path) -> np.dtype[Any]:
    trt_type = engine.get_tensor_dtype(name)
    numpy_type = NUMPY_TYPES.get(trt_type.name)
    if numpy_type is None:
        raise UnsupportedError(
            f"tensor {name!r} is {trt_type.name}, which numpy cannot hold", path=str(path)
        )
    return np.dtype(numpy_type)


def describe(module: Any, engine: Any, context: Any, path: Path) -> dict[str, IoTensor]:
    """Every I/O tensor of ``engine`` in its order; leaves every input of ``context`` at its
    largest shape."""
    tensors: dict[str, IoTensor] = {}
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    for name in names:
        if engine.get_tensor_mode(name) != module.TensorIOMode.INPUT:
            continue
        if engine.is_shape_inference_io(name):
            raise UnsupportedError(
                f"input {name!r} is a shape tensor: not supported", path=str(path)
            )
        low, _, high = (tuple(d) for d in engine.get_tensor_profile_shape(name, 0))
        shape = tuple(engine.get_tensor_shape(name))
        tensors[name] = IoTensor(
            name, True, _numpy_type(module, engine, name, path), shape, low, high
        )
        context.set_input_shape(name, high)
    for name in names:
        if name in tensors:
            continue
        high = tuple(context.get_tensor_shape(name))
        if any(d < 0 for d in high):
            raise UnsupportedError(
                f"output {name!r} has a data-dependent shape: not supported", path=str(path)
            )
        shape = tuple(engine.get_tensor_shape(name))
        tensors[name] = IoTensor(
            name, False, _numpy_type(module, engine, name, path), shape, high, high
        )
    return {name: tensors[name] for name in names}


def _c_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    strides, step = [], itemsize
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return tuple(reversed(strides))


def device_feed(
    label: str, inputs: Mapping[str, TensorInfo], feed: Mapping[str, Any]
) -> dict[str, tuple[int, tuple[int, ...]]]:
    """{name: (device pointer, shape)} of a feed of ``__cuda_array_interface__`` objects, checked
    by :func:`facert.backends.base.check_feed`'s checks (exactly ``inputs``, each in its dtype and
    fixed dimensions), and C-contiguous. Raises :class:`FacertError` naming ``label``."""
    check_names(label, inputs, feed)
    arrays = {}
    for name, item in feed.items():
        interface = getattr(item, "__cuda_array_interface__", None)
        if not isinstance(interface, dict):
            raise FacertError(
                f"{label}: input {name!r} must be a device buffer (__cuda_array_interface__), "
                f"got {type(item).__name__}"
            )
        shape = tuple(int(d) for d in interface["shape"])
        dtype = np.dtype(interface["typestr"])
        check_input(label, name, inputs[name], dtype, shape)
        strides = interface.get("strides")
        contiguous = _c_strides(shape, dtype.itemsize)
        if strides is not None and 0 not in shape and tuple(strides) != contiguous:
            raise FacertError(
                f"{label}: input {name!r} must be C-contiguous, got strides {list(strides)}"
            )
        arrays[name] = (int(interface["data"][0]), shape)
    return arrays


def bind_shapes(
    label: str, tensors: Mapping[str, IoTensor], shapes: Mapping[str, tuple[int, ...]]
) -> dict[str, tuple[int, ...]]:
    """``shapes`` for the device-binding protocol (``TrtEngine.bind_inputs``), checked before
    anything is set: exactly the engine's inputs by name, each within the plan's profile
    (:meth:`IoTensor.check_shape`). Raises :class:`FacertError` naming ``label``."""
    inputs = {name: tensor.info for name, tensor in tensors.items() if tensor.is_input}
    check_names(label, inputs, shapes)
    checked = {}
    for name, shape in shapes.items():
        shape = tuple(int(d) for d in shape)
        check_input(label, name, inputs[name], tensors[name].dtype, shape)
        tensors[name].check_shape(shape, Path(label))
        checked[name] = shape
    return checked
