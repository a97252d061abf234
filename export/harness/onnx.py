"""The one place a torch module becomes an ONNX file: :func:`write_onnx`, at :data:`OPSET`.

Every family's exporter (MTCNN's three networks, the weight-free restorers, the learned restorers
through :mod:`facert.export.harness.learned`) traces its module here, with the legacy TorchScript
exporter (``dynamo=False``) and constant folding. The deprecated TorchScript exporter is the one
chosen on purpose: it handles these graphs at opset 17, while ``torch.export`` needs onnxscript and
opset 18 (models.md section 1.10). An export that fails its own checks raises
:class:`facert.errors.ExportError` (exit code 1), whichever family it is.

External data: a protobuf file cannot pass 2 GB, and a graph holding more tensor bytes than
:data:`EXTERNAL_DATA_THRESHOLD` (DFDNet with large dictionaries) is written with its tensors in ONE
file beside it, ``<graph>.data`` (:func:`facert.models.artifacts.data_file_name`; the onnx library's
external-data format, location relative to the graph), which the manifest lists with the graph.
Below the threshold a graph is written inline exactly as before (the bytes the exporter wrote).
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

from facert.models.artifacts import data_file_name

OPSET = 17  # the ONNX opset of every graph facert exports; manifests record it
# What one protobuf message can hold, less 128 MiB for the graph's own structure: past it a graph
# needs external data, and onnx's in-memory checker and shape inference refuse it.
PROTOBUF_LIMIT = 2**31 - 2**27
# Graphs whose tensors hold more bytes than this get an external data file. Read at each call
# (a test lowers it to force external data on every family's tiny graphs).
EXTERNAL_DATA_THRESHOLD = PROTOBUF_LIMIT
# Tensors smaller than this stay inside the graph when the data goes out (shapes, scalars).
INLINE_TENSOR_BYTES = 1024


def data_file(path: Path) -> Path:
    """The external data file of the graph at ``path`` (which may not exist)."""
    return path.with_name(data_file_name(path.name))


def remove_graph(path: Path) -> None:
    """Delete the graph at ``path`` and its external data file, those that exist."""
    for file in (path, data_file(path)):
        file.unlink(missing_ok=True)


def _tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    graphs = [model.graph]
    while graphs:
        graph = graphs.pop()
        yield from graph.initializer
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.TENSOR:
                    yield attribute.t
                yield from attribute.tensors
                graphs.extend([attribute.g] if attribute.HasField("g") else [])
                graphs.extend(attribute.graphs)


def tensor_bytes(model: onnx.ModelProto) -> int:
    """The bytes ``model``'s tensors take (initializers and constants, data loaded)."""
    return sum(tensor.ByteSize() for tensor in _tensors(model))


def threshold_or_default(threshold: int | None) -> int:
    """``threshold``, or :data:`EXTERNAL_DATA_THRESHOLD` as it is now."""
    return EXTERNAL_DATA_THRESHOLD if threshold is None else threshold


def save_onnx(model: onnx.ModelProto, path: Path, threshold: int | None = None) -> None:
    """Save ``model`` (its tensor data loaded) at ``path``: inline when its tensors hold at most
    ``threshold`` bytes (default :data:`EXTERNAL_DATA_THRESHOLD`), else with every tensor of
    INLINE_TENSOR_BYTES or more in :func:`data_file` (a stale one is replaced: onnx appends to
    an existing file)."""
    data = data_file(path)
    data.unlink(missing_ok=True)
    if tensor_bytes(model) <= threshold_or_default(threshold):
        onnx.save_model(model, str(path))
        return
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=data.name,
        size_threshold=INLINE_TENSOR_BYTES,
    )


def is_large(model: onnx.ModelProto) -> bool:
    """Whether ``model`` is past what onnx's in-memory checker and shape inference take (check
    such a model by its path once saved)."""
    return tensor_bytes(model) > PROTOBUF_LIMIT


def write_onnx(
    module: nn.Module,
    example: Sequence[torch.Tensor],
    path: Path,
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: Mapping[str, Mapping[int, str]],
    external_threshold: int | None = None,
) -> None:
    """Trace ``module`` on the ``example`` inputs (one tensor per input name, batch 1) into ``path``.

    ``dynamic_axes``: per input or output name, its dynamic axes (index -> name, "batch" for 0).
    Sizes the module reads as Python ints are traced as constants on purpose (the exported graphs
    fix every axis but those named dynamic), so the tracer's warnings about them are silenced.
    ``external_threshold``: the tensor bytes past which the graph's data goes to
    :func:`data_file` (default :data:`EXTERNAL_DATA_THRESHOLD`; see the module doc). The trace is written
    in a temporary folder beside ``path`` first (PyTorch writes a graph past 2 GB as one file per
    tensor), then moved (bytes unchanged) or re-saved with its external data file.
    """
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".trace-") as folder:
        traced = Path(folder) / path.name
        names = {"input_names": list(input_names), "output_names": list(output_names)}
        axes = {name: dict(axes) for name, axes in dynamic_axes.items()}
        _trace(module, example, traced, {**names, "dynamic_axes": axes})
        files = list(Path(folder).iterdir())
        if len(files) == 1 and traced.stat().st_size <= threshold_or_default(external_threshold):
            data_file(path).unlink(missing_ok=True)
            traced.replace(path)
            return
        save_onnx(onnx.load(str(traced)), path, threshold=external_threshold)


def _trace(
    module: nn.Module, example: Sequence[torch.Tensor], path: Path, interface: Mapping[str, Any]
) -> None:
    """torch.onnx.export into ``path``; ``interface``: its input_names, output_names and
    dynamic_axes arguments."""
    with torch.no_grad(), warnings.catch_warnings():
        # torch >= 2.9 deprecates the TorchScript exporter (and warns from inside it too).
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # Constant folding leaves some Slice nodes (weight chunks) to run time, and says so.
        warnings.filterwarnings("ignore", message="Constant folding", category=UserWarning)
        torch.onnx.export(
            module,
            tuple(example),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            do_constant_folding=True,
            **interface,
        )
