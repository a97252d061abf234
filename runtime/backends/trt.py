"""TensorRT engines (both flavours, :mod:`facert.backends.trt_plan`) behind the Engine contract.

:meth:`TrtEngine.open` checks for a driver first (:func:`facert.backends.cuda.require_gpu`: without
one, some TensorRT versions crash the process in their runtime constructor, so none is ever built
then), refuses a plan built for another flavour, version or compute capability (the manifest's facts
before reading the plan; TensorRT for RTX's ``get_engine_validity`` after), deserializes it and
takes, once, everything a run needs: one device buffer per I/O tensor sized for the optimization
profile's largest shapes and bound with ``set_tensor_address``, one page-locked staging buffer per
tensor, a stream. A run sets each input's shape (``set_input_shape``), copies, and queues
``execute_async_v3`` on the stream; with ``cuda_graphs`` the execution is captured once per set of
input shapes and replayed. One run at a time: the buffers are the engine's.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from facert.backends.base import HostEngine, TensorInfo, check_feed
from facert.backends.trt_plan import (
    PlanFacts,
    get_flavour,
    import_flavour,
    invalidity_reasons,
    plan_refusal,
    rebuild_command,
)
from facert.backends.trt_tensors import IoTensor, bind_shapes, describe, device_feed
from facert.errors import ArtifactError, DeviceError, UsageError
from facert.io.files import write_atomic

log = logging.getLogger(__name__)


def tensorrt_logger(module: Any) -> Any:
    """A TensorRT logger (of the flavour ``module``) that forwards to :mod:`logging` and keeps the
    first line of each error in ``errors``, for one-line messages; the runtime's and the builder's."""

    class Logger(module.ILogger):  # the class comes from the lazy import
        def __init__(self) -> None:
            module.ILogger.__init__(self)
            self.errors: list[str] = []

        def log(self, severity: Any, message: str) -> None:
            if severity in (module.ILogger.INTERNAL_ERROR, module.ILogger.ERROR):
                self.errors.append(message.strip().splitlines()[0] if message.strip() else "")
                log.debug("TensorRT: %s", message)
            elif severity == module.ILogger.WARNING:
                log.debug("TensorRT warning: %s", message)

    return Logger()


class TrtEngine(HostEngine):
    """One TensorRT plan on GPU ``device``. ``flavour``: ``tensorrt-rtx`` or ``tensorrt``;
    ``expected``: the facts the plan's manifest records, checked before the plan is read;
    ``cuda_graphs``: replay each batch size's execution as a CUDA graph; ``runtime_cache``: the
    file TensorRT for RTX keeps its just-in-time compiled kernels in (read when it matches this GPU
    and version, written back on close), so only the first run of a plan on a GPU compiles."""

    def __init__(
        self,
        plan: Path,
        *,
        flavour: str = "tensorrt-rtx",
        cuda_graphs: bool = False,
        device: int = 0,
        expected: PlanFacts | None = None,
        runtime_cache: Path | None = None,
    ) -> None:
        self.path = Path(plan)
        self.runtime_cache = runtime_cache
        self.flavour = get_flavour(flavour)
        self.cuda_graphs = cuda_graphs
        self.device = device
        self.expected = expected
        self._trt: dict[str, Any] = {}
        self._tensors: dict[str, IoTensor] = {}
        self._owned: list[Any] = []  # resources opened in _acquire, released in reverse
        self._stream: Any = None
        self._graphs: dict[tuple[tuple[int, ...], ...], Any] = {}
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._bound: dict[str, tuple[int, ...]] | None = None  # output shapes once bound
        self._inputs: dict[str, TensorInfo] = {}
        self._outputs: dict[str, TensorInfo] = {}

    def __repr__(self) -> str:
        return f"TrtEngine({self.path}, {self.flavour.name})"

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def profiles(self) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
        """Each input's (smallest, largest) shape in the plan's optimization profile: the batch
        sizes (and, for a detector's P-Net, the image sizes) a run may use."""
        self._require_open()
        return {t.name: (t.min_shape, t.max_shape) for t in self._tensors.values() if t.is_input}

    def _refuse(self, reason: str) -> ArtifactError:
        return ArtifactError(reason, path=str(self.path))

    def _load(self) -> tuple[Any, Any, Any, Any]:
        """Driver check, refusals, then (module, logger, runtime, engine)."""
        from facert.backends.cuda import require_gpu
        from facert.backends.cuda.bindings import set_device

        status = require_gpu(self.device, purpose=f"the trt backend ({self.flavour.label})")
        module = import_flavour(self.flavour)
        facts = self.expected or PlanFacts(self.flavour.name, str(module.__version__))
        refusal = plan_refusal(
            facts, self.flavour, str(module.__version__), str(status.compute_capability)
        )
        if refusal:
            raise self._refuse(refusal)
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise self._refuse(f"cannot read the plan ({exc.strerror or exc})") from None
        set_device(self.device)
        logger = tensorrt_logger(module)
        runtime = module.Runtime(logger)
        if self.flavour.has_engine_validity:
            self._check_validity(module, runtime, data, facts)
        engine = runtime.deserialize_cuda_engine(data)
        if engine is None:
            detail = logger.errors[-1] if logger.errors else "no reason given"
            raise self._refuse(
                f"{self.flavour.label} {module.__version__} cannot load the plan ({detail}); "
                f"rebuild it: `{rebuild_command(facts.model, self.flavour.name)}`"
            )
        return module, logger, runtime, engine

    def _check_validity(self, module: Any, runtime: Any, data: bytes, facts: PlanFacts) -> None:
        validity, diagnostics = runtime.get_engine_validity(data)
        if validity == module.EngineValidity.INVALID:
            names = {k: int(v) for k, v in module.EngineInvalidityDiagnostics.__members__.items()}
            reasons = ", ".join(invalidity_reasons(int(diagnostics), names)) or "no reason given"
            raise self._refuse(
                f"{self.flavour.label} {module.__version__} cannot run this plan here ({reasons}): "
                f"rebuild it: `{rebuild_command(facts.model, self.flavour.name)}`"
            )
        if validity == module.EngineValidity.SUBOPTIMAL:
            log.warning(
                "%s: the plan runs here but not at its best; consider rebuilding", self.path
            )

    def _acquire(self) -> None:
        from facert.backends.cuda.memory import Stream

        module, logger, runtime, engine = self._load()
        context, runtime_cache = self._context(engine)
        if context is None:
            raise DeviceError(f"{self.path}: TensorRT cannot create an execution context")
        # The logger outlives the runtime that calls it; the context goes before its engine.
        self._trt = {"module": module, "logger": logger, "runtime": runtime, "engine": engine}
        self._trt["context"] = context
        if runtime_cache is not None:
            self._trt["runtime_cache"] = runtime_cache
        try:
            self._tensors = describe(module, engine, context, self.path)
            self._stream = Stream(self.device).open()
            self._owned = [self._stream]
            for tensor in self._tensors.values():
                self._owned += tensor.allocate(self.device)
                if not context.set_tensor_address(tensor.name, tensor.device.pointer):
                    raise DeviceError(f"{self.path}: cannot bind tensor {tensor.name!r}")
        except BaseException:
            self._release()
            raise
        self._inputs = {t.name: t.info for t in self._tensors.values() if t.is_input}
        self._outputs = {t.name: t.info for t in self._tensors.values() if not t.is_input}

    def _context(self, engine: Any) -> tuple[Any, Any]:
        """An execution context, and its (runtime config, runtime cache) where the flavour has
        one and a cache file was asked for (None otherwise)."""
        if self.runtime_cache is None or not self.flavour.has_runtime_cache:
            return engine.create_execution_context(), None
        config = engine.create_runtime_config()
        cache = config.create_runtime_cache()
        if self.runtime_cache.is_file() and not cache.deserialize(self.runtime_cache.read_bytes()):
            log.info("%s: runtime cache made elsewhere; compiling afresh", self.runtime_cache)
        config.set_runtime_cache(cache)
        return engine.create_execution_context(config), (config, cache)

    def _save_runtime_cache(self) -> None:
        held = self._trt.get("runtime_cache")
        if held is None or self.runtime_cache is None:
            return
        data = bytes(memoryview(held[1].serialize()))
        try:
            write_atomic(self.runtime_cache, lambda tmp: tmp.write_bytes(data))
        except OSError as exc:  # a read-only cache folder costs the next run its compile only
            log.warning("%s: runtime cache not saved (%s)", self.runtime_cache, exc)

    def _release(self) -> None:
        self._save_runtime_cache()
        for graph in self._graphs.values():
            graph.close()
        for resource in reversed(self._owned):
            resource.close()
        self._graphs, self._owned, self._tensors, self._shapes = {}, [], {}, {}
        self._bound = None
        self._stream = None
        for key in ("context", "runtime_cache", "engine", "runtime", "logger"):  # TensorRT's order
            self._trt.pop(key, None)
        self._trt = {}

    def _set_shapes(self, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
        """Set each input's shape (checked against the profile); every output's shape."""
        context = self._trt["context"]
        for name, shape in shapes.items():
            self._tensors[name].check_shape(shape, self.path)
            if self._shapes.get(name) != shape:
                if not context.set_input_shape(name, shape):
                    raise UsageError(
                        f"{self.path}: TensorRT refused shape {list(shape)} for {name!r}"
                    )
                self._shapes[name] = shape
        return {name: tuple(context.get_tensor_shape(name)) for name in self._outputs}

    def _make_current(self) -> None:
        """Make the engine's GPU current on this thread (a new thread starts on GPU 0)."""
        if self.device:
            from facert.backends.cuda.bindings import set_device

            set_device(self.device)

    def _enqueue(self, handle: int) -> None:
        if not self._trt["context"].execute_async_v3(handle):
            raise DeviceError(f"{self.path}: TensorRT execute_async_v3 failed")

    def _execute(self, handle: int) -> None:
        """Queue the engine's work on stream ``handle``: directly, or through the CUDA graph of the
        current input shapes (captured on first use, after one plain run TensorRT needs first)."""
        if not self.cuda_graphs:
            self._enqueue(handle)
            return
        from facert.backends.cuda.graph import CudaGraph
        from facert.backends.cuda.memory import synchronize

        key = tuple(self._shapes[name] for name in self._inputs)
        graph = self._graphs.get(key)
        if graph is None:
            synchronize(handle)
            self._enqueue(self._stream.handle)
            self._stream.synchronize()
            graph = CudaGraph(self._enqueue, self._stream).open()
            self._graphs[key] = graph
        graph.launch(handle)

    def run(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run on host arrays (every input by name, in its dtype; a shape within the profile):
        staged through page-locked memory, on the engine's stream. Every output, as new arrays."""
        from facert.backends.cuda.memory import copy_async

        self._require_open()
        self._make_current()
        check_feed(self.path.name, self._inputs, feed)
        out_shapes = self._set_shapes({name: tuple(a.shape) for name, a in feed.items()})
        self._bound = None  # the context's shapes are this run's now
        stream = self._stream
        for name, array in feed.items():
            tensor = self._tensors[name]
            staged = tensor.pinned.array(array.shape, tensor.dtype)
            np.copyto(staged, array)
            copy_async(tensor.device.pointer, tensor.pinned.pointer, staged.nbytes, stream)
        self._execute(stream.handle)
        for name, shape in out_shapes.items():
            tensor = self._tensors[name]
            nbytes = math.prod(shape) * tensor.dtype.itemsize
            copy_async(tensor.pinned.pointer, tensor.device.pointer, nbytes, stream)
        stream.synchronize()
        return {
            name: self._tensors[name].pinned.array(shape, self._tensors[name].dtype).copy()
            for name, shape in out_shapes.items()
        }

    def run_device(self, feed: Mapping[str, Any], stream: Any = None) -> dict[str, Any]:
        """Run on device buffers (``__cuda_array_interface__`` objects by name, C-contiguous, each
        input's dtype, ready on ``stream``), queued on ``stream``; returns immediately. The inputs
        are copied into the engine's buffers first, so the caller's memory is free once ``stream``
        reaches this run. Outputs: :class:`facert.backends.cuda.memory.DeviceView` windows of the
        engine's buffers, valid until its next run. ``stream`` None: the engine's own stream,
        synchronized before returning."""
        from facert.backends.cuda.memory import copy_async, stream_handle

        self._require_open()
        self._make_current()
        arrays = device_feed(self.path.name, self._inputs, feed)
        out_shapes = self._set_shapes({name: shape for name, (_, shape) in arrays.items()})
        self._bound = None
        handle = self._stream.handle if stream is None else stream_handle(stream)
        for name, (pointer, shape) in arrays.items():
            tensor = self._tensors[name]
            nbytes = math.prod(shape) * tensor.dtype.itemsize
            copy_async(tensor.device.pointer, pointer, nbytes, handle)
        self._execute(handle)
        if stream is None:
            self._stream.synchronize()
        return {
            name: self._tensors[name].device.view(shape, self._tensors[name].dtype)
            for name, shape in out_shapes.items()
        }

    def bind_inputs(self, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, Any]:
        """The device-binding protocol: every input set to its shape in ``shapes`` (checked
        against the plan's profile, :func:`facert.backends.trt_tensors.bind_shapes`), and
        :class:`facert.backends.cuda.memory.DeviceView` windows of the engine's OWN input buffers
        at those shapes, for kernels to write into before :meth:`run_bound`."""
        self._require_open()
        self._make_current()
        checked = bind_shapes(self.path.name, self._tensors, shapes)
        self._bound = self._set_shapes(checked)
        return {
            name: self._tensors[name].device.view(shape, self._tensors[name].dtype)
            for name, shape in checked.items()
        }

    def run_bound(self, stream: Any = None) -> dict[str, Any]:
        """Run on what the bound inputs hold, queued on ``stream`` (None: the engine's own,
        synchronized before returning). Outputs: views of the engine's buffers, valid until its
        next run."""
        from facert.backends.cuda.memory import stream_handle

        self._require_open()
        if self._bound is None:
            raise UsageError(f"{self.path}: bind_inputs before run_bound")
        self._make_current()
        handle = self._stream.handle if stream is None else stream_handle(stream)
        self._execute(handle)
        if stream is None:
            self._stream.synchronize()
        return {
            name: self._tensors[name].device.view(shape, self._tensors[name].dtype)
            for name, shape in self._bound.items()
        }
