"""Export Real-ESRGAN x2/x4 (RRDBNet) to ONNX, checked against the PyTorch port.

``model.onnx``: FP32, opset 17, input ``image`` (N, 3, H, W) float32 RGB [0, 1] with batch, height
and width free (x2: even sizes), output ``upscaled`` (N, 3, sH, sW). The export checks it with ONNX
Runtime against the port on a real photo (grace_hopper or astronaut, resized) at two sizes neither
of which it was traced at: max abs difference at most :data:`TOLERANCE`; and batch rows = single
runs on tiles of that photo at its own resolution. ``model.fp16.onnx``: the same graph in float16
(float32 interface), for GPU engines, checked >= 40 dB against FP32 on those tiles, refused (the
FP32 graph ships alone) when it falls short (:mod:`facert.export.families.realesrgan.checks`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from facert.backends import engine_for
from facert.errors import ExportError, WeightsError
from facert.export.families.mtcnn.export import parity_photo
from facert.export.families.realesrgan.checks import fp16_graph, fp32_batch_check
from facert.export.families.realesrgan.net import RRDBConfig, RRDBNet, load_rrdbnet
from facert.export.harness.checkpoint import load_state_dict
from facert.export.harness.checks import json_safe
from facert.export.harness.onnx import OPSET, write_onnx
from facert.export.harness.source_check import check_checkpoint, single_source
from facert.models.artifacts import FP16_GRAPH
from facert.models.registry import ModelSpec

INPUT, OUTPUT = "image", "upscaled"
TRACE_SIZE = (32, 32)  # (height, width) the graph is traced at
CHECK_SIZES = ((40, 56), (64, 36))  # (height, width): other sizes, so free axes are proven
# ONNX Runtime vs PyTorch, float32, outputs of order 1 (trained weights) to 50 (deterministic test
# weights): convolutions summed in another order differ by a few ulps per layer.
TOLERANCE = 1e-4


def check_photo(height: int, width: int) -> np.ndarray:
    """(1, 3, height, width) float32 RGB [0, 1]: the parity photo resized (area)."""
    photo, _ = parity_photo()
    small = cv2.resize(photo, (width, height), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(small.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0


def export_rrdbnet(model: RRDBNet, path: Path, *, fp16: bool = True) -> dict[str, Any]:
    """Write ``model`` (eval, FP32) to ``path`` and check it, then (``fp16``) its FP16 graph
    beside it (``model.fp16.onnx``); returns the manifest facts. :class:`ExportError` when ONNX
    Runtime and PyTorch differ by more than :data:`TOLERANCE`, or batch rows from single runs."""
    model = model.eval()
    write_onnx(
        model,
        [torch.from_numpy(check_photo(*TRACE_SIZE))],
        path,
        input_names=[INPUT],
        output_names=[OUTPUT],
        dynamic_axes={
            INPUT: {0: "batch", 2: "height", 3: "width"},
            OUTPUT: {0: "batch", 2: "out_height", 3: "out_width"},
        },
    )
    parity: dict[str, Any] = {"inputs": parity_photo()[1], "tolerance": TOLERANCE}
    with engine_for(path) as engine:
        for height, width in CHECK_SIZES:
            image = check_photo(height, width)
            with torch.no_grad():
                expected = model(torch.from_numpy(image)).numpy()
            actual = next(iter(engine.run({INPUT: image}).values()))
            if actual.shape != expected.shape:
                raise ExportError(f"{path.name}: output {actual.shape}, expected {expected.shape}")
            worst = float(np.abs(actual - expected).max())
            parity[f"{height}x{width}_max_abs_diff"] = worst
            if not worst <= TOLERANCE:
                raise ExportError(
                    f"{path.name} differs from PyTorch by {worst:.3g} at {height}x{width} "
                    f"(tolerance {TOLERANCE})"
                )
    reference, batch_facts = fp32_batch_check(path, INPUT, TOLERANCE)
    parity.update(batch_facts)
    files = {path.name: {"precision": "fp32", "io_dtype": "float32"}}
    refused = None
    if fp16:
        fp16_facts = fp16_graph(path, path.parent / FP16_GRAPH, INPUT, reference)
        refused = fp16_facts.pop("fp16_refused", None)
        parity.update(fp16_facts)
        if refused is None:
            files[FP16_GRAPH] = {"precision": "fp16", "io_dtype": "float32"}
    return {
        "opset": OPSET,
        "precision_policy": [],
        "graph": {
            "inputs": [INPUT],
            "outputs": [OUTPUT],
            "scale": model.scale,
            "dynamic_axes": {"batch": 0, "height": 2, "width": 3},
        },
        "onnx": files,
        **({} if refused is None else {"fp16_refused": refused}),
        "parity": json_safe(parity),
    }


class RealEsrganExporter:
    """The exporter of the realesrgan-x2/x4 specs (official RRDBNet configuration)."""

    @staticmethod
    def build(spec: ModelSpec) -> Any:
        config = RRDBConfig(scale=spec.scale)
        return lambda state, precision: load_rrdbnet(state, config)

    def __call__(self, spec: ModelSpec, sources: list[Path], workdir: Path) -> dict[str, Any]:
        source = single_source(spec, sources)
        state = load_state_dict(source, spec.weights[0])
        try:
            model = load_rrdbnet(state, RRDBConfig(scale=spec.scale))
        except WeightsError as error:
            error.path = error.path or str(source)
            raise
        return export_rrdbnet(model, workdir / spec.onnx_files[0])

    def check_sources(self, spec: ModelSpec, sources: list[Path]) -> None:
        """Refuse ``sources`` (one line, naming the file) unless it is this spec's checkpoint."""
        check_checkpoint(spec, single_source(spec, sources), self.build(spec))


export_realesrgan = RealEsrganExporter()
