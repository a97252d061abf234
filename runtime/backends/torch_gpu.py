"""``--backend torch``: the export-form torch module of a restorer on an NVIDIA GPU, the reference
that runs wherever PyTorch has CUDA (no TensorRT, no onnxruntime-gpu needed). Never imported by the
CPU path; torch is imported when an engine opens (:func:`facert.backends.torch_forms.import_torch`).

:class:`TorchEngine` keeps the Engine contract (:mod:`facert.backends.base`) and the device-binding
protocol: it runs the module :func:`facert.backends.torch_forms.build_module` rebuilds from the
export's checkpoint (weight-free ISPL and WIPA from their builders), built in :meth:`open`, never in
a run. Its inputs and outputs are those of the export's graphs, float32 at every precision
(``image`` (N, 3, S, S), one (N,) input per graph-input option, ``restored``); the casts to and
from float16 happen inside the run.

- ``precision="fp16"`` (default): true float16 with the spec's pinned ops in float32, placed by the
  family's build as its precision policy says (:mod:`facert.export.precision.policy`); ``"fp32"``
  is everything in float32 (PyTorch's defaults: TF32 convolutions where the GPU has them).
- eval mode, no gradients, every run under ``torch.inference_mode()``.
- ``cuda_graphs=True`` (default): per set of input shapes, static input tensors and one
  ``torch.cuda.CUDAGraph`` captured on first use (after two warm-up runs on the engine's stream;
  every graph of the engine shares one memory pool, so an output is valid until the next run),
  replayed by each run.
- Streams: a run is queued on the stream it is given (:func:`facert.backends.cuda.memory.
  stream_handle` takes facert's :class:`~facert.backends.cuda.memory.Stream`, CuPy's, an int; a
  ``torch.cuda.Stream`` is used as it is, others through ``torch.cuda.ExternalStream``); None is
  the engine's own stream, synchronized before the run returns. One run at a time (the tensors
  are the engine's): a run on another stream than the previous run's waits for it on the GPU.

``device="cpu"`` exists for the tests only: float32, eager, no CUDA graphs, so the module, the
names and shapes and the binding protocol are checked on a machine without a GPU (bound inputs
and outputs are then numpy views of the engine's tensors, not device views).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facert.backends.base import HostEngine, TensorInfo, check_feed, check_input, check_names
from facert.backends.torch_forms import ModuleSource, build_module, import_torch, module_source
from facert.errors import DeviceError, FacertError, UsageError
from facert.models.artifacts import Artifact
from facert.models.check_faces import option_names

IMAGE, OUTPUT = "image", "restored"  # the export graphs' names (facert.export.harness.verify)
WARM_UP_RUNS = 2  # eager runs on the engine's stream before a capture (cuDNN picks, allocations)


@dataclass
class Binding:
    """The engine's tensors for one set of input shapes: its static inputs, its last output, and
    its CUDA graph once captured."""

    inputs: dict[str, Any]
    output: Any = None
    graph: Any = field(default=None, repr=False)


def torch_unavailable() -> str | None:
    """Why the torch backend cannot run on this machine's GPU (call after the driver check):
    torch missing or without CUDA, in one line; None when it can."""
    try:
        torch = import_torch()
    except FacertError as exc:
        return str(exc)
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else "it sees no CUDA device"
        return f"PyTorch {torch.__version__} has no CUDA ({build}; install a CUDA build of torch)"
    return None


def torch_engine(
    cache_dir: Path, export: Artifact, precision: str, weights: Path | None = None
) -> TorchEngine:
    """The TorchEngine (not opened) of ``export`` at ``precision`` on GPU 0, built from
    ``weights`` or the official checkpoint in ``cache_dir`` (checked against the export's)."""
    return TorchEngine(module_source(export, cache_dir, weights), precision=precision)


class TorchEngine(HostEngine):
    """The export-form module of ``source`` on ``device`` ("cuda": GPU ``device_index``; "cpu":
    tests only) at ``precision`` ("fp16", "fp32"), replaying CUDA graphs when ``cuda_graphs``."""

    def __init__(
        self,
        source: ModuleSource,
        *,
        precision: str = "fp16",
        device: str = "cuda",
        device_index: int = 0,
        cuda_graphs: bool = True,
    ) -> None:
        if precision not in ("fp16", "fp32"):
            raise UsageError(f"the torch backend runs fp16 or fp32, not {precision}")
        if device not in ("cuda", "cpu"):
            raise UsageError(f"the torch backend runs on cuda (or cpu for tests), not {device}")
        if device == "cpu" and precision != "fp32":
            raise UsageError("the torch backend's cpu device (for tests) runs fp32 only")
        if source.checkpoint is None and precision != "fp32":  # no FP16 graph either
            raise UsageError(f"{source.spec.name} is built in FP32 only: use --precision fp32")
        self.source = source
        self.precision = precision
        self.device = device
        self.device_index = device_index
        self.cuda_graphs = cuda_graphs and device == "cuda"
        self._torch: Any = None
        self._module: Any = None
        self._target: Any = None  # the torch.device
        self._stream: Any = None
        self._pool: Any = None
        self._bindings: dict[tuple[tuple[int, ...], ...], Binding] = {}
        self._bound: Binding | None = None
        self._last: Any = None  # the stream of the last run
        self._inputs: dict[str, TensorInfo] = {}
        self._outputs: dict[str, TensorInfo] = {}

    @classmethod
    def from_export(
        cls,
        export: Artifact,
        *,
        cache_dir: Path | None = None,
        weights: Path | None = None,
        **options: Any,
    ) -> TorchEngine:
        """The engine of ``export`` (see :func:`facert.backends.torch_forms.module_source`)."""
        return cls(module_source(export, cache_dir, weights), **options)

    def __repr__(self) -> str:
        return f"TorchEngine({self.source.label}, {self.device} {self.precision})"

    @property
    def name(self) -> str:
        return self.source.label

    def _acquire(self) -> None:
        if self.device == "cuda":
            from facert.backends.cuda import require_gpu

            require_gpu(self.device_index, purpose="the torch backend")
            why = torch_unavailable()
            if why is not None:
                raise DeviceError(why)
        torch = import_torch()
        from facert.export.precision.policy import FP16, FP32

        self._torch = torch
        self._target = torch.device(
            self.device, self.device_index if self.device == "cuda" else None
        )
        module = build_module(self.source, FP16 if self.precision == "fp16" else FP32)
        self._module = module.to(self._target)  # keeps each tensor's dtype (pinned: float32)
        if self.device == "cuda":
            self._stream = torch.cuda.Stream(self._target)
            self._pool = torch.cuda.graph_pool_handle()
        spec = self.source.spec
        size = spec.input_size
        f32 = np.dtype(np.float32)
        self._inputs = {IMAGE: TensorInfo(("batch", 3, size, size), f32)}
        self._inputs.update({name: TensorInfo(("batch",), f32) for name in option_names(spec)})
        self._outputs = {OUTPUT: TensorInfo(("batch", 3, size, size), f32)}

    def _release(self) -> None:
        self._bindings, self._bound = {}, None  # graphs and their pool go with their tensors
        self._module = self._stream = self._pool = self._torch = self._last = None

    @contextlib.contextmanager
    def _context(self) -> Iterator[None]:
        """Inference mode, with the engine's GPU current."""
        with contextlib.ExitStack() as stack:
            if self.device == "cuda":
                stack.enter_context(self._torch.cuda.device(self._target))
            stack.enter_context(self._torch.inference_mode())
            yield

    # -- bindings ------------------------------------------------------------------------------

    def _binding(self, shapes: Mapping[str, tuple[int, ...]]) -> Binding:
        """The tensors (and graph) of these input shapes, made (and captured) on first use."""
        check_names(self.name, self._inputs, shapes)
        for name, shape in shapes.items():
            check_input(self.name, name, self._inputs[name], np.dtype(np.float32), tuple(shape))
        batches = {int(shape[0]) for shape in shapes.values()}
        if len(batches) != 1 or min(batches) < 1:
            raise FacertError(f"{self.name}: every input needs the same batch size >= 1")
        key = tuple(tuple(int(d) for d in shapes[name]) for name in self._inputs)
        binding = self._bindings.get(key)
        if binding is None:
            torch = self._torch
            # Plain tensors, made outside inference mode: a caller may write into them with torch
            # (an inference tensor refuses in-place writes outside inference mode).
            tensors = {
                name: torch.zeros(shape, dtype=torch.float32, device=self._target)
                for name, shape in zip(self._inputs, key, strict=True)
            }
            binding = Binding(tensors)
            if self.cuda_graphs:
                with self._context():
                    self._capture(binding)
            elif self.device == "cuda":
                torch.cuda.synchronize(self._target)  # the zeros are there for any stream
            self._bindings[key] = binding
        return binding

    def _forward(self, binding: Binding) -> Any:
        restored = self._module(*(binding.inputs[name] for name in self._inputs))
        return restored.float().contiguous()  # the graphs' float32 C-contiguous output

    def _capture(self, binding: Binding) -> None:
        """Warm up on the engine's stream, then capture one run into ``binding.graph``."""
        torch, stream = self._torch, self._stream
        stream.wait_stream(torch.cuda.current_stream(self._target))
        with torch.cuda.stream(stream):
            for _ in range(WARM_UP_RUNS):
                self._forward(binding)
        stream.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self._pool, stream=stream):
            binding.output = self._forward(binding)
        binding.graph = graph

    def _torch_stream(self, stream: Any) -> Any:
        """The torch stream of ``stream`` (None: the engine's own)."""
        torch = self._torch
        if stream is None:
            return self._stream
        if isinstance(stream, torch.cuda.Stream):
            return stream
        from facert.backends.cuda.memory import stream_handle

        handle = stream_handle(stream)
        if handle == 0:
            return torch.cuda.default_stream(self._target)
        return torch.cuda.ExternalStream(handle, device=self._target)

    def _follow(self, queue: Any) -> None:
        """Order a run on ``queue`` after the engine's previous run on another stream (its tensors
        are shared by every run: one run at a time)."""
        if self._last is not None and self._last != queue:
            queue.wait_stream(self._last)
        self._last = queue

    def _execute(self, binding: Binding) -> Any:
        """Run ``binding``'s inputs through the module (replay its graph) on the current stream."""
        if binding.graph is not None:
            binding.graph.replay()
        else:
            binding.output = self._forward(binding)
        return binding.output

    # -- runs ----------------------------------------------------------------------------------

    def run(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run on host arrays (each input float32, one batch size); the output as a new array."""
        self._require_open()
        check_feed(self.name, self._inputs, feed)
        binding = self._binding({name: tuple(array.shape) for name, array in feed.items()})
        torch = self._torch
        if self.device == "cuda":
            self._follow(self._stream)
        with self._context(), self._on_stream(self._stream):
            for name, array in feed.items():
                binding.inputs[name].copy_(torch.from_numpy(np.ascontiguousarray(array)))
            restored = self._execute(binding).cpu()  # waits for the stream
        return {OUTPUT: restored.numpy().copy()}

    def run_device(self, feed: Mapping[str, Any], stream: Any = None) -> dict[str, Any]:
        """Run on device buffers (``__cuda_array_interface__`` objects by name, C-contiguous,
        float32, ready on ``stream``), queued on ``stream``: they are copied into the engine's
        tensors first. The output: the engine's own tensor (``__cuda_array_interface__``), valid
        until its next run. ``stream`` None: the engine's stream, synchronized before returning."""
        self._require_open()
        if self.device != "cuda":
            raise UsageError(f"{self.name}: run_device needs the cuda device")
        from facert.backends.trt_tensors import device_feed

        arrays = device_feed(self.name, self._inputs, feed)
        binding = self._binding({name: shape for name, (_, shape) in arrays.items()})
        torch, queue = self._torch, self._torch_stream(stream)
        self._follow(queue)
        with self._context(), self._on_stream(queue):
            for name, item in feed.items():
                binding.inputs[name].copy_(torch.as_tensor(item, device=self._target))
            restored = self._execute(binding)
        if stream is None:
            queue.synchronize()
        return {OUTPUT: restored}

    def bind_inputs(self, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, Any]:
        """The engine's own input tensors at ``shapes`` (every input by name, one batch size),
        for kernels to write into: torch tensors (``__cuda_array_interface__``; numpy views on
        the cpu device). They stay the inputs of :meth:`run_bound` until the next bind; a
        :meth:`run` at the same shapes overwrites them."""
        self._require_open()
        binding = self._binding({name: tuple(shape) for name, shape in shapes.items()})
        self._bound = binding
        if self.device == "cuda":
            return dict(binding.inputs)
        return {name: tensor.numpy() for name, tensor in binding.inputs.items()}

    def run_bound(self, stream: Any = None) -> dict[str, Any]:
        """Run on what the bound inputs hold, queued on ``stream`` (None: the engine's own,
        synchronized before returning); the output as a view of the engine's own tensor, valid
        until its next run."""
        self._require_open()
        binding = self._bound
        if binding is None:
            raise UsageError(f"{self.name}: run_bound before bind_inputs")
        if self.device != "cuda":
            with self._context():
                return {OUTPUT: self._execute(binding).numpy()}
        queue = self._torch_stream(stream)
        self._follow(queue)
        with self._context(), self._on_stream(queue):
            restored = self._execute(binding)
        if stream is None:
            queue.synchronize()
        return {OUTPUT: restored}

    def _on_stream(self, stream: Any) -> contextlib.AbstractContextManager[Any]:
        if self.device != "cuda":
            return contextlib.nullcontext()
        return self._torch.cuda.stream(stream)
