"""Checks shared by the StyleGAN2-based families' tiny exports (GFPGAN, GPEN): the ONNX graph runs
any batch like the faithful port, and a naive float16 build overflows where the export form does
not."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from facert.backends.ort import OrtSession
from facert.errors import ExportError
from facert.export.learned_checks import load_faces
from facert.export.learned_verify import torch_fp16_proof
from facert.export.precision import Precision
from facert.registry import ModelSpec

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
