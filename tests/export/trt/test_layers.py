"""The pin check on graphs made for it: onnx's type inference finds the float32 island of an FP16
graph, and a network that computes that node in half precision is caught."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
trt = pytest.importorskip("tensorrt_rtx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from facert.export.trt.layers import check_pins, pinned_nodes, tensor_types  # noqa: E402


def _graph(path: Path, pinned: bool) -> Path:
    """x (N, 8) float32 -> float16 matmul -> softmax "soft" (float32 when ``pinned``, else float16)
    -> float32 output."""
    weight = numpy_helper.from_array(np.eye(8, dtype=np.float16) * 0.5, "weight")
    nodes = [
        helper.make_node("Cast", ["x"], ["x16"], name="to_half", to=TensorProto.FLOAT16),
        helper.make_node("MatMul", ["x16", "weight"], ["mm"], name="matmul"),
    ]
    if pinned:
        nodes += [
            helper.make_node("Cast", ["mm"], ["mm32"], name="pin_in", to=TensorProto.FLOAT),
            helper.make_node("Softmax", ["mm32"], ["soft_out"], name="soft", axis=-1),
            helper.make_node("Identity", ["soft_out"], ["y"], name="out"),
        ]
    else:
        nodes += [
            helper.make_node("Softmax", ["mm"], ["soft_out"], name="soft", axis=-1),
            helper.make_node("Cast", ["soft_out"], ["y"], name="out", to=TensorProto.FLOAT),
        ]
    graph = helper.make_graph(
        nodes,
        "pins",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def _network_tensors(path: Path) -> dict[str, str]:
    logger = trt.Logger(trt.Logger.ERROR)
    network = trt.Builder(logger).create_network(
        1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    )
    assert trt.OnnxParser(network, logger).parse_from_file(str(path))
    return tensor_types(network)


def test_the_float32_island_is_the_pin_and_holds_in_the_network(tmp_path: Path) -> None:
    graph = _graph(tmp_path / "pinned.onnx", pinned=True)
    pinned = pinned_nodes(graph)
    assert pinned == {"soft": ["soft_out"]}  # Casts and Identity are plumbing, the matmul is half
    facts = check_pins(pinned, _network_tensors(graph))
    assert facts["not_fp32"] == [] and facts["absent"] == [] and facts["layers"] == ["soft"]


def test_a_network_that_computes_the_pin_in_half_is_caught(tmp_path: Path) -> None:
    pinned = pinned_nodes(_graph(tmp_path / "pinned.onnx", pinned=True))
    unpinned = _network_tensors(_graph(tmp_path / "unpinned.onnx", pinned=False))
    assert unpinned["soft_out"] == "HALF"
    facts = check_pins(pinned, unpinned)
    assert facts["not_fp32"] == ["soft"] and facts["fp32_layers_found"] == 0


def test_a_pin_the_network_lacks_is_listed_absent() -> None:
    facts = check_pins({"gone": ["gone_out"]}, {"other": "FLOAT"})
    assert facts["absent"] == ["gone"] and facts["fp32_layers_found"] == 0
