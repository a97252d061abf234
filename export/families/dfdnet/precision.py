"""DFDNet's FP16 graph (``model.fp16.onnx``) and its checks: the dictionary step pinned FP32.

The graph is traced from the FP16_STAGED export form (:func:`~.export.build_dfdnet_export`: the
dictionary step of each scale in float64, the rest float32) and demoted one step
(:mod:`facert.export.precision.onnx_fp16`): VGG, MSDilate and the decoder in float16, the window
reads, AdaIN statistics, scores, argmax, attention update and the dictionaries in float32; the
``image`` and ``boxes`` inputs and the output stay float32 (the boxes are read unrounded).

Checks on the check faces, as the other families' (:mod:`facert.export.harness.verify`): ONNX
Runtime FP16 against the FP32 reference at least 40 dB PSNR per face, a batch against single runs
60 dB; the export form in float16 (true float16 on a CUDA device, else float16 storage emulated
on the CPU: :class:`~facert.export.precision.policy.Float16Monitor`) at least 40 dB with no
overflow. The entries the argmax chooses (4 parts x 4 scales per face) are compared between that
float16 run and FP32: the flips are counted in the facts (the checks' PSNR says what they cost).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from facert.export.families.dfdnet.dictionaries import Dictionaries
from facert.export.families.dfdnet.export import build_dfdnet_export
from facert.export.families.dfdnet.matching import EntryChoice
from facert.export.harness import checks
from facert.export.precision.policy import (
    FP16,
    FP16_STAGED,
    Float16Monitor,
    round_weights_to_float16,
)
from facert.models.registry import ModelSpec


@dataclass(frozen=True)
class Checked:
    """What the checks run on: ``faces`` (N, 3, 512, 512) float32 RGB [-1, 1], their ``boxes``
    (N, 4, 4) float32 crop pixels and ``names``; ``reference`` the FP32 export form's output
    (N, 3, 512, 512) float32 and ``choices`` its chosen entries (N, 16) int64."""

    spec: ModelSpec
    faces: np.ndarray
    boxes: np.ndarray
    names: list[str]
    reference: np.ndarray
    choices: np.ndarray


def run_recording(
    module: nn.Module,
    faces: np.ndarray,
    boxes: np.ndarray,
    device: str = "cpu",
    monitor: Float16Monitor | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``module`` on each face alone: outputs (N, 3, 512, 512) float32 and the entries its argmax
    chose (N, 16) int64 (scales 256 -> 32, parts in order). With a ``monitor``, under it."""
    chosen: list[int] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: chosen.extend(out.tolist()))
        for m in module.modules()
        if isinstance(m, EntryChoice)
    ]
    outputs = []
    try:
        for i in range(len(faces)):
            image = torch.from_numpy(faces[i : i + 1]).to(device)
            box = torch.from_numpy(boxes[i : i + 1]).to(device)
            with torch.no_grad():
                if monitor is None:
                    outputs.append(module(image, box).float().cpu().numpy())
                    continue
                monitor.graph_inputs(image, box)
                with monitor:
                    outputs.append(module(image, box).float().cpu().numpy())
    finally:
        for hook in hooks:
            hook.remove()
    return np.concatenate(outputs), np.asarray(chosen, dtype=np.int64).reshape(len(faces), -1)


def single_runs(
    run: Callable[[np.ndarray, np.ndarray], np.ndarray], faces: np.ndarray, boxes: np.ndarray
) -> np.ndarray:
    """``run(faces, boxes)`` on each face alone (batch 1), stacked: (N, ...) float32."""
    rows = [run(faces[i : i + 1], boxes[i : i + 1]) for i in range(len(faces))]
    return np.concatenate(rows).astype(np.float32)


def verify_fp16_graph(
    checked: Checked, path: Path, run: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> dict[str, Any]:
    """The FP16 graph at ``path`` (``run(faces, boxes)`` runs it): >= 40 dB per face against the
    reference, batch rows >= 60 dB against single runs. Raises ExportError naming the face."""
    single = single_runs(run, checked.faces, checked.boxes)
    batch = run(checked.faces, checked.boxes)
    spec, names = checked.spec, checked.names
    accuracy = checks.check_psnr(
        "ONNX Runtime FP16 vs FP32",
        spec,
        checked.reference,
        single,
        names,
        checks.FP16_MIN_PSNR_DB,
        path,
    )
    rows = checks.check_psnr(
        f"FP16 batch of {len(names)} vs single runs",
        spec,
        single,
        batch,
        names,
        checks.FP16_BATCH_MIN_PSNR_DB,
        path,
    )
    return {
        "ort_fp16_psnr_db": min(accuracy),
        "ort_fp16_psnr_db_per_face": accuracy,
        "fp16_batch_vs_single_psnr_db": min(rows),
    }


def torch_fp16_proof(
    checked: Checked, state: Mapping[str, torch.Tensor], dictionaries: Dictionaries
) -> dict[str, Any]:
    """The export form in float16 with the dictionary step pinned (true float16 on CUDA, else
    emulated on the CPU): no overflow, >= 40 dB per face; the argmax flips against FP32."""
    if torch.cuda.is_available():
        module = build_dfdnet_export(state, dictionaries, precision=FP16).cuda()
        device, emulate = "cuda", False
        mode = f"float16 on {torch.cuda.get_device_name()}"
    else:
        module = round_weights_to_float16(
            build_dfdnet_export(state, dictionaries, precision=FP16_STAGED)
        )
        device, emulate = "cpu", True
        mode = "float16 storage emulated on CPU"
    monitor = Float16Monitor(emulate=emulate)
    output, choices = run_recording(module, checked.faces, checked.boxes, device, monitor)
    what = f"PyTorch FP16 ({mode})"
    checks.require(not monitor.overflowed, f"{what}: an intermediate result overflowed float16")
    values = checks.check_psnr(
        f"{what} vs FP32",
        checked.spec,
        checked.reference,
        output,
        checked.names,
        checks.FP16_MIN_PSNR_DB,
        None,
    )
    flips = (choices != checked.choices).sum(axis=1)
    return {
        "mode": mode,
        "psnr_db": min(values),
        "psnr_db_per_face": values,
        "peak_activation": monitor.peak,
        "argmax_flips_per_face": [int(f) for f in flips],
        "argmax_choices_per_face": int(checked.choices.shape[1]),
    }
