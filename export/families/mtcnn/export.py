"""Export MTCNN's P-Net, R-Net and O-Net to ONNX, checked against torch on real photo patches.

``export_mtcnn`` is the exporter named by the ``mtcnn`` spec (see :mod:`facert.export.harness.api`). It
writes three graphs (:func:`facert.export.harness.onnx.write_onnx`, opset 17):

- ``pnet.onnx``: ``image`` (N, 3, H, W), N, H and W dynamic;
- ``rnet.onnx``: ``image`` (N, 3, 24, 24), N dynamic;
- ``onet.onnx``: ``image`` (N, 3, 48, 48), N dynamic;

with the outputs named in :data:`facert.models.specs.mtcnn.OUTPUT_NAMES`, traced from the networks'
export form (:func:`facert.export.families.mtcnn.net.export_form`). Each graph is then run with ONNX
Runtime on patches of a real photo (matplotlib's grace_hopper.jpg or scikit-image's astronaut.png
when one of them is installed, else a deterministic synthetic image, and the manifest says which),
and every output must agree with the official torch module (``nn.PReLU`` and all) within :data:`PARITY_TOLERANCE`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from facert.backends import engine_for
from facert.errors import ExportError, WeightsError
from facert.export.families.mtcnn.net import NETWORKS, export_form
from facert.export.harness.checkpoint import load_state_dict, load_strict
from facert.export.harness.onnx import OPSET, write_onnx
from facert.models.registry import ModelSpec
from facert.models.specs.mtcnn import CROP_SIZES, INPUT_NAME, OUTPUT_NAMES

# Max abs difference allowed between ONNX Runtime and torch on any output. Outputs are O(1)
# (probabilities in [0, 1], offsets and landmark fractions within about [-1, 2]); float32 convolutions
# summed in a different order differ by ~1e-6, so 1e-4 leaves a wide margin yet still catches a
# wrong layer, layout or weight (those give differences of 1e-2 and more).
PARITY_TOLERANCE = 1e-4
PATCHES = 16  # crops per parity batch of R-Net and O-Net


def load_network(name: str, path: Path, spec: ModelSpec) -> torch.nn.Module:
    """The torch module ``name`` (pnet, rnet, onet) with the weights in ``path`` loaded strictly."""
    module = NETWORKS[name]()
    load_strict(module, load_state_dict(path, spec.weights[0]), path)
    return module.eval()


def _sources_by_name(sources: list[Path]) -> dict[str, Path]:
    found = {path.stem: path for path in sources}
    missing = [name for name in NETWORKS if name not in found]
    if missing:
        raise WeightsError(
            f"MTCNN export needs {', '.join(n + '.pt' for n in NETWORKS)}; missing {missing}; "
            "run `facert models fetch mtcnn`"
        )
    return found


def _export_graph(name: str, module: torch.nn.Module, target: Path) -> None:
    """Trace :func:`export_form` of ``module`` into ``target``."""
    size = CROP_SIZES.get(name, 48)
    axes = {0: "batch"} if name in CROP_SIZES else {0: "batch", 2: "height", 3: "width"}
    write_onnx(
        export_form(module),
        [torch.zeros(1, 3, size, size)],
        target,
        input_names=[INPUT_NAME],
        output_names=OUTPUT_NAMES[name],
        dynamic_axes={INPUT_NAME: axes},
    )


def parity_photo() -> tuple[np.ndarray, str]:
    """(H, W, 3) uint8 RGB: a real photo from an installed package, or a synthetic stand-in."""
    candidates = (
        ("matplotlib", ("mpl-data", "sample_data", "grace_hopper.jpg")),
        ("skimage", ("data", "astronaut.png")),
    )
    for package, parts in candidates:
        found = importlib.util.find_spec(package)
        if found is None or found.origin is None:
            continue
        pixels = cv2.imread(str(Path(found.origin).parent.joinpath(*parts)), cv2.IMREAD_COLOR)
        if pixels is not None:
            return np.ascontiguousarray(pixels[:, :, ::-1]), f"{package}:{parts[-1]}"
    rng = np.random.default_rng(0)
    coarse = rng.uniform(0, 255, (12, 12, 3)).astype(np.float32)
    smooth = cv2.resize(coarse, (384, 384), interpolation=cv2.INTER_CUBIC)
    noisy = smooth + rng.normal(0, 8, smooth.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8), "synthetic (no sample photo installed)"


def _normalise(rgb: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB -> (N, 3, H, W) float32, (x - 127.5) / 128."""
    return ((rgb.astype(np.float32) - 127.5) * 0.0078125).transpose(0, 3, 1, 2).copy()


def parity_inputs(name: str, photo: np.ndarray) -> list[np.ndarray]:
    """Input batches for network ``name`` cut from ``photo`` ((H, W, 3) uint8 RGB)."""
    height, width = photo.shape[:2]
    if name == "pnet":
        odd = cv2.resize(
            photo, (width * 3 // 5 | 1, height * 3 // 5 | 1), interpolation=cv2.INTER_AREA
        )
        small = cv2.resize(photo, (37, 29), interpolation=cv2.INTER_AREA)
        return [
            _normalise(photo[None]),
            _normalise(np.stack([odd, odd[::-1, ::-1]])),
            _normalise(small[None]),
        ]
    size = CROP_SIZES[name]
    rng = np.random.default_rng(1)
    crops = []
    for _ in range(PATCHES):
        side = int(rng.integers(12, min(height, width) // 2))
        top, left = int(rng.integers(0, height - side)), int(rng.integers(0, width - side))
        patch = photo[top : top + side, left : left + side]
        crops.append(cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA))
    return [_normalise(np.stack(crops))]


def _max_diff(actual: list[np.ndarray], expected: list[np.ndarray]) -> float:
    return max(float(np.abs(a - b).max()) for a, b in zip(actual, expected, strict=True))


def check_parity(name: str, module: torch.nn.Module, path: Path, photo: np.ndarray) -> float:
    """The largest |ONNX Runtime - torch| over every output of every parity batch, raising past the
    tolerance. For R-Net and O-Net a one-row run must also match that row of the batched run."""
    worst = 0.0
    with engine_for(path) as session:

        def run(batch: np.ndarray) -> list[np.ndarray]:
            outputs = session.run({INPUT_NAME: batch})
            return [outputs[o] for o in OUTPUT_NAMES[name]]

        for batch in parity_inputs(name, photo):
            with torch.no_grad():
                expected = [t.numpy() for t in module(torch.from_numpy(batch))]
            batched = run(batch)
            worst = max(worst, _max_diff(batched, expected))
            if name in CROP_SIZES:  # batching must not mix rows
                worst = max(worst, _max_diff(run(batch[:1]), [o[:1] for o in batched]))
    if not worst <= PARITY_TOLERANCE:
        raise ExportError(
            f"{path.name}: ONNX Runtime differs from torch by {worst:.3g} "
            f"(tolerance {PARITY_TOLERANCE})"
        )
    return worst


def export_mtcnn(spec: ModelSpec, sources: list[Path], workdir: Path) -> dict[str, Any]:
    """Write pnet.onnx, rnet.onnx and onet.onnx into ``workdir`` from the three ``.pt`` files in
    ``sources``; return the manifest facts (opset, precision policy, parity reached)."""
    import onnx

    paths = _sources_by_name(sources)
    photo, photo_name = parity_photo()
    parity: dict[str, Any] = {"tolerance": PARITY_TOLERANCE, "inputs": photo_name}
    for name in NETWORKS:
        module = load_network(name, paths[name], spec)
        target = workdir / f"{name}.onnx"
        _export_graph(name, module, target)
        onnx.checker.check_model(str(target))
        parity[f"{name}_max_abs_diff"] = check_parity(name, module, target, photo)
    return {"opset": OPSET, "precision_policy": [], "parity": parity}
