"""What precision each layer of an engine computes in, and the proof that the FP32 pins held.

An export's FP16 graph carries the spec's precision policy in its types: the pinned ops compute in
float32 between Casts (:mod:`facert.export.precision.policy`). :func:`pinned_nodes` reads that list
back from the ONNX file with onnx's own type inference, independently of TensorRT. The builder
parses the graph into a *strongly typed* network, in which TensorRT must compute every layer in the
type the graph gives it; :func:`layer_precisions` counts the network's layers by output type and
:func:`check_pins` looks the output of every pinned node up among the network's tensors: each must
be there, in float32.

On a machine with a GPU the built plan can also be deserialized and read with TensorRT's engine
inspector (:func:`inspect_plan`); without a driver TensorRT cannot deserialize a plan at all, so
the manifest's summary is the network's.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

# Ops that move shapes, constants or types around rather than compute: not pins, whatever their type.
PLUMBING = frozenset(
    {
        "Cast",
        "CastLike",
        "Constant",
        "ConstantOfShape",
        "Shape",
        "Size",
        "Identity",
        "Reshape",
        "Squeeze",
        "Unsqueeze",
        "Flatten",
        "Gather",
        "Slice",
        "Concat",
        "Expand",
        "Transpose",
        "Range",
        "Split",
    }
)


def pinned_nodes(graph: Path) -> dict[str, list[str]]:
    """The nodes of the ONNX file ``graph`` (an FP16 export) that compute in float32 and are not
    plumbing, by name -> their output tensors: the precision policy as the export applied it."""
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load(str(graph), load_external_data=False))
    types = {v.name: v.type.tensor_type.elem_type for v in model.graph.value_info}
    types.update({v.name: v.type.tensor_type.elem_type for v in model.graph.output})
    pinned = {}
    for node in model.graph.node:
        if node.op_type in PLUMBING or not node.output:
            continue
        if all(types.get(out) == onnx.TensorProto.FLOAT for out in node.output):
            pinned[node.name] = list(node.output)
    return dict(sorted(pinned.items()))


def _dtype_name(tensor: Any) -> str:
    return str(tensor.dtype).rsplit(".", 1)[-1]  # DataType.HALF -> HALF


def layer_precisions(network: Any) -> dict[str, str]:
    """Every layer of ``network`` (a parsed INetworkDefinition) by name -> the type of its first
    output (FLOAT, HALF, INT64...)."""
    found = {}
    for index in range(network.num_layers):
        layer = network.get_layer(index)
        if layer.num_outputs:
            found[layer.name] = _dtype_name(layer.get_output(0))
    return found


def tensor_types(network: Any) -> dict[str, str]:
    """Every tensor some layer of ``network`` computes, by name -> its type. TensorRT's ONNX parser
    gives the tensor that computes an ONNX node's output that output's name, whatever helper layers
    (shape arithmetic, named after the node) it adds around it."""
    found = {}
    for index in range(network.num_layers):
        layer = network.get_layer(index)
        for out in range(layer.num_outputs):
            tensor = layer.get_output(out)
            found[tensor.name] = _dtype_name(tensor)
    return found


def precision_summary(layers: dict[str, str]) -> dict[str, int]:
    """How many layers compute in each type, most first."""
    return dict(Counter(layers.values()).most_common())


def check_pins(pinned: dict[str, list[str]], tensors: dict[str, str]) -> dict[str, Any]:
    """Look the outputs of every pinned node up among the network's ``tensors``: the facts for the
    manifest. ``not_fp32`` lists the pinned nodes the network computes in another type (the build
    refuses those); ``absent`` the ones TensorRT's parser folded away (a constant expression)."""
    not_fp32 = sorted(
        name
        for name, outs in pinned.items()
        if any(out in tensors and tensors[out] != "FLOAT" for out in outs)
    )
    absent = sorted(
        name
        for name, outs in pinned.items()
        if name not in not_fp32 and not all(o in tensors for o in outs)
    )
    held = [name for name in pinned if name not in not_fp32 and name not in absent]
    return {
        "pinned_nodes": len(pinned),
        "fp32_layers_found": len(held),
        "not_fp32": not_fp32,
        "absent": absent,
        "layers": held,
    }


def inspect_plan(trt: Any, plan: bytes) -> dict[str, Any]:
    """The engine inspector's per-layer information of ``plan`` (needs a GPU and a driver: the
    caller checks first): the JSON TensorRT gives, parsed. Built with detailed profiling verbosity,
    every layer lists its inputs and outputs with their formats and types."""
    runtime = trt.Runtime(trt.Logger(trt.Logger.ERROR))
    engine = runtime.deserialize_cuda_engine(plan)
    if engine is None:
        raise RuntimeError("TensorRT could not deserialize the plan on this GPU")
    inspector = engine.create_engine_inspector()
    text = inspector.get_engine_information(trt.LayerInformationFormat.JSON)
    return dict(json.loads(text))
