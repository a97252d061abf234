"""The one place a torch module becomes an ONNX file: :func:`write_onnx`, at :data:`OPSET`.

Every family's exporter (MTCNN's three networks, the weight-free restorers, the learned restorers
through :mod:`facert.export.harness.learned`) traces its module here, with the legacy TorchScript
exporter (``dynamo=False``) and constant folding. The deprecated TorchScript exporter is the one
chosen on purpose: it handles these graphs at opset 17, while ``torch.export`` needs onnxscript and
opset 18 (models.md section 1.10). An export that fails its own checks raises
:class:`facert.errors.ExportError` (exit code 1), whichever family it is.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

OPSET = 17  # the ONNX opset of every graph facert exports; manifests record it


def write_onnx(
    module: nn.Module,
    example: Sequence[torch.Tensor],
    path: Path,
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: Mapping[str, Mapping[int, str]],
) -> None:
    """Trace ``module`` on the ``example`` inputs (one tensor per input name, batch 1) into ``path``.

    ``dynamic_axes``: per input or output name, its dynamic axes (index -> name, "batch" for 0).
    Sizes the module reads as Python ints are traced as constants on purpose (the exported graphs
    fix every axis but those named dynamic), so the tracer's warnings about them are silenced.
    """
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
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_axes={name: dict(axes) for name, axes in dynamic_axes.items()},
            do_constant_folding=True,
        )
