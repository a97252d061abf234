"""A tiny ONNX graph and its TensorRT plan, for the GPU backends' tests and `make gpu-check`.

The graph: ``image`` (N, 3, 16, 16) -> 3x3 conv (3 -> 8) -> ReLU -> 3x3 conv (8 -> 3) -> + image
-> ``restored`` (N, 3, 16, 16), dynamic N, weights from a seeded generator, in float32 (the ONNX
Runtime CPU reference) or float16 (what the plan is built from, as facert's FP16 graphs are). The
plan is built by facert's builder (strongly typed, one optimization profile for batch
1..MAX_BATCH); TensorRT-RTX builds it on a machine without a GPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SIZE = 16
MAX_BATCH = 4
INPUT, OUTPUT = "image", "restored"


def tiny_graph(path: Path, dtype: type = np.float32) -> Path:
    """Write the tiny graph in ``dtype`` (float32 or float16) to ``path``; returns ``path``."""
    import onnx
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(10)
    weights = {
        "w1": rng.normal(0, 0.3, (8, 3, 3, 3)),
        "b1": rng.normal(0, 0.1, (8,)),
        "w2": rng.normal(0, 0.2, (3, 8, 3, 3)),
        "b2": rng.normal(0, 0.1, (3,)),
    }
    initializers = [numpy_helper.from_array(v.astype(dtype), k) for k, v in weights.items()]
    element = onnx.TensorProto.FLOAT16 if dtype == np.float16 else onnx.TensorProto.FLOAT
    shape = ["batch", 3, SIZE, SIZE]
    conv = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    nodes = [
        helper.make_node("Conv", [INPUT, "w1", "b1"], ["c1"], **conv),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], **conv),
        helper.make_node("Add", ["c2", INPUT], [OUTPUT]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info(INPUT, element, shape)],
        [helper.make_tensor_value_info(OUTPUT, element, shape)],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def tiny_plan(path: Path, flavour: str = "tensorrt-rtx") -> Path:
    """Build the float16 tiny graph's plan (batch 1..MAX_BATCH) into ``path`` with facert's builder
    (:class:`facert.export.trt.builder.TrtCompiler`) for ``flavour``: TensorRT for RTX for every
    compute capability it knows (none named), enterprise TensorRT for the GPU at hand."""
    from facert.export.trt.builder import TrtCompiler
    from facert.export.trt.flavour import get_flavour
    from facert.export.trt.profiles import Profile

    graph = tiny_graph(path.with_suffix(".fp16.onnx"), np.float16)
    compiler = TrtCompiler(get_flavour(flavour), (), Profile((1, MAX_BATCH, MAX_BATCH)))
    compiler.compile(graph, path, "fp16", None)
    return path


def tiny_faces(batch: int, dtype: type = np.float16, seed: int = 0) -> np.ndarray:
    """(batch, 3, 16, 16) ``dtype`` values in [-1, 1], seeded."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (batch, 3, SIZE, SIZE)).astype(dtype)


def reference(graph32: Path, faces: np.ndarray) -> np.ndarray:
    """The float32 graph's output on ONNX Runtime's CPU provider (float32)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(graph32), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {INPUT: faces.astype(np.float32)})[0])
