"""The device-binding protocol, and an adapter that offers it over an engine that runs on host arrays.

A GPU engine (:class:`facert.backends.trt.TrtEngine`, the torch backend's ``TorchEngine``) offers

    bind_inputs(shapes) -> {name: view}   # views of its OWN input buffers at these shapes
    run_bound(stream) -> {name: view}      # run on what they hold; outputs valid until its next run

so that kernels write straight into its inputs and read straight from its outputs.
:class:`HostBound` gives any :class:`facert.backends.base.Engine` (ONNX Runtime on the CPU) that
protocol over a :class:`facert.pipeline.device_ops.DeviceOps`: its inputs are the ops' buffers,
and a run downloads them, waits, runs the engine on the host and uploads the outputs. On
:class:`facert.pipeline.device_ops.HostOps` those transfers are plain copies: the CPU tests run the
GPU pipeline with real ONNX Runtime engines this way; on a GPU it is the detector's fallback when
no GPU engine runs MTCNN (correct, not fast: each run waits for the stream).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from facert.backends.base import Engine, Lifecycle, TensorInfo
from facert.errors import UsageError
from facert.pipeline.device_ops import DeviceOps


class BoundEngine(Protocol):
    """An engine with the device-binding protocol (and the Engine contract's open/close/inputs)."""

    @property
    def name(self) -> str: ...

    @property
    def inputs(self) -> dict[str, TensorInfo]: ...

    @property
    def outputs(self) -> dict[str, TensorInfo]: ...

    def open(self) -> Any: ...

    def close(self) -> None: ...

    def bind_inputs(self, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, Any]: ...

    def run_bound(self, stream: Any) -> dict[str, Any]: ...


def check_bindable(engine: Any) -> None:
    """:class:`UsageError` naming the engine unless it offers the device-binding protocol."""
    if not (
        callable(getattr(engine, "bind_inputs", None))
        and callable(getattr(engine, "run_bound", None))
    ):
        raise UsageError(f"{engine!r} cannot run on device buffers (no bind_inputs/run_bound)")


class HostBound(Lifecycle):
    """``engine`` (runs on host arrays; owned: opened and closed with this) behind the
    device-binding protocol over ``ops`` (not owned). ``label`` names its workspaces in ``ops``."""

    def __init__(self, engine: Engine, ops: DeviceOps, label: str) -> None:
        self.engine = engine
        self.ops = ops
        self.label = label
        self._bound: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"HostBound({self.engine.name})"

    @property
    def name(self) -> str:
        return self.engine.name

    @property
    def inputs(self) -> dict[str, TensorInfo]:
        return self.engine.inputs

    @property
    def outputs(self) -> dict[str, TensorInfo]:
        return self.engine.outputs

    def _acquire(self) -> None:
        self.engine.open()

    def _release(self) -> None:
        self._bound = {}
        self.engine.close()

    def bind_inputs(self, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, Any]:
        """Buffers of the ops for every input at ``shapes`` (each input's dtype)."""
        self._require_open()
        inputs = self.engine.inputs
        if set(shapes) != set(inputs):
            raise UsageError(f"{self.name}: inputs expected {sorted(inputs)}, got {sorted(shapes)}")
        self._bound = {
            name: self.ops.buffer(f"{self.label}.in.{name}", tuple(shape), _dtype(inputs[name]))
            for name, shape in shapes.items()
        }
        return dict(self._bound)

    def run_bound(self, stream: Any) -> dict[str, Any]:
        """Run on the bound inputs (waits for the stream first); outputs in the ops' buffers."""
        self._require_open()
        if not self._bound:
            raise UsageError(f"{self.name}: bind_inputs before run_bound")
        feed = {}
        for name, view in self._bound.items():
            info = self.engine.inputs[name]
            host = self.ops.host(f"{self.label}.in.{name}", tuple(view.shape), _dtype(info))
            self.ops.download(host, view)
            feed[name] = host
        self.ops.synchronize()
        results = self.engine.run(feed)
        outputs = {}
        for name, array in results.items():
            view = self.ops.buffer(f"{self.label}.out.{name}", array.shape, array.dtype)
            self.ops.upload(view, np.ascontiguousarray(array))
            outputs[name] = view
        return outputs


def _dtype(info: TensorInfo) -> np.dtype[Any]:
    return np.dtype(np.float32 if info.dtype is None else info.dtype)
