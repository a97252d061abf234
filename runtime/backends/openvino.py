"""OpenVINO on the CPU: the second :class:`facert.backends.base.Engine`.

OpenVINO reads facert's ONNX graphs directly and compiles them for the CPU at an *inference
precision*: f32, or bf16, which it runs on AMX tiles (Intel Xeon 4th generation and later) or on
AVX512-BF16 instructions, and which it ignores (runs f32) on CPUs with neither. Measured on GFPGAN
v1.4's 512 graph, 2 threads, batch 1: 285 ms per face in BF16 on an AMX Xeon against 1579 ms for
ONNX Runtime FP32 (issue 9); 1.2-1.3 s against 2.2 s on an AMD EPYC with AVX512-BF16 and no AMX
(this project's other machine kind). An INT8 QDQ graph (:mod:`facert.backends.ort_int8`) compiles
as it is: OpenVINO runs its quantized convolutions in int8 (VNNI, AMX-INT8).

The spec's precision policy holds in BF16 as in FP16: the ops an export's FP16 graph computes in
float32 (its pinned parts: StyleGAN2 demodulation, GroupNorm, softmax, codebook lookups...) are
marked in the FP32 graph as not to be lowered (:func:`pinned_ops`, :func:`keep_float32`), so OpenVINO
keeps them f32 inside a bf16 compilation. OpenVINO honours that mark only once a model has been
through its IR form (a Python-set mark is a string until then), so a marked model is saved and read
back once, in a temporary folder (0.6 s for GFPGAN).

Compilation takes 1-2 s for GFPGAN; OpenVINO's own model cache (``cache_dir``: a folder per
compiled-artifact key, :mod:`facert.backends.choice`) brings a second open to 0.3 s. The blob it
keeps is large (GFPGAN: 606 MB), one per key. ``openvino`` is an optional extra (``pip install
facert[openvino]``), imported only when this backend is used or probed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from facert.backends.base import HostEngine, TensorInfo, check_feed
from facert.errors import (
    ArtifactError,
    MissingDependencyError,
    UnsupportedError,
    UsageError,
    first_line,
)

# facert's precision names -> OpenVINO's inference precision. An INT8 graph carries its own
# quantized ops; what it leaves in float runs in f32.
INFERENCE_PRECISION = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}
PRECISIONS = tuple(INFERENCE_PRECISION)
# The run-time mark that keeps an op out of precision lowering (ov::disable_fp16_compression; its
# Python spelling until the model goes through IR, which turns it into OpenVINO's own attribute).
_KEEP_MARK = "precise_0"
# Ops of an FP16 graph that carry no arithmetic of their own: never worth a mark.
_PLUMBING = {"Parameter", "Result", "Constant", "Convert", "ShapeOf", "Reshape", "Squeeze"}
# How a bf16 compilation keeps the policy (the artifact records which one passed its gate):
# "whole": OpenVINO lowers every op it can, the pinned ones marked to stay f32; it honours the mark
#   on the ops it keeps as they are, not on those its own transformations rebuild (GroupNorm
#   reductions, softmax, fully connected layers), so a model whose pinned parts are of that kind
#   can still fail the gate (tiny CodeFormer: 27 dB).
# "islands": inference precision f32, and only the convolutions and matrix products outside the
#   pinned parts lowered to bf16 (:func:`lower_to_bf16`): the pinned parts stay f32 by
#   construction (tiny CodeFormer: 49 dB), at some speed (more conversions, fewer fusions).
LOWERINGS = ("whole", "islands")
LOWERED = ("Convolution", "GroupConvolution", "MatMul")


def require_openvino() -> Any:
    """The ``openvino`` module; :class:`MissingDependencyError` (one line) when it is missing."""
    try:
        import openvino
    except ImportError:
        raise MissingDependencyError(
            "the openvino backend needs the openvino package: pip install 'facert[openvino]'"
        ) from None
    return openvino


def openvino_version() -> str | None:
    """OpenVINO's version (its short form, "2026.4.1"), or None when it is not installed."""
    try:
        from openvino import __version__
    except ImportError:
        return None
    return str(__version__).split("-")[0]


def pinned_ops(fp16_graph: Path) -> list[str]:
    """The names of the ops ``fp16_graph`` (an export's FP16 ONNX file) computes in float32: the
    spec's precision policy as the export applied it. Plumbing (constants, converts, shapes) is left
    out. Sorted; [] for an FP16 graph without pinned parts."""
    ov = require_openvino()
    try:
        model = ov.Core().read_model(str(fp16_graph))
    except Exception as exc:  # OpenVINO raises its own RuntimeError subclasses
        raise ArtifactError(
            f"OpenVINO cannot read it ({first_line(exc)})", path=str(fp16_graph)
        ) from None
    names = set()
    for op in model.get_ordered_ops():
        if op.get_type_name() in _PLUMBING or op.get_output_size() == 0:
            continue
        if all(op.get_output_element_type(i) == ov.Type.f32 for i in range(op.get_output_size())):
            names.add(op.get_friendly_name())
    return sorted(names)


def keep_float32(model: Any, names: Iterable[str]) -> tuple[Any, int]:
    """``model`` (an ``ov.Model``) with the ops named ``names`` kept in f32 whatever the inference
    precision, and how many ops were marked. The marked model is saved as IR and read back (see the
    module doc); unmarked, ``model`` itself is returned."""
    ov = require_openvino()
    wanted = set(names)
    marked = 0
    for op in model.get_ops():
        if op.get_friendly_name() in wanted:
            op.get_rt_info()[_KEEP_MARK] = ""
            marked += 1
    if not marked:
        return model, 0
    with tempfile.TemporaryDirectory(prefix="facert-ov-") as folder:
        path = Path(folder) / "model.xml"
        ov.save_model(model, str(path), compress_to_fp16=False)
        return ov.Core().read_model(str(path)), marked


def lower_to_bf16(model: Any, keep: Iterable[str], types: Iterable[str] = LOWERED) -> int:
    """Run the ops of ``types`` in ``model`` (an ``ov.Model``, changed in place) in bf16, except
    those named in ``keep``: each reads its float32 inputs through a Convert to bf16 and its results
    leave through a Convert back to f32. Compiled at inference precision f32, everything else stays
    f32. Returns how many ops were lowered."""
    ov = require_openvino()
    from openvino import opset13

    kept = set(keep)
    lowered = 0
    for op in model.get_ordered_ops():
        if op.get_type_name() not in set(types) or op.get_friendly_name() in kept:
            continue
        for index in range(op.get_input_size()):
            source = op.input_value(index)
            if source.get_element_type() == ov.Type.f32:
                op.input(index).replace_source_output(
                    opset13.convert(source, ov.Type.bf16).output(0)
                )
        for index in range(op.get_output_size()):
            output = op.output(index)
            readers = list(output.get_target_inputs())
            back = opset13.convert(output, ov.Type.f32).output(0)
            for reader in readers:
                reader.replace_source_output(back)
        lowered += 1
    model.validate_nodes_and_infer_types()
    return lowered


def _tensors(names: Iterable[str], ports: Iterable[Any]) -> dict[str, TensorInfo]:
    """``names`` (the graph's, in order) -> the TensorInfo of the compiled model's ports."""
    infos = {}
    for name, port in zip(names, ports, strict=True):
        shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
        infos[name] = TensorInfo(shape, np.dtype(port.get_element_type().to_dtype()))
    return infos


def _graph_names(model: Any) -> tuple[list[str], list[str]]:
    """The ONNX graph's input and output names, read before compilation (a compiled port may
    carry more names: OpenVINO's transformations merge tensors)."""
    inputs = [port.get_node().get_friendly_name() for port in model.inputs]
    outputs = [port.get_any_name() for port in model.outputs]
    return inputs, outputs


class OpenVinoEngine(HostEngine):
    """One ONNX graph compiled by OpenVINO for the CPU at ``precision`` (fp32, bf16, int8).

    Construction records the arguments; :meth:`open` reads and compiles the graph (OpenVINO's model
    cache in ``cache_dir`` when given), :meth:`close` frees it. ``threads`` 0 lets OpenVINO use
    every core; ``keep_f32`` names ops kept in f32 (:func:`pinned_ops`) and ``lowering`` how a
    bf16 compilation keeps them (:data:`LOWERINGS`). Dynamic dimensions (the batch) stay dynamic:
    one compiled model serves any number of faces.
    """

    def __init__(
        self,
        path: Path,
        *,
        precision: str = "fp32",
        threads: int = 0,
        keep_f32: Iterable[str] = (),
        lowering: str = "whole",
        cache_dir: Path | None = None,
    ) -> None:
        if lowering not in LOWERINGS:
            raise UsageError(
                f"bf16 lowering must be one of {', '.join(LOWERINGS)}, not {lowering!r}"
            )
        if precision not in INFERENCE_PRECISION:
            raise UsageError(
                f"the openvino backend runs {', '.join(PRECISIONS)}, not {precision!r} (float16 "
                "on a CPU: --backend ort --precision fp16)"
            )
        self.path = Path(path)
        self.precision = precision
        self.threads = threads
        self.keep_f32 = tuple(keep_f32)
        self.lowering = lowering
        self.cache_dir = cache_dir
        self._compiled: Any = None
        self._request: Any = None
        self._inputs: dict[str, TensorInfo] = {}
        self._outputs: dict[str, TensorInfo] = {}
        self.marked = 0  # ops marked to stay f32 ("whole")
        self.lowered = 0  # ops lowered to bf16 ("islands")

    def __repr__(self) -> str:
        return f"OpenVinoEngine({self.path}, {self.precision})"

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def islands(self) -> bool:
        return self.precision == "bf16" and self.lowering == "islands"

    def _config(self) -> dict[str, Any]:
        precision = "f32" if self.islands else INFERENCE_PRECISION[self.precision]
        config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": precision,
            "PERFORMANCE_HINT": "LATENCY",
        }
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = self.threads
        return config

    def _acquire(self) -> None:
        ov = require_openvino()
        core = ov.Core()
        if self.cache_dir is not None:
            core.set_property({"CACHE_DIR": str(self.cache_dir)})
        try:
            model = core.read_model(str(self.path))
            input_names, output_names = _graph_names(model)
            if self.islands:
                self.lowered = lower_to_bf16(model, self.keep_f32)
            else:
                model, self.marked = keep_float32(model, self.keep_f32)
            compiled = core.compile_model(model, "CPU", self._config())
            request = compiled.create_infer_request()
        except MissingDependencyError:
            raise
        except Exception as exc:  # OpenVINO raises its own RuntimeError subclasses
            raise ArtifactError(
                f"OpenVINO cannot compile it ({first_line(exc)})", path=str(self.path)
            ) from None
        self._inputs = _tensors(input_names, compiled.inputs)
        self._outputs = _tensors(output_names, compiled.outputs)
        self._compiled, self._request = compiled, request

    def _release(self) -> None:
        self._request = None
        self._compiled = None

    @property
    def inference_precision(self) -> str:
        """ "bf16" when some op of the compiled model runs in bf16 (a bf16 request on a CPU with
        AMX or AVX512-BF16), else "f32" (every fp32 compilation; bf16 on another CPU)."""
        return "bf16" if "bf16" in set(self.runtime_precisions().values()) else "f32"

    @property
    def loaded_from_cache(self) -> bool:
        """Whether OpenVINO took the compiled model from its model cache (``cache_dir``)."""
        self._require_open()
        return bool(self._compiled.get_property("LOADED_FROM_CACHE"))

    def runtime_precisions(self) -> dict[str, str]:
        """Each op of the compiled model (by its original name) and the precision it runs in."""
        self._require_open()
        precisions = {}
        for op in self._compiled.get_runtime_model().get_ops():
            info = op.get_rt_info()
            if "runtimePrecision" in info and "originalLayersNames" in info:
                for name in str(info["originalLayersNames"].astype(str)).split(","):
                    precisions[name] = str(info["runtimePrecision"].astype(str))
        return precisions

    def run(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run on ``feed`` (name -> array); every output by name, as new arrays."""
        self._require_open()
        check_feed(self.path.name, self._inputs, feed)
        order = list(self._inputs)
        results = self._request.infer(
            {order.index(name): np.ascontiguousarray(array) for name, array in feed.items()}
        )
        return {
            name: np.array(results[port], copy=True)
            for name, port in zip(self._outputs, self._compiled.outputs, strict=True)
        }

    def run_device(self, feed: Mapping[str, Any], stream: Any = None) -> dict[str, Any]:
        """Not supported: this backend runs on host arrays only."""
        raise UnsupportedError(
            "the openvino backend (CPU) runs on host arrays only: use run()", path=str(self.path)
        )
