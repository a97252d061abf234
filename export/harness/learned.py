"""Export of learned restorers (GFPGAN, CodeFormer, GPEN, RestoreFormer...): ONNX FP32 + FP16, checked.

A family supplies ``build(state_dict, precision) -> nn.Module``: its export form (static weights, no
batch-dependent Python) holding the checkpoint's tensors, in ``precision.activation`` with its pinned
ops in ``precision.pinned`` (see :mod:`facert.export.precision.policy`). It raises
:class:`facert.errors.WeightsError` without a path when keys or shapes differ; the path is added here.
Its ``forward(image, *options)`` takes ``image`` (N, 3, S, S) float32 in the spec's colour order and
input range and one (N,) float32 tensor per graph-input option of the spec (casting each where it
computes: the activation dtype, or the pinned one for a pinned entry), and returns the restored
image (N, 3, S, S) in the spec's output range.

:func:`export_learned` writes

- ``model.onnx``: FP32, opset 17 (:mod:`facert.export.harness.onnx`), inputs ``image`` (+ options)
  and output ``restored``, dynamic batch;
- ``model.fp16.onnx``: the same graph with float16 weights and activations, the pinned ops in
  float32, and the same float32 inputs and outputs (traced from the FP16_STAGED form and demoted,
  :mod:`facert.export.precision.onnx_fp16`; a pinned entry such as RestoreFormer's encoder reads the image
  unrounded);

then checks them on real aligned faces, at every case of option values the spec asks for (the
defaults and each option's ``checked_values``, :mod:`facert.export.harness.verify`):

- the FP32 graph: ONNX Runtime matches PyTorch, and a batch of 4 gives the rows of 4 single runs.
  A failure raises :class:`facert.errors.ExportError`: nothing is installed;
- the FP16 graph: 40 dB PSNR against FP32 with no overflow, in ONNX Runtime and in PyTorch, and
  batch rows equal to single runs. A failure refuses the FP16 graph alone: its file is removed,
  the manifest facts say why (``fp16_refused``), one warning line is logged, and the export goes
  on with the FP32 graph, which the runtime then uses.

The returned manifest facts record the numbers reached.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from facert.errors import ExportError, WeightsError
from facert.export.harness import checks
from facert.export.harness.checkpoint import load_state_dict
from facert.export.harness.onnx import OPSET, remove_graph, write_onnx
from facert.export.harness.verify import (
    FP16_FILE,
    FP32_FILE,
    IMAGE_INPUT,
    OUTPUT,
    CheckSet,
    torch_fp16_proof,
    torch_runner,
    verify_fp16,
    verify_fp32,
)
from facert.export.precision.onnx_fp16 import demote_file
from facert.export.precision.policy import FP16_STAGED, FP32, Precision
from facert.models.check_faces import option_arrays, option_cases, option_names
from facert.models.registry import ModelSpec

Build = Callable[[Mapping[str, torch.Tensor], Precision], nn.Module]
log = logging.getLogger(__name__)


def export_learned(
    spec: ModelSpec,
    sources: list[Path],
    workdir: Path,
    build: Build,
    faces: Sequence[Path | checks.FaceImage] | None = None,
    extra_faces: Sequence[Path] = (),
) -> dict[str, Any]:
    """Write and check ``spec``'s ONNX files from the checkpoint ``sources[0]``; return manifest facts.

    ``faces``: aligned faces to check on, files or (name, image) pairs (default:
    :func:`checks.default_faces`, the same on every machine), then ``extra_faces`` (files the user
    asked for); every face given is checked (mirrored copies fill a batch of fewer than BATCH).
    ``parity`` holds the numbers at the options' defaults and, under ``cases``, those of every
    checked case; ``checked_options`` lists the values each graph-input option was checked at.
    An FP32 check that fails raises :class:`ExportError`; an FP16 check that fails refuses the FP16
    graph only (see :func:`fp16_graph`): its file is removed, ``fp16_refused`` says why.
    """
    if len(sources) != 1 or len(spec.weights) != 1:
        raise ExportError(f"{spec.name}: expected one checkpoint file, got {len(sources)}")
    if set(spec.onnx_files) != {FP32_FILE, FP16_FILE}:
        raise ExportError(f"{spec.name}: onnx_files must be {FP32_FILE} and {FP16_FILE}")
    state = load_state_dict(sources[0], spec.weights[0])
    return export_learned_state(spec, state, sources[0], workdir, build, faces, extra_faces)


def export_learned_state(
    spec: ModelSpec,
    state: Mapping[str, torch.Tensor],
    source: Path,
    workdir: Path,
    build: Build,
    faces: Sequence[Path | checks.FaceImage] | None = None,
    extra_faces: Sequence[Path] = (),
    reference_run: Callable[[np.ndarray], np.ndarray] | None = None,
) -> dict[str, Any]:
    """:func:`export_learned` from a loaded ``state`` (``source`` names the file in errors): what a
    family with several checkpoint files calls with its merged state dict (PSFR-GAN). Writes
    ``model.onnx`` and ``model.fp16.onnx``; other files of ``spec.onnx_files`` are the caller's.
    ``reference_run``: the FP32 reference on (N, 3, S, S) faces, instead of the FP32 export form
    in PyTorch (a spec without options only): PSFR-GAN's takes the one-hot from ONNX Runtime's
    ParseNet logits, so a class that float32 rounding flips at a near-tie is not a difference."""
    cases = option_cases(spec)
    if reference_run is not None and cases != [{}]:
        raise ExportError(f"{spec.name}: a reference run is for a model without options")
    chosen = [*(faces or checks.default_faces()), *extra_faces]
    batch, names = checks.load_faces(spec, chosen, max(checks.BATCH, len(chosen)))
    reference = build_module(build, state, FP32, source)
    expected = [
        checks.run_rows(reference_run or torch_runner(spec, reference, case), batch)
        for case in cases
    ]
    write_graph(spec, reference, batch[:1], workdir / FP32_FILE)
    checked = CheckSet(spec, cases, expected, batch, names)
    results = verify_fp32(checked, workdir / FP32_FILE)
    fp16_results, refused = fp16_graph(checked, build, state, source, workdir)
    for result, fp16 in zip(results, fp16_results, strict=False):
        result.update(fp16)
    parity = {"faces": names, **results[0], "cases": results, "tolerances": TOLERANCES}
    files = {FP32_FILE: {"precision": "fp32", "io_dtype": "float32"}}
    if refused is None:
        files[FP16_FILE] = {"precision": "fp16", "io_dtype": "float32", "pinned_dtype": "float32"}
    return {
        "opset": OPSET,
        "precision_policy": list(spec.precision_policy),
        "graph": {
            "inputs": [IMAGE_INPUT, *option_names(spec)],
            "outputs": [OUTPUT],
            "dynamic_axes": {"batch": 0},
        },
        "onnx": files,
        **({} if refused is None else {"fp16_refused": refused}),
        "checked_options": {
            name: sorted({case[name] for case in cases}) for name in option_names(spec)
        },
        "parity": checks.json_safe(parity),
    }


def fp16_graph(
    checked: CheckSet,
    build: Build,
    state: Mapping[str, torch.Tensor],
    source: Path,
    workdir: Path,
) -> tuple[list[dict[str, Any]], str | None]:
    """Write ``workdir/FP16_FILE`` and run the FP16 checks (ONNX Runtime PSNR and batch rows, then
    the PyTorch FP16 proof); returns their numbers per case and None, or, when one fails, no
    numbers and the reason, with the file removed and a one-line warning logged: the export goes
    on with the FP32 graph alone, which the runtime then uses."""
    spec, path = checked.spec, workdir / FP16_FILE
    cases, expected, batch, names = checked.cases, checked.expected, checked.faces, checked.names
    try:
        write_graph(spec, build_module(build, state, FP16_STAGED, source), batch[:1], path)
        results = verify_fp16(checked, path)
        proofs = torch_fp16_proof(spec, build, state, cases, expected, batch, names)
    except ExportError as error:
        remove_graph(path)
        reason = str(error.args[0]) if error.args else str(error)
        log.warning("%s: FP16 graph refused, FP32 graph installed alone: %s", spec.name, reason)
        return [], reason
    for result, proof in zip(results, proofs, strict=True):
        result["torch_fp16"] = proof
    return results, None


TOLERANCES = {
    "fp32_max_abs": checks.FP32_TOLERANCE,
    "fp16_min_psnr_db": checks.FP16_MIN_PSNR_DB,
    "fp16_batch_min_psnr_db": checks.FP16_BATCH_MIN_PSNR_DB,
}


def build_module(
    build: Build, state: Mapping[str, torch.Tensor], precision: Precision, source: Path
) -> nn.Module:
    try:
        module = build(state, precision)
    except WeightsError as error:
        if error.path is None:
            error.path = str(source)
        raise
    return module.eval()


def write_graph(spec: ModelSpec, module: nn.Module, example: np.ndarray, path: Path) -> None:
    """Trace ``module`` (FP32 or FP16_STAGED: float32 activations) on ``example`` (1, 3, S, S)
    float32 into ``path``, inputs ``image`` and the options (:func:`trace_graph`)."""
    defaults = {o.name: o.default for o in spec.options if o.graph_input}
    values = (example, *option_arrays(spec, defaults, 1))
    trace_graph(module, values, [IMAGE_INPUT, *option_names(spec)], path)


def trace_graph(
    module: nn.Module, inputs: Sequence[np.ndarray], names: Sequence[str], path: Path
) -> None:
    """Trace ``module`` on ``inputs`` (one float32 array per name in ``names``, batch 1) into
    ``path`` with the output ``restored``, batch dynamic everywhere; FP16_FILE gets demoted
    (traced from an FP16_STAGED module)."""
    write_onnx(
        module,
        [torch.from_numpy(value) for value in inputs],
        path,
        input_names=names,
        output_names=[OUTPUT],
        dynamic_axes={name: {0: "batch"} for name in [*names, OUTPUT]},
    )
    if path.name == FP16_FILE:
        demote_file(path)
