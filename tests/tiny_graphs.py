"""Tiny real ONNX graphs, written with onnx's helper, for tests of the engine contract and of stages
handed their own engine. Each is a few nodes: cheap to build and to run on ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

FLOAT = TensorProto.FLOAT


def save(path: Path, nodes: list, inputs: list, outputs: list) -> Path:
    graph = helper.make_graph(nodes, path.stem, inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what ONNX Runtime 1.17 and later all read
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def restorer_graph(path: Path, size: int, parsing: bool = True) -> Path:
    """A restorer-shaped graph with one option and, with ``parsing``, one per-face extra input:
    ``restored`` = ``image`` (N, 3, S, S) float32 x ``gain`` (N,) float32, per row, + ``parsing``
    (N, 1, S, S) float32, broadcast over the channels."""
    shape = helper.make_tensor("shape", TensorProto.INT64, [4], [-1, 1, 1, 1])
    nodes = [
        helper.make_node("Constant", [], ["gain_shape"], value=shape),
        helper.make_node("Reshape", ["gain", "gain_shape"], ["gain_rows"]),
        helper.make_node("Mul", ["image", "gain_rows"], ["scaled" if parsing else "restored"]),
    ]
    inputs = [
        helper.make_tensor_value_info("image", FLOAT, ["N", 3, size, size]),
        helper.make_tensor_value_info("gain", FLOAT, ["N"]),
    ]
    if parsing:
        nodes.append(helper.make_node("Add", ["scaled", "parsing"], ["restored"]))
        inputs.append(helper.make_tensor_value_info("parsing", FLOAT, ["N", 1, size, size]))
    output = helper.make_tensor_value_info("restored", FLOAT, ["N", 3, size, size])
    return save(path, nodes, inputs, [output])
