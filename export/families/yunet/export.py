"""Export YuNet: the zoo's ONNX graph with its input's height and width freed.

The zoo's file fixes the input at 1 x 3 x 640 x 640, but nothing inside depends on it (every Reshape
targets ``[1, -1, k]``, every Resize is a nearest x2 by scales), which is why OpenCV's DNN runs it at
any padded size. ``export_yunet`` names the input's height and width (and each output's cell count)
symbolically, drops the stored intermediate shapes and checks the result with ONNX Runtime against
the untouched graph at 640 x 640 (the same arithmetic: they must agree to float rounding) and against
OpenCV's DNN, which runs the untouched graph at other sizes, on a real photo at two other sizes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facert.backends import engine_for
from facert.errors import ExportError, WeightsError
from facert.export.families.mtcnn.export import parity_photo
from facert.models.registry import ModelSpec
from facert.models.specs.yunet import HEADS, INPUT_NAME, STRIDES

OUTPUT_NAMES = tuple(f"{head}_{stride}" for head in HEADS for stride in STRIDES)
# Same graph, same runtime at 640 x 640: only the order of float sums may differ (none expected).
SAME_GRAPH_TOLERANCE = 1e-5
# ONNX Runtime vs OpenCV DNN: two convolution implementations in float32; outputs are scores in
# [0, 1] and offsets/log-sizes of order 1, so 1e-3 absorbs their rounding yet catches a wrong size
# or layout (those move outputs by 1e-1 and more).
OPENCV_TOLERANCE = 1e-3
CHECK_SIZES = ((640, 640), (480, 352), (736, 512))  # (width, height), multiples of DIVISOR


def free_input_size(path: Path) -> Any:
    """The zoo's graph from ``path`` with the input's height and width (and the outputs' cell
    counts) symbolic; :class:`WeightsError` unless it has YuNet's input and twelve heads."""
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception as error:  # onnx raises DecodeError and others for a file that is not ONNX
        raise WeightsError(
            f"not an ONNX file ({error.__class__.__name__})", path=str(path)
        ) from None
    inputs = [i.name for i in model.graph.input]
    outputs = [o.name for o in model.graph.output]
    if inputs != [INPUT_NAME] or sorted(outputs) != sorted(OUTPUT_NAMES):
        raise WeightsError(
            f"not YuNet's graph (inputs {inputs}, outputs {outputs}; expected {INPUT_NAME!r} and "
            f"{', '.join(OUTPUT_NAMES)})",
            path=str(path),
        )
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for output in model.graph.output:
        output.type.tensor_type.shape.dim[1].dim_param = "cells"
    del model.graph.value_info[:]
    onnx.checker.check_model(model)
    return model


def blob(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """(1, 3, height, width) float32 BGR levels: ``image`` resized (area) to fit, zero-padded."""
    scale = min(width / image.shape[1], height / image.shape[0])
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    canvas = np.zeros((height, width, 3), np.float32)
    canvas[: size[1], : size[0]] = resized
    return canvas.transpose(2, 0, 1)[None].copy()


def _opencv_outputs(source: Path, batch: np.ndarray) -> dict[str, np.ndarray]:
    net = cv2.dnn.readNet(str(source))
    net.setInput(batch)
    return dict(zip(OUTPUT_NAMES, net.forward(list(OUTPUT_NAMES)), strict=True))


def _max_diff(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> float:
    worst = 0.0
    for name in OUTPUT_NAMES:
        if actual[name].size != expected[name].size:
            raise ExportError(f"output {name}: {actual[name].shape} vs {expected[name].shape}")
        worst = max(worst, float(np.abs(actual[name].ravel() - expected[name].ravel()).max()))
    return worst


def check_graph(source: Path, exported: Path, photo_bgr: np.ndarray) -> dict[str, float]:
    """Max abs differences of the exported graph against the zoo's (ONNX Runtime, 640 x 640) and
    against OpenCV's DNN at every size of :data:`CHECK_SIZES`; :class:`ExportError` past a tolerance."""
    facts: dict[str, float] = {}
    with engine_for(exported) as ours, engine_for(source) as zoo:
        square = blob(photo_bgr, 640, 640)
        facts["zoo_640_max_abs_diff"] = _max_diff(
            ours.run({INPUT_NAME: square}), zoo.run({INPUT_NAME: square})
        )
        if not facts["zoo_640_max_abs_diff"] <= SAME_GRAPH_TOLERANCE:
            raise ExportError(f"{exported.name} differs from the zoo's graph at 640 x 640")
        for width, height in CHECK_SIZES:
            batch = blob(photo_bgr, width, height)
            worst = _max_diff(ours.run({INPUT_NAME: batch}), _opencv_outputs(source, batch))
            facts[f"opencv_{width}x{height}_max_abs_diff"] = worst
            if not worst <= OPENCV_TOLERANCE:
                raise ExportError(
                    f"{exported.name} differs from OpenCV's DNN at {width}x{height} by {worst:.3g} "
                    f"(tolerance {OPENCV_TOLERANCE})"
                )
    return facts


def export_yunet(spec: ModelSpec, sources: list[Path], workdir: Path) -> dict[str, Any]:
    """Write model.onnx into ``workdir`` from the zoo's file in ``sources``; return the manifest
    facts (opset, parity against the zoo's graph and OpenCV's DNN)."""
    import onnx

    if len(sources) != 1:
        raise WeightsError(
            f"YuNet's export takes the zoo's one ONNX file, got {len(sources)} files"
        )
    model = free_input_size(sources[0])
    target = workdir / spec.onnx_files[0]
    onnx.save(model, str(target))
    photo, photo_name = parity_photo()
    parity: dict[str, Any] = {
        "inputs": photo_name,
        "tolerance": {"zoo_graph": SAME_GRAPH_TOLERANCE, "opencv_dnn": OPENCV_TOLERANCE},
        **check_graph(sources[0], target, np.ascontiguousarray(photo[:, :, ::-1])),
    }
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return {"opset": opset, "precision_policy": [], "parity": parity}
