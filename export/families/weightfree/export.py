"""Export of a weight-free restorer (ISPL, WIPA) to ONNX, with the checks that make it trustworthy.

The graph takes ``image`` (N, 3, S, S) float32 in ``spec.input_range`` and one (N,) float32 input per
``graph_input`` option, named like the option, and returns ``restored`` of the image's layout. The
batch axis is dynamic. Two checks run on a deterministic batch of four synthetic faces-like images
with four different option settings:

* ONNX Runtime (CPU, 2 threads) against the torch module: max abs difference at most
  :data:`PARITY_TOLERANCE` (a quarter of one uint8 level of the [0, 1] output);
* the batch of four against the same four images run one at a time through ONNX Runtime: at most
  :data:`BATCH_TOLERANCE`, so no image leaks into another (per-image statistics stay per image).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from facert.backends import engine_for
from facert.errors import ExportError
from facert.export.harness.onnx import OPSET, write_onnx
from facert.models.registry import ModelSpec

PARITY_TOLERANCE = 1e-3
BATCH_TOLERANCE = 1e-4
CHECK_BATCH = 4


@contextmanager
def reference_mode(onednn: bool = False) -> Iterator[None]:
    """Run the torch modules without autograd, and without oneDNN convolutions unless ``onednn``.

    oneDNN builds a primitive for every new convolution shape: ISPL's many single-channel wavelet
    convolutions make its first forward pass take ~10 s instead of ~1.5 s without it, while WIPA's
    grouped 15x15 line filters run ~20x faster with it. The arithmetic is the same either way (the
    parity check covers it).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="TF32 acceleration", category=UserWarning)
        flags = torch.backends.mkldnn.flags(enabled=onednn)
        flags.__enter__()
    try:
        with torch.no_grad():
            yield
    finally:
        flags.__exit__(None, None, None)


def sample_images(size: int, count: int = CHECK_BATCH, seed: int = 0) -> torch.Tensor:
    """(count, 3, size, size) float32 in [0, 1]: smooth random shading, edges and fine grain."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, 3, 8, 8, generator=generator)
    shading = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic")
    grid = torch.linspace(-1, 1, size)
    disc = ((grid[None, :] ** 2 + grid[:, None] ** 2) < 0.4).float()  # one sharp round edge
    grain = 0.03 * torch.randn(count, 3, size, size, generator=generator)
    return (0.6 * shading + 0.3 * disc + grain).clamp(0.0, 1.0)


def sample_options(spec: ModelSpec, count: int = CHECK_BATCH) -> list[torch.Tensor]:
    """One (count,) tensor per graph-input option: the default first, then spread over its range."""
    options = []
    for option in spec.options:
        if not option.graph_input:
            continue
        spread = torch.linspace(option.minimum, option.maximum, count + 1)[1:]
        values = torch.cat([torch.tensor([option.default]), spread[: count - 1]])
        options.append(values.float())
    return options


def export_weight_free(
    spec: ModelSpec,
    module: nn.Module,
    workdir: Path,
    *,
    structure: dict[str, Any],
    onednn: bool = False,
    filename: str | None = None,
    size: int | None = None,
    extra_inputs: dict[str, torch.Tensor] | None = None,
) -> dict[str, Any]:
    """Write ``workdir/<filename>`` (default ``spec.onnx_files[0]``), check it, return the facts.

    ``onednn`` picks the faster torch convolution backend for the reference run (see
    :func:`reference_mode`). ``size``: the image's height and width (default
    ``spec.input_size``). ``extra_inputs``: graph inputs between the image and the options, by
    name, each a (:data:`CHECK_BATCH`, ...) tensor of check values (a batch axis, dynamic).
    """
    module = module.eval()
    extras = dict(extra_inputs or {})
    names = [*extras, *(o.name for o in spec.options if o.graph_input)]
    image = sample_images(size or spec.input_size)
    options = [*extras.values(), *sample_options(spec)]
    path = workdir / (filename or spec.onnx_files[0])
    with reference_mode(onednn):
        expected = module(image, *options).numpy()
        write_onnx(
            module,
            [image[:1], *(o[:1] for o in options)],
            path,
            input_names=["image", *names],
            output_names=["restored"],
            dynamic_axes={name: {0: "batch"} for name in ["image", *names, "restored"]},
        )
    feeds = {"image": image.numpy(), **{n: v.numpy() for n, v in zip(names, options, strict=True)}}
    parity, batch_difference = check_parity(path, feeds, expected)
    return {
        "opset": OPSET,
        "precision_policy": [],
        "inputs": ["image", *names],
        "outputs": ["restored"],
        "structure": structure,
        "parity": {
            "ort_vs_torch_max_abs": parity,
            "tolerance": PARITY_TOLERANCE,
            "batch_vs_single_max_abs": batch_difference,
            "batch_tolerance": BATCH_TOLERANCE,
            "check_batch": CHECK_BATCH,
        },
    }


def check_parity(
    path: Path, feeds: dict[str, np.ndarray], expected: np.ndarray
) -> tuple[float, float]:
    """The graph at ``path`` in ONNX Runtime (CPU, 2 threads) on ``feeds`` (CHECK_BATCH rows):
    max |batch run - ``expected``| (torch's outputs) and max |batch run - single runs|; raises
    :class:`ExportError` past PARITY_TOLERANCE or BATCH_TOLERANCE."""
    with engine_for(path, threads=2) as session:
        batched = session.run(feeds)["restored"]
        rows = [
            {name: value[i : i + 1] for name, value in feeds.items()} for i in range(CHECK_BATCH)
        ]
        singles = np.concatenate([session.run(row)["restored"] for row in rows])
    parity = float(np.abs(batched - expected).max())
    batch_difference = float(np.abs(batched - singles).max())
    if parity > PARITY_TOLERANCE:
        raise ExportError(
            f"ONNX Runtime differs from torch by {parity:.2e} (> {PARITY_TOLERANCE})",
            path=str(path),
        )
    if batch_difference > BATCH_TOLERANCE:
        raise ExportError(
            f"a batch of {CHECK_BATCH} differs from single runs by {batch_difference:.2e}",
            path=str(path),
        )
    return parity, batch_difference
