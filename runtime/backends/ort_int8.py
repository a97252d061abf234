"""Static INT8 quantization of an export's FP32 graph: the "int8-qdq" compiled artifact.

ONNX Runtime's post-training quantizer (``onnxruntime.quantization.quantize_static``) measures the
range of every tensor on calibration inputs (:func:`facert.models.calibration.calibration_feeds`)
and writes a QDQ graph: each quantized operator's inputs pass through QuantizeLinear/DequantizeLinear
pairs, its weights are stored as int8 with one scale per output channel. Any runtime that reads
ONNX runs it; ONNX Runtime's CPU provider and OpenVINO fuse each pair and its operator into an
integer kernel (VNNI or AMX-INT8 where the CPU has them). The file depends on no CPU feature, so
its key's device is "any".

Which operator types are quantized is chosen per family by measurement (:data:`FAMILY_OPS`).
Parts of the graph the spec's precision policy keeps in FP32 (GFPGAN's style path, CodeFormer's
encoder and code selection) stay FP32 here too: the nodes the export's FP16 graph computes in
float32 (:func:`pinned_node_names`; on GFPGAN all 376 such nodes but the FP16 build's 17 Casts have
the same name in the FP32 graph) are not quantized, and read the float tensors themselves.

Measured on the full-size GFPGAN v1.4 graph (deterministic-fill weights in the official layout, not
trained ones), ONNX Runtime 1.32, 2 threads, batch 1, median of 5 interleaved runs, on an AMD EPYC
with AVX512-VNNI and no AMX, shared with other work (load about 4.5 on 2 cores: the ratios hold,
the milliseconds are inflated); PSNR against ORT FP32, the export's definition, worst of the 4
check faces:

==========================================================  ===========  ==========  ========
quantized                                                   ms per face  vs ORT FP32  PSNR dB
==========================================================  ===========  ==========  ========
nothing (ORT FP32)                                                 4253        1.00         -
Conv (all 95), 7-bit weights (this class)                          1333       3.19x      30.8
Conv, 8-bit weights (VNNI only)                                    1346       3.16x      32.8
Conv, Gemm, MatMul (pinned excluded: adds one Gemm)                1366       3.11x      30.7
Conv, Gemm, MatMul, pinned nodes quantized too                        -           -      30.7
Conv of the StyleGAN decoder only (encoder FP32)                   2690       1.58x      35.2
Conv but the encoder's body (conv_body_*, final_conv)                 -           -      34.8
Conv, moving-average ranges instead of min/max                        -           -      29.2
==========================================================  ===========  ==========  ========

No choice reaches the 40 dB gate with these weights: the error comes from every part of the
network (leaving out any one group of convolutions gains 0.2-4 dB), not from a few layers or
outliers. The issue measured 41.5 dB for convolutions only with official weights on an AMX Xeon;
trained weights have better-behaved activations than a deterministic fill (whose output spans
[-35, 16] instead of [-1, 1]), so the accuracy gate decides per export, on the real weights.

Full-size CodeFormer (deterministic fill, graph with the encoder and code selection pinned), the
same way (load about 7): convolutions only, which leaves only the generator's to quantize, runs
7992 ms against 9575 (1.20x) at 37.9 dB (fidelity 0.5), 28.7 dB (0) and 43.6 dB (1).

OpenVINO 2026.4 reads the same GFPGAN file (Conv, 7-bit weights) and runs it in 1785 ms against
ORT FP32's 4895 (2.74x; its own FP32 4757 ms) at 32.4 dB.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from facert.errors import ArtifactError, MissingDependencyError, UsageError, first_line
from facert.models.artifacts import FP16_GRAPH
from facert.models.registry import ModelSpec

# The operator types quantized by default, per family (measured: see the module's table).
FAMILY_OPS: dict[str, tuple[str, ...]] = {
    # Convolutions only: Gemm/MatMul add one Gemm (the rest are pinned) and no speed.
    "gfpgan": ("Conv",),
    "codeformer": ("Conv",),  # its encoder and transformer are pinned: the generator's only
}
DEFAULT_OPS = ("Conv",)  # convolutions first: most of a restorer's time, well calibrated
INSTALL = "pip install facert[int8]"


def pinned_node_names(fp16_graph: Path) -> frozenset[str]:
    """The names of the nodes ``fp16_graph`` (an export's FP16 graph) computes in float32, after
    ONNX shape inference: the parts its precision policy keeps in FP32, less the Cast nodes the
    FP16 build inserted (which the FP32 graph does not have). Unnamed nodes are left out."""
    onnx = _import_onnx()
    try:
        model = onnx.shape_inference.infer_shapes(onnx.load(str(fp16_graph)))
    except Exception as exc:  # onnx raises DecodeError, ValidationError, InferenceError...
        raise ArtifactError(
            f"onnx cannot read it ({first_line(exc)})", path=str(fp16_graph)
        ) from None
    graph = model.graph
    types = {v.name: v.type.tensor_type.elem_type for v in (*graph.value_info, *graph.output)}
    float32 = onnx.TensorProto.FLOAT
    return frozenset(
        node.name
        for node in graph.node
        if node.name
        and node.op_type != "Cast"
        and any(types.get(output) == float32 for output in node.output)
    )


class Int8Quantizer:
    """The :class:`facert.models.compiling.Compiler` of static INT8 QDQ graphs of ``spec``'s graphs.

    ``ops``: the operator types to quantize (default :data:`FAMILY_OPS` of the spec's family, else
    :data:`DEFAULT_OPS`).

    Types: activations uint8 (asymmetric, per tensor), weights int8 (symmetric, per output channel)
    in 7 bits (``reduce_range``). U8S8 is what x86 integer kernels are built for: VNNI's
    ``vpdpbusd`` multiplies uint8 by int8 into int32, and so do AMX-INT8 and OpenVINO's int8
    convolutions; ONNX Runtime turns int8 activations into uint8 on x86 anyway. Without VNNI
    (AVX2, AVX-512 before Cascade Lake) the same kernels use ``vpmaddubsw``, which adds two
    uint8 x int8 products into int16 and saturates when both weights are near 127: 7-bit weights
    keep 255 x 64 x 2 below 32767, so the one file computes the same on every x86 CPU, at the cost
    of one bit of weight precision (measured in the module's table).
    """

    kind = "int8-qdq"
    backend = "onnxruntime"
    filename = "model.int8.onnx"
    converts_precision = True

    def __init__(self, spec: ModelSpec, ops: tuple[str, ...] | None = None) -> None:
        self.spec = spec
        self.ops = ops if ops is not None else FAMILY_OPS.get(spec.family, DEFAULT_OPS)
        if not self.ops:
            raise UsageError(f"{self.kind}: no operator types to quantize for {spec.name}")

    def version(self) -> str:
        import onnxruntime as ort

        return str(ort.__version__)

    def device(self) -> str:
        return "any"

    def device_description(self) -> str:
        return (
            "any device: a QDQ ONNX graph (int8 weights, uint8 activations) that ONNX Runtime and "
            "OpenVINO run on any CPU, with VNNI/AMX-INT8 kernels where the CPU has them"
        )

    def compile(
        self, source: Path, target: Path, precision: str, batch_profile: tuple[int, int, int] | None
    ) -> None:
        """Quantize the FP32 ONNX graph ``source`` into ``target`` (QDQ), calibrated on
        :func:`facert.models.calibration.calibration_feeds` of the spec."""
        if precision != "int8":
            raise UsageError(f"{self.kind} artifacts are int8, not {precision}")
        if batch_profile is not None:
            raise UsageError(f"{self.kind} artifacts keep the graph's dynamic batch: no profile")
        _import_onnx()
        from onnxruntime import quantization as q

        from facert.models.calibration import calibration_feeds

        fp16 = source.parent / FP16_GRAPH
        pinned = pinned_node_names(fp16) if fp16.is_file() else frozenset()
        reader = _FeedReader(calibration_feeds(self.spec))
        root = logging.getLogger()
        level = root.level
        # quantize_static logs advice ("consider pre-processing") on the root logger: not a
        # user's concern, and a CLI would print it between its progress lines.
        root.setLevel(logging.ERROR)
        try:
            q.quantize_static(
                str(source),
                str(target),
                reader,
                quant_format=q.QuantFormat.QDQ,
                op_types_to_quantize=list(self.ops),
                per_channel=True,
                reduce_range=True,
                activation_type=q.QuantType.QUInt8,
                weight_type=q.QuantType.QInt8,
                nodes_to_exclude=sorted(pinned),
                calibrate_method=q.CalibrationMethod.MinMax,
            )
        except Exception as exc:  # the quantizer raises ValueError, RuntimeError, ORT's own types
            raise ArtifactError(
                f"ONNX Runtime cannot quantize it ({first_line(exc)})", path=str(source)
            ) from None
        finally:
            root.setLevel(level)
        if not target.is_file():
            raise ArtifactError("ONNX Runtime wrote no quantized model", path=str(target))
        if pinned:
            _float_inputs_for(target, pinned)


def _float_inputs_for(graph: Path, pinned: frozenset[str]) -> None:
    """Rewire the ``pinned`` nodes of the QDQ ``graph`` to read the float tensors themselves, not
    their quantize-dequantize copies.

    The quantizer puts one QuantizeLinear/DequantizeLinear pair on a tensor that a quantized node
    reads, and every reader of the tensor then gets the 8-bit copy, a pinned one too (CodeFormer's
    code selection reads the transformer's output that its quantized projections read). A pinned
    node computes in FP32 from FP32 inputs where the FP32 graph has them.
    """
    onnx = _import_onnx()
    model = onnx.load(str(graph))
    nodes = model.graph.node
    producers = {output: node for node in nodes for output in node.output}

    def original(name: str) -> str:
        dequantize = producers.get(name)
        if dequantize is None or dequantize.op_type != "DequantizeLinear":
            return name
        quantize = producers.get(dequantize.input[0])
        return (
            quantize.input[0]
            if quantize is not None and quantize.op_type == "QuantizeLinear"
            else name
        )

    changed = False
    for node in nodes:
        if node.name in pinned:
            for index, name in enumerate(node.input):
                if original(name) != name:
                    node.input[index] = original(name)
                    changed = True
    if changed:
        _drop_unread_qdq(model.graph)
        onnx.save(model, str(graph))


def _drop_unread_qdq(graph: Any) -> None:
    """Remove the Quantize/DequantizeLinear nodes whose outputs nothing reads any more."""
    for _ in range(2):  # the DequantizeLinear nodes, then the QuantizeLinear nodes they read
        read = {name for node in graph.node for name in node.input}
        read |= {output.name for output in graph.output}
        unread = [
            node
            for node in graph.node
            if node.op_type in ("QuantizeLinear", "DequantizeLinear")
            and not any(output in read for output in node.output)
        ]
        for node in unread:
            graph.node.remove(node)


class _FeedReader:
    """The calibration feeds as ONNX Runtime's ``CalibrationDataReader`` (get_next, then None)."""

    def __init__(self, feeds: list[dict[str, Any]]) -> None:
        self._feeds: Iterator[dict[str, Any]] = iter(feeds)

    def get_next(self) -> dict[str, Any] | None:
        return next(self._feeds, None)


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise MissingDependencyError(f"INT8 quantization needs onnx: {INSTALL}") from None
    return onnx
