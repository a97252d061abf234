"""Running a learned restorer's export (PyTorch and ONNX Runtime) and checking it, case by case.

Used by :func:`facert.export.harness.learned.export_learned`. A *case* is one value per graph-input option
(``{"fidelity": 1.0}``; ``{}`` for a model without options): every check runs at every case the spec
asks for (:func:`facert.models.check_faces.option_cases`). Option values are fed as (N,) arrays, the same value in every row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from facert.backends import Engine, engine_for
from facert.export.harness import checks
from facert.export.precision.policy import (
    FP16,
    FP16_STAGED,
    Float16Monitor,
    round_weights_to_float16,
)
from facert.models.artifacts import FP16_GRAPH, FP32_GRAPH
from facert.models.check_faces import Options, case_label, option_arrays, option_names
from facert.models.registry import ModelSpec

IMAGE_INPUT = "image"
OUTPUT = "restored"
FP32_FILE = FP32_GRAPH  # "model.onnx"
FP16_FILE = FP16_GRAPH  # "model.fp16.onnx"

Runner = Callable[[np.ndarray], np.ndarray]


def ort_runner(spec: ModelSpec, session: Engine, case: Options) -> Runner:
    """``session`` (either graph: both take and give float32) on (N, 3, S, S) float32 faces."""

    def run(faces: np.ndarray) -> np.ndarray:
        values = [faces, *option_arrays(spec, case, len(faces))]
        feed = dict(zip([IMAGE_INPUT, *option_names(spec)], values, strict=True))
        return session.run(feed)[OUTPUT].astype(np.float32)

    return run


def torch_runner(
    spec: ModelSpec,
    module: nn.Module,
    case: Options,
    device: str = "cpu",
    monitor: Float16Monitor | None = None,
) -> Runner:
    """``module`` on (N, 3, S, S) float32 faces, with float32 inputs as the graphs take them; with a
    ``monitor``, the module runs under it (which learns the tensors that stand for the inputs)."""

    def run(faces: np.ndarray) -> np.ndarray:
        values = [faces, *option_arrays(spec, case, len(faces))]
        tensors = [torch.from_numpy(v).to(device) for v in values]
        with torch.no_grad():
            if monitor is None:
                return module(*tensors).float().cpu().numpy()
            monitor.graph_inputs(*tensors)
            with monitor:
                output = module(*tensors)
            return output.float().cpu().numpy()

    return run


@dataclass(frozen=True)
class CheckSet:
    """What every check of one export runs on: the option ``cases``; per case, ``expected``, the
    FP32 export form's single runs on the faces ((N, 3, S, S) float32, the reference); the
    ``faces`` (N, 3, S, S) float32 in the spec's colour order and input range, and their
    ``names``."""

    spec: ModelSpec
    cases: Sequence[Options]
    expected: Sequence[np.ndarray]
    faces: np.ndarray
    names: list[str]

    def ort_outputs(self, path: Path) -> list[tuple[Options, np.ndarray, np.ndarray, np.ndarray]]:
        """Per case, the case, its reference, and the graph at ``path`` in ONNX Runtime on the
        faces: its single runs (one row at a time, stacked) and its batch run."""
        with engine_for(path) as session:
            runs = [ort_runner(self.spec, session, case) for case in self.cases]
            outputs = [(checks.run_rows(run, self.faces), run(self.faces)) for run in runs]
        cases = zip(self.cases, self.expected, outputs, strict=True)
        return [(case, reference, single, batch) for case, reference, (single, batch) in cases]


def verify_fp32(checked: CheckSet, path: Path) -> list[dict[str, Any]]:
    """Per case, the FP32 graph at ``path``: ONNX Runtime vs PyTorch (the reference) and batch vs
    single runs, each within FP32_TOLERANCE."""
    results, names = [], checked.names
    for case, reference, single, batch in checked.ort_outputs(path):
        label, close = case_label(case), checks.check_close
        what = f"FP32 batch of {len(names)} vs single runs{label}"
        parity = close(f"ONNX Runtime FP32 vs PyTorch{label}", reference, single, names, path)
        results.append(
            {
                "options": dict(case),
                "output_scale": checks.output_scale(reference),
                "ort_fp32_vs_torch_max_abs": parity,
                "fp32_batch_vs_single_max_abs": close(what, single, batch, names, path),
            }
        )
    return results


def verify_fp16(checked: CheckSet, path: Path) -> list[dict[str, Any]]:
    """Per case, the FP16 graph at ``path``: PSNR against the FP32 reference at least
    FP16_MIN_PSNR_DB (an overflow gives -inf), batch vs single runs FP16_BATCH_MIN_PSNR_DB."""
    results, spec, names = [], checked.spec, checked.names
    for case, reference, single, batch in checked.ort_outputs(path):
        label, psnr = case_label(case), checks.check_psnr
        what = f"ONNX Runtime FP16 vs FP32{label}"
        accuracy = psnr(what, spec, reference, single, names, checks.FP16_MIN_PSNR_DB, path)
        what = f"FP16 batch of {len(names)} vs single runs{label}"
        rows = psnr(what, spec, single, batch, names, checks.FP16_BATCH_MIN_PSNR_DB, path)
        results.append(
            {
                "ort_fp16_psnr_db": min(accuracy),
                "ort_fp16_psnr_db_per_face": accuracy,
                "fp16_batch_vs_single_psnr_db": min(rows),
            }
        )
    return results


def torch_fp16_proof(
    spec: ModelSpec,
    build: Callable[..., nn.Module],
    state: Mapping[str, torch.Tensor],
    cases: Sequence[Options],
    expected: Sequence[np.ndarray],
    faces: np.ndarray,
    names: list[str],
) -> list[dict[str, Any]]:
    """Per case, the export form in float16 (pinned ops float32) vs float32 (``expected``): no
    overflow, PSNR >= 40 dB.

    On a CUDA device in true float16; on CPUs (whose float16 convolutions are hundreds of times
    slower) as the FP16_STAGED form with float16-rounded weights and every op's result rounded to
    float16: float16 storage, float32 arithmetic, which is what float16 engines do.
    """
    if torch.cuda.is_available():
        module = build(state, FP16).eval().cuda()
        device, emulate = "cuda", False
        mode = f"float16 on {torch.cuda.get_device_name()}"
    else:
        module = round_weights_to_float16(build(state, FP16_STAGED).eval())
        device, emulate = "cpu", True
        mode = "float16 storage emulated on CPU"
    results = []
    for case, reference in zip(cases, expected, strict=True):
        monitor = Float16Monitor(emulate=emulate)
        output = checks.run_rows(torch_runner(spec, module, case, device, monitor), faces)
        what = f"PyTorch FP16 ({mode}){case_label(case)}"
        checks.require(
            not monitor.overflowed,
            f"{what}: an intermediate result overflowed float16",
        )
        values = checks.check_psnr(
            f"{what} vs FP32", spec, reference, output, names, checks.FP16_MIN_PSNR_DB, None
        )
        results.append(
            {
                "mode": mode,
                "psnr_db": min(values),
                "psnr_db_per_face": values,
                "peak_activation": monitor.peak,
            }
        )
    return results
