"""ONNX Runtime on the GPU (the ``ort-gpu`` backend): its CUDA or TensorRT execution provider, with
IO binding so inputs and outputs live in device memory.

``onnxruntime-gpu`` replaces ``onnxruntime`` (one import name; the two cannot be installed side by
side), so it is an extra of its own (``facert[gpu]``) outside the lock: install it into an
environment without ``onnxruntime``. Where the installed ONNX Runtime has no such provider, or the
provider cannot start (CUDA libraries missing: ONNX Runtime then falls back to the CPU silently),
:meth:`OrtGpuEngine.open` refuses in one line. The driver check comes first, as for every GPU path.

:meth:`OrtGpuEngine.run` binds host arrays (ONNX Runtime copies them to the device) and device
outputs, then copies the outputs back; :meth:`OrtGpuEngine.run_device` binds the caller's device
buffers directly. ONNX Runtime runs on its own stream and waits for it before returning, so
``run_device`` first waits for the caller's stream (its inputs must be ready there).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from facert.backends.base import HostEngine, TensorInfo, check_feed
from facert.backends.ort import _tensors, load_session
from facert.backends.trt_tensors import device_feed
from facert.errors import MissingDependencyError, UnsupportedError

PROVIDERS = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}
GPU_EXTRA = "pip uninstall onnxruntime && pip install 'facert[gpu]' (onnxruntime-gpu replaces it)"


def gpu_providers(
    provider: str, device: int, cache_dir: Path | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """ONNX Runtime's provider list for ``provider`` ("cuda", or "tensorrt" with CUDA behind it
    for what TensorRT does not take) on GPU ``device``. The graph's own types decide the precision
    (no FP16 flag: it would lower an FP32 graph's pinned ops too); the TensorRT provider keeps the
    engines it builds in ``cache_dir`` when one is given (minutes saved per session)."""
    cuda = ("CUDAExecutionProvider", {"device_id": device})
    if provider != "tensorrt":
        return [cuda]
    options: dict[str, Any] = {"device_id": device}
    if cache_dir is not None:
        options |= {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache_dir)}
    return [("TensorrtExecutionProvider", options), cuda]


def require_provider(provider: str) -> Any:
    """The ``onnxruntime`` module when it offers ``provider``'s execution provider; otherwise
    :class:`MissingDependencyError` in one line naming ``facert[gpu]``."""
    import onnxruntime as ort

    wanted = PROVIDERS[provider]
    available = ort.get_available_providers()
    if wanted not in available:
        raise MissingDependencyError(
            f"the ort-gpu backend needs ONNX Runtime's {wanted}; onnxruntime {ort.__version__} offers "
            f"{', '.join(available)}: {GPU_EXTRA}"
        )
    return ort


class OrtDeviceArray:
    """An output ``OrtValue`` on the device, held, with ``__cuda_array_interface__``."""

    def __init__(self, value: Any, dtype: np.dtype[Any]) -> None:
        self.value = value
        self.shape = tuple(int(d) for d in value.shape())
        self.dtype = dtype

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        return {
            "shape": self.shape,
            "typestr": self.dtype.str,
            "data": (int(self.value.data_ptr()), False),
            "strides": None,
            "version": 3,
        }


class OrtGpuEngine(HostEngine):
    """One ONNX graph on ONNX Runtime's ``provider`` ("cuda" or "tensorrt") on GPU ``device_id``;
    ``cache_dir``: where the TensorRT provider keeps its engines."""

    def __init__(
        self,
        graph: Path,
        *,
        provider: Literal["cuda", "tensorrt"] = "cuda",
        device_id: int = 0,
        cache_dir: Path | None = None,
    ) -> None:
        if provider not in PROVIDERS:
            raise UnsupportedError(
                f"ort-gpu provider {provider!r}: expected one of {list(PROVIDERS)}"
            )
        self.path = Path(graph)
        self.provider = provider
        self.device_id = device_id
        self.cache_dir = cache_dir
        self._session: Any = None
        self._ort: Any = None
        self._held: list[Any] = []  # the last run's device outputs (OrtValues)
        self._inputs: dict[str, TensorInfo] = {}
        self._outputs: dict[str, TensorInfo] = {}

    def __repr__(self) -> str:
        return f"OrtGpuEngine({self.path}, {self.provider})"

    @property
    def name(self) -> str:
        return str(self.path)

    def _acquire(self) -> None:
        from facert.backends.cuda import require_gpu

        ort = require_provider(self.provider)  # lists what ONNX Runtime was built with only
        require_gpu(self.device_id, purpose="the ort-gpu backend")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        providers = gpu_providers(self.provider, self.device_id, self.cache_dir)
        session = load_session(self.path, options, providers)
        if PROVIDERS[self.provider] not in session.get_providers():
            raise UnsupportedError(
                f"ONNX Runtime could not start its {PROVIDERS[self.provider]} (CUDA or cuDNN "
                f"libraries missing?); it would run on {', '.join(session.get_providers())}",
                path=str(self.path),
            )
        self._inputs = _tensors(session.get_inputs())
        self._outputs = _tensors(session.get_outputs())
        self._session, self._ort = session, ort

    def _release(self) -> None:
        self._session, self._ort, self._held = None, None, []

    def _bind_outputs(self, binding: Any) -> None:
        for name in self._outputs:
            binding.bind_output(name, "cuda", self.device_id)

    def run(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run on host arrays (checked by :func:`check_feed`); every output as new host arrays."""
        self._require_open()
        check_feed(self.path.name, self._inputs, feed)
        binding = self._session.io_binding()
        for name, array in feed.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(array))
        self._bind_outputs(binding)
        self._session.run_with_iobinding(binding)
        return dict(zip(self._outputs, binding.copy_outputs_to_cpu(), strict=True))

    def run_device(self, feed: Mapping[str, Any], stream: Any = None) -> dict[str, Any]:
        """Run on device buffers (``__cuda_array_interface__`` objects, ready on ``stream``): bound
        as they are, no copy. Returns when the outputs are ready: ONNX Runtime's ``OrtValue``
        values on the device as :class:`OrtDeviceArray` (``__cuda_array_interface__``), held until
        the next run."""
        from facert.backends.cuda.memory import synchronize

        self._require_open()
        arrays = device_feed(self.path.name, self._inputs, feed)
        if stream is not None:
            synchronize(stream)
        binding = self._session.io_binding()
        for name, (pointer, shape) in arrays.items():
            dtype = self._inputs[name].dtype or np.float32
            binding.bind_input(name, "cuda", self.device_id, dtype, list(shape), pointer)
        self._bind_outputs(binding)
        self._session.run_with_iobinding(binding)
        self._held = [
            OrtDeviceArray(value, info.dtype or np.dtype(np.float32))
            for value, info in zip(binding.get_outputs(), self._outputs.values(), strict=True)
        ]
        return dict(zip(self._outputs, self._held, strict=True))
