"""Checks shared by the StyleGAN2-based families' tiny exports (GFPGAN, GPEN): the ONNX graph runs
any batch like the faithful port, the FP16 graph keeps exactly the style path in float32, and a
naive float16 build overflows where the export form does not."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from facert.backends.ort import OrtSession
from facert.errors import ExportError
from facert.export.families.stylegan2.export import StaticModulatedConv
from facert.export.harness.checks import load_faces
from facert.export.harness.verify import torch_fp16_proof
from facert.export.precision.policy import Precision
from facert.models.registry import ModelSpec

Faithful = Callable[[torch.Tensor], torch.Tensor]


def check_any_batch_like_the_faithful_port(
    spec: ModelSpec, folder: Path, faithful: Faithful, faces: list[Path]
) -> None:
    batch, _ = load_faces(spec, faces, count=3)
    with torch.no_grad():
        expected = faithful(torch.from_numpy(batch)).numpy()
    with OrtSession(folder / "model.onnx") as session:
        restored = session.run({"image": batch})["restored"]
    # FP32: ORT vs PyTorch reorders float32 sums only.
    assert np.abs(restored - expected).max() <= 1e-4 * max(1.0, float(np.abs(expected).max()))


def style_path_tensors(
    module: torch.nn.Module, extra: Iterable[tuple[str, torch.Tensor]] = ()
) -> dict[str, np.ndarray]:
    """The FP32 export form's style-path tensors, by name: the modulation weight and bias of every
    modulated conv, the weight-square sums of every demodulated one, and ``extra``."""
    tensors = dict(extra)
    for name, layer in module.named_modules():
        if isinstance(layer, StaticModulatedConv):
            tensors[f"{name}.modulation.weight"] = layer.modulation.weight
            tensors[f"{name}.modulation.bias"] = layer.modulation.bias
            if layer.demodulate:
                tensors[f"{name}.weight_square_sums"] = layer.weight_square_sums
    return {name: tensor.detach().numpy() for name, tensor in tensors.items()}


def check_style_path_stays_float32(folder: Path, style: dict[str, np.ndarray]) -> None:
    """The FP16 graph's float32 initializers are exactly the style path's tensors: each of ``style``
    is one of them, bit for bit (never rounded through float16: squared styles would overflow), and
    every other weight is float16. Matched by value, as stored or transposed (a MatMul's weight),
    so neither the exporter's names nor its node and constant counts matter; scalars are left out.
    That the pinned ops run in float32 follows: ONNX Runtime loads no Gemm/MatMul of mixed types."""
    model = onnx.load(str(folder / "model.fp16.onnx"))
    float32 = [
        numpy_helper.to_array(t)
        for t in model.graph.initializer
        if t.data_type == onnx.TensorProto.FLOAT and int(np.prod(t.dims)) > 1
    ]

    def among(tensor: np.ndarray, pool: Iterable[np.ndarray]) -> bool:
        return any(
            candidate.shape == form.shape and np.array_equal(candidate, form)
            for candidate in pool
            for form in (tensor, tensor.T)
        )

    assert style and all(tensor.dtype == np.float32 for tensor in style.values())
    missing = [name for name, tensor in style.items() if not among(tensor, float32)]
    assert not missing, f"style-path tensors not kept float32: {missing}"
    stray = [tensor.shape for tensor in float32 if not among(tensor, style.values())]
    assert not stray, f"float32 initializers outside the style path: {stray}"


def check_naive_fp16_overflows(
    spec: ModelSpec,
    facts: dict[str, Any],
    state: dict[str, torch.Tensor],
    faithful: Faithful,
    unscaled_build: Callable[[dict[str, torch.Tensor], Precision], torch.nn.Module],
    faces: list[Path],
) -> None:
    """``unscaled_build(state, precision)``: the export form without its style rescaling."""

    def naive(state: dict[str, torch.Tensor], precision: Precision) -> torch.nn.Module:
        unpinned = Precision("unpinned", precision.activation, precision.activation)
        return unscaled_build(state, unpinned)

    batch, names = load_faces(spec, faces)
    with torch.no_grad():
        expected = faithful(torch.from_numpy(batch)).numpy()
    with pytest.raises(ExportError, match="overflowed float16"):
        torch_fp16_proof(spec, naive, state, [{}], [expected], batch, names)
    assert facts["parity"]["torch_fp16"]["psnr_db"] >= 40.0  # same checkpoint, fixed form
