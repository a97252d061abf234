"""The FP16 graph: a graph traced from an FP16_STAGED module, demoted one step.

The staged module computes activations in float32 and pinned ops in float64 (see
:mod:`facert.export.precision.policy`), so its traced graph marks every pinned region with casts to and from
double. Demoting every floating type one step (float32 -> float16, float64 -> float32) gives the FP16
graph: float16 weights and activations, pinned ops in float32, float16 inputs and outputs. Tracing in
float32 keeps the export fast on CPUs, where PyTorch's float16 convolutions crawl.

The graph's float32 inputs and outputs keep float32, so the FP16 file has the FP32 file's interface:
an input read by a Cast to float32 (the entry of a pinned part: the demoted staged Cast to double)
reads it unrounded, every other reader gets it through one Cast to float16, and each float16 output
leaves through a Cast to float32. Inputs that ONNX defines as float32 whatever the data type
(Resize's roi and scales) keep their type. Graphs with subgraphs (If, Loop, Scan) are refused: the
export forms have no control flow.

:func:`demote_file` demotes a graph file in place, its external data file included (one written
by :func:`facert.export.harness.onnx.save_onnx`, read and rewritten beside it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from facert.errors import ExportError
from facert.export.harness.onnx import is_large, save_onnx

DEMOTED = {TensorProto.FLOAT: TensorProto.FLOAT16, TensorProto.DOUBLE: TensorProto.FLOAT}
NUMPY_DEMOTED = {np.dtype(np.float32): np.float16, np.dtype(np.float64): np.float32}
FLOAT32_INPUTS = {"Resize": (1, 2)}  # (roi, scales)
FLOAT16_MAX = 65504.0


def _float32_only_names(graph: onnx.GraphProto) -> set[str]:
    names: set[str] = set()
    for node in graph.node:
        for index in FLOAT32_INPUTS.get(node.op_type, ()):
            if index < len(node.input) and node.input[index]:
                names.add(node.input[index])
    return names


def _demote_tensor(tensor: onnx.TensorProto) -> onnx.TensorProto:
    array = numpy_helper.to_array(tensor)
    target = NUMPY_DEMOTED.get(array.dtype)
    if target is None:
        return tensor
    if target is np.float16 and array.size and float(np.abs(array).max()) > FLOAT16_MAX:
        raise ExportError(
            f"constant {tensor.name or '(unnamed)'} holds {float(np.abs(array).max()):.4g}, "
            f"beyond float16's {FLOAT16_MAX:.0f}: pin the op that uses it"
        )
    return numpy_helper.from_array(array.astype(target), tensor.name)


def _demote_node(node: onnx.NodeProto, keep: set[str]) -> None:
    if node.op_type in ("If", "Loop", "Scan"):
        raise ExportError(f"cannot demote a graph with control flow (node {node.name})")
    if node.op_type == "Constant" and node.output[0] in keep:
        return
    for attribute in node.attribute:
        if node.op_type == "Cast" and attribute.name == "to":
            attribute.i = DEMOTED.get(attribute.i, attribute.i)
        elif attribute.type == onnx.AttributeProto.TENSOR:
            attribute.t.CopyFrom(_demote_tensor(attribute.t))


def _is_cast_to_float(node: onnx.NodeProto) -> bool:
    return node.op_type == "Cast" and node.attribute[0].i == TensorProto.FLOAT


def _cast_input(graph: onnx.GraphProto, name: str) -> None:
    """Readers of the float32 input ``name`` other than Casts to float32 read it as float16."""
    half = f"{name}_float16"
    readers = [node for node in graph.node if name in node.input and not _is_cast_to_float(node)]
    for node in readers:
        node.input[:] = [half if item == name else item for item in node.input]
    if readers:
        cast = onnx.helper.make_node("Cast", [name], [half], to=TensorProto.FLOAT16)
        graph.node.insert(0, cast)


def _cast_output(graph: onnx.GraphProto, name: str) -> None:
    """The float32 output ``name`` computed in float16 and cast at the end."""
    half = f"{name}_float16"
    for node in graph.node:
        node.input[:] = [half if item == name else item for item in node.input]
        node.output[:] = [half if item == name else item for item in node.output]
    graph.node.append(onnx.helper.make_node("Cast", [half], [name], to=TensorProto.FLOAT))


def demote_file(path: Path, threshold: int | None = None, target: Path | None = None) -> None:
    """Demote the graph at ``path`` (and its external data) into ``target`` (default: in place);
    saved as :func:`~facert.export.harness.onnx.save_onnx` saves (``threshold``). A graph too
    large for onnx's in-memory checks is checked by its path once saved."""
    target = path if target is None else target
    model = onnx.load(str(path))  # reads the external data file beside it, if any
    large = is_large(model)
    save_onnx(demote_to_float16(model, check=not large), target, threshold)
    if large:
        onnx.checker.check_model(str(target), full_check=True)


def demote_to_float16(model: onnx.ModelProto, check: bool = True) -> onnx.ModelProto:
    """A copy of ``model`` with float32 -> float16 and float64 -> float32 everywhere but in its
    interface (see above); checked (types, shapes) unless ``check`` is False."""
    result = onnx.ModelProto()
    result.CopyFrom(model)
    graph = result.graph
    keep = _float32_only_names(graph)
    for index, initializer in enumerate(graph.initializer):
        if initializer.name not in keep:
            graph.initializer[index].CopyFrom(_demote_tensor(initializer))
    for node in graph.node:
        _demote_node(node, keep)
    for value in graph.value_info:
        if value.name not in keep:
            tensor_type = value.type.tensor_type
            tensor_type.elem_type = DEMOTED.get(tensor_type.elem_type, tensor_type.elem_type)
    for value in graph.input:
        if value.type.tensor_type.elem_type == TensorProto.FLOAT:
            _cast_input(graph, value.name)
    for value in graph.output:
        if value.type.tensor_type.elem_type == TensorProto.FLOAT:
            _cast_output(graph, value.name)
    if check:
        onnx.checker.check_model(result)
        onnx.shape_inference.infer_shapes(result, check_type=True, strict_mode=True)
    return result
