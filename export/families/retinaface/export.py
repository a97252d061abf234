"""Export RetinaFace (either backbone) to ONNX from facexlib's checkpoint, checked against torch.

``export_retinaface`` is the exporter named by the ``retinaface-r50`` and ``retinaface-mnet`` specs.
It loads the checkpoint as facexlib's ``init_detection_model`` does (a leading ``module.`` stripped
from the keys that carry it, then a strict load: :mod:`facert.export.harness.checkpoint` names the
file and what differs), and writes ``model.onnx``: input ``image`` (N, 3, H, W) float32 (BGR levels
minus the mean), N, H and W dynamic; outputs ``loc``, ``conf``, ``landmarks`` (N, P, 4 / 2 / 10),
P dynamic. The tracer folds every BatchNorm into the conv before it (eval mode); the export
checks that no BatchNormalization node is left. ONNX Runtime must then match the torch module on
a real photo at its own size and at an odd size (an input that is no multiple of the strides:
the FPN's upsampling to an exact size and the heads' cell counts are checked there).
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
from facert.export.families.retinaface.net import VARIANTS, RetinaFace
from facert.export.harness.checkpoint import load_state_dict, load_strict
from facert.export.harness.onnx import OPSET, write_onnx
from facert.models.registry import ModelSpec
from facert.models.specs.retinaface import INPUT_NAME, OUTPUT_NAMES
from facert.stages.detect.retinaface import network_input

# Largest |ONNX Runtime - torch| allowed, relative to the output's largest magnitude (at least 1).
# Folded BatchNorms and another convolution order change float32 sums by ~1e-7 per layer; through
# ResNet-50's 53 layers that grew to 0.8-1.2e-4 with the tests' deterministic weights (a random
# network amplifies rounding more than a trained one), MobileNet's to 2e-6. A wrong layer, layout
# or size moves outputs by 1e-2 and more, so 5e-4 still catches every such error without failing
# on another CPU's rounding.
PARITY_TOLERANCE = 5e-4
ODD_SIZE = (203, 157)  # (width, height): no multiple of 8, 16 or 32
PREFIX = "module."  # DataParallel's, stripped by facexlib's loader


def load_network(spec: ModelSpec, path: Path) -> RetinaFace:
    """The port for ``spec`` with the checkpoint at ``path`` loaded strictly (eval mode)."""
    if spec.name not in VARIANTS:
        raise ExportError(f"{spec.name} is not a RetinaFace variant ({', '.join(VARIANTS)})")
    state = load_state_dict(path, spec.weights[0])
    state = {k.removeprefix(PREFIX): v for k, v in state.items()}
    module = RetinaFace(VARIANTS[spec.name])
    load_strict(module, state, path)
    return module.eval()


def parity_inputs(photo_bgr: np.ndarray) -> list[np.ndarray]:
    """The photo at its own size and resized (area) to :data:`ODD_SIZE`."""
    odd = cv2.resize(photo_bgr, ODD_SIZE, interpolation=cv2.INTER_AREA)
    return [network_input(photo_bgr, 1.0), network_input(odd, 1.0)]


def relative_diff(actual: np.ndarray, expected: np.ndarray) -> float:
    """max |actual - expected| / max(1, max |expected|); shapes must agree."""
    if actual.shape != expected.shape:
        raise ExportError(f"output shape {actual.shape}, expected {expected.shape}")
    return float(np.abs(actual - expected).max() / max(1.0, float(np.abs(expected).max())))


def check_parity(module: RetinaFace, path: Path, photo_bgr: np.ndarray) -> dict[str, float]:
    """Per output, the largest relative difference of ONNX Runtime from torch over the parity
    inputs; :class:`ExportError` past :data:`PARITY_TOLERANCE`."""
    worst = dict.fromkeys(OUTPUT_NAMES, 0.0)
    with engine_for(path) as session:
        for blob in parity_inputs(photo_bgr):
            with torch.no_grad():
                expected = [t.numpy() for t in module(torch.from_numpy(blob))]
            outputs = session.run({INPUT_NAME: blob})
            for name, reference in zip(OUTPUT_NAMES, expected, strict=True):
                worst[name] = max(worst[name], relative_diff(outputs[name], reference))
    for name, value in worst.items():
        if not value <= PARITY_TOLERANCE:
            raise ExportError(
                f"{path.name}: ONNX Runtime's {name} differs from torch by {value:.3g} of its "
                f"range (tolerance {PARITY_TOLERANCE})"
            )
    return {f"{name}_max_rel_diff": value for name, value in worst.items()}


def write_graph(module: RetinaFace, path: Path) -> None:
    """Trace ``module`` into ``path`` and check that every BatchNorm was folded."""
    import onnx

    axes = {0: "batch", 2: "height", 3: "width"}
    write_onnx(
        module,
        [torch.zeros(1, 3, 64, 96)],
        path,
        input_names=[INPUT_NAME],
        output_names=OUTPUT_NAMES,
        dynamic_axes={INPUT_NAME: axes, **{n: {0: "batch", 1: "anchors"} for n in OUTPUT_NAMES}},
    )
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    left = sum(node.op_type == "BatchNormalization" for node in model.graph.node)
    if left:
        raise ExportError(f"{path.name}: {left} BatchNormalization nodes were not folded")


def export_retinaface(spec: ModelSpec, sources: list[Path], workdir: Path) -> dict[str, Any]:
    """Write model.onnx into ``workdir`` from facexlib's checkpoint in ``sources``; return the
    manifest facts (opset, parity reached)."""
    if len(sources) != 1:
        raise WeightsError(f"{spec.name}'s export takes one checkpoint, got {len(sources)} files")
    module = load_network(spec, sources[0])
    target = workdir / spec.onnx_files[0]
    write_graph(module, target)
    photo, photo_name = parity_photo()
    parity: dict[str, Any] = {
        "tolerance_relative": PARITY_TOLERANCE,
        "inputs": [f"{photo_name} ({photo.shape[1]}x{photo.shape[0]})", f"resized {ODD_SIZE}"],
        **check_parity(module, target, np.ascontiguousarray(photo[:, :, ::-1])),
    }
    return {"opset": OPSET, "precision_policy": [], "parity": parity}
