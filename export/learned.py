"""Export of learned restorers (GFPGAN, CodeFormer, GPEN, RestoreFormer...): ONNX FP32 + FP16, checked.

A family supplies ``build(state_dict, precision) -> nn.Module``: its export form (static weights, no
batch-dependent Python) holding the checkpoint's tensors, in ``precision.activation`` with its pinned
ops in ``precision.pinned`` (see :mod:`facert.export.precision`). It raises
:class:`facert.errors.WeightsError` without a path when keys or shapes differ; the path is added here.
Its ``forward(image, *options)`` takes ``image`` (N, 3, S, S) in the spec's colour order and input
range and one (N,) tensor per graph-input option of the spec, and returns the restored image
(N, 3, S, S) in the spec's output range.

:func:`export_learned` writes

- ``model.onnx``: FP32, opset 17, inputs ``image`` (+ options) and output ``restored``, dynamic batch;
- ``model.fp16.onnx``: the same graph with float16 weights, activations, inputs and outputs, the
  pinned ops in float32 (traced from the FP16_STAGED form and demoted, :mod:`facert.export.onnx_fp16`);

then checks them on real aligned faces and fails loudly (:class:`facert.errors.ExportError`) unless
ONNX Runtime FP32 matches PyTorch, FP16 reaches 40 dB PSNR with no overflow (in ONNX Runtime and in
PyTorch), and a batch of 4 gives the rows of 4 single runs. The returned manifest facts record it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from facert.backends.ort import OrtSession
from facert.errors import ExportError, WeightsError
from facert.export import learned_checks as checks
from facert.export.checkpoint import load_state_dict
from facert.export.onnx_fp16 import demote_to_float16
from facert.export.precision import (
    FP16,
    FP16_STAGED,
    FP32,
    Float16Monitor,
    Precision,
    round_weights_to_float16,
)
from facert.registry import ModelSpec

Build = Callable[[Mapping[str, torch.Tensor], Precision], nn.Module]
OPSET = 17
IMAGE_INPUT = "image"
OUTPUT = "restored"
FP32_FILE = "model.onnx"
FP16_FILE = "model.fp16.onnx"


def export_learned(
    spec: ModelSpec,
    sources: list[Path],
    workdir: Path,
    build: Build,
    faces: Sequence[Path] | None = None,
) -> dict[str, Any]:
    """Write and check ``spec``'s ONNX files from the checkpoint ``sources[0]``; return manifest facts.

    ``faces``: aligned face files to check on (default: :func:`learned_checks.default_faces`).
    """
    if len(sources) != 1 or len(spec.weights) != 1:
        raise ExportError(f"{spec.name}: expected one checkpoint file, got {len(sources)}")
    if set(spec.onnx_files) != {FP32_FILE, FP16_FILE}:
        raise ExportError(f"{spec.name}: onnx_files must be {FP32_FILE} and {FP16_FILE}")
    source = sources[0]
    state = load_state_dict(source, spec.weights[0])
    batch, names = checks.load_faces(spec, list(faces) if faces else checks.default_faces())
    reference = build_module(build, state, FP32, source)
    expected = checks.run_rows(torch_runner(spec, reference, torch.float32), batch)
    write_onnx(spec, reference, batch[:1], workdir / FP32_FILE)
    write_onnx(
        spec, build_module(build, state, FP16_STAGED, source), batch[:1], workdir / FP16_FILE
    )
    parity = verify(spec, workdir, expected, batch, names)
    parity["torch_fp16"] = torch_fp16_proof(spec, build, state, expected, batch, names)
    return {
        "opset": OPSET,
        "precision_policy": list(spec.precision_policy),
        "graph": {
            "inputs": [IMAGE_INPUT, *option_names(spec)],
            "outputs": [OUTPUT],
            "dynamic_axes": {"batch": 0},
        },
        "onnx": {
            FP32_FILE: {"precision": "fp32", "io_dtype": "float32"},
            FP16_FILE: {"precision": "fp16", "io_dtype": "float16", "pinned_dtype": "float32"},
        },
        "parity": checks.json_safe(parity),
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


def option_names(spec: ModelSpec) -> list[str]:
    return [option.name for option in spec.options if option.graph_input]


def option_values(spec: ModelSpec, rows: int) -> list[np.ndarray]:
    """Each graph-input option at its default, (rows,) float32."""
    return [
        np.full((rows,), option.default, np.float32)
        for option in spec.options
        if option.graph_input
    ]


def write_onnx(spec: ModelSpec, module: nn.Module, example: np.ndarray, path: Path) -> None:
    """Trace ``module`` on ``example`` (1, 3, S, S) into ``path``; FP16_FILE gets demoted."""
    dtype = next(module.parameters()).dtype
    arguments = [torch.from_numpy(a).to(dtype) for a in (example, *option_values(spec, 1))]
    names = [IMAGE_INPUT, *option_names(spec)]
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of torch.export (which needs onnxscript
        # and opset 18); it handles these graphs at opset 17 (models.md section 1.10).
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module,
            tuple(arguments),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=names,
            output_names=[OUTPUT],
            dynamic_axes={name: {0: "batch"} for name in [*names, OUTPUT]},
            do_constant_folding=True,
        )
    if path.name == FP16_FILE:
        onnx.save(demote_to_float16(onnx.load(str(path))), str(path))


def ort_runner(
    spec: ModelSpec, session: OrtSession, dtype: type[np.floating]
) -> Callable[[np.ndarray], np.ndarray]:
    def run(faces: np.ndarray) -> np.ndarray:
        values = [faces, *option_values(spec, len(faces))]
        feed = dict(zip([IMAGE_INPUT, *option_names(spec)], values, strict=True))
        outputs = session.run({name: value.astype(dtype) for name, value in feed.items()})
        return outputs[OUTPUT].astype(np.float32)

    return run


def torch_runner(
    spec: ModelSpec, module: nn.Module, dtype: torch.dtype, device: str = "cpu"
) -> Callable[[np.ndarray], np.ndarray]:
    def run(faces: np.ndarray) -> np.ndarray:
        values = [faces, *option_values(spec, len(faces))]
        tensors = [torch.from_numpy(v).to(device=device, dtype=dtype) for v in values]
        with torch.no_grad():
            return module(*tensors).float().cpu().numpy()

    return run


def verify(
    spec: ModelSpec, workdir: Path, expected: np.ndarray, faces: np.ndarray, names: list[str]
) -> dict[str, Any]:
    """ORT FP32 vs PyTorch (``expected``: the FP32 export form's single runs on ``faces``), FP16 vs
    FP32, batch vs single runs; returns the numbers reached."""
    fp32_path, fp16_path = workdir / FP32_FILE, workdir / FP16_FILE
    with OrtSession(fp32_path) as session:
        run = ort_runner(spec, session, np.float32)
        fp32, fp32_batch = checks.run_rows(run, faces), run(faces)
    with OrtSession(fp16_path) as session:
        run = ort_runner(spec, session, np.float16)
        fp16, fp16_batch = checks.run_rows(run, faces), run(faces)
    close, psnr = checks.check_close, checks.check_psnr
    return {
        "faces": names,
        "output_scale": checks.output_scale(expected),
        "ort_fp32_vs_torch_max_abs": close(
            "ONNX Runtime FP32 vs PyTorch", expected, fp32, names, fp32_path
        ),
        "fp32_batch_vs_single_max_abs": close(
            f"FP32 batch of {len(faces)} vs single runs", fp32, fp32_batch, names, fp32_path
        ),
        "ort_fp16_psnr_db": psnr(
            "ONNX Runtime FP16 vs FP32",
            spec,
            expected,
            fp16,
            names,
            checks.FP16_MIN_PSNR_DB,
            fp16_path,
        ),
        "fp16_batch_vs_single_psnr_db": psnr(
            f"FP16 batch of {len(faces)} vs single runs",
            spec,
            fp16,
            fp16_batch,
            names,
            checks.FP16_BATCH_MIN_PSNR_DB,
            fp16_path,
        ),
        "tolerances": {
            "fp32_max_abs": checks.FP32_TOLERANCE,
            "fp16_min_psnr_db": checks.FP16_MIN_PSNR_DB,
            "fp16_batch_min_psnr_db": checks.FP16_BATCH_MIN_PSNR_DB,
        },
    }


def torch_fp16_proof(
    spec: ModelSpec,
    build: Build,
    state: Mapping[str, torch.Tensor],
    expected: np.ndarray,
    faces: np.ndarray,
    names: list[str],
) -> dict[str, Any]:
    """The export form in float16 (pinned ops float32) vs float32: no overflow, PSNR >= 40 dB.

    On a CUDA device in true float16; on CPUs (whose float16 convolutions are hundreds of times
    slower) as the FP16_STAGED form with float16-rounded weights and every op's result rounded to
    float16: float16 storage, float32 arithmetic, which is what float16 engines do.
    """
    if torch.cuda.is_available():
        module = build(state, FP16).eval().cuda()
        run = torch_runner(spec, module, torch.float16, "cuda")
        monitor, mode = Float16Monitor(emulate=False), f"float16 on {torch.cuda.get_device_name()}"
    else:
        module = round_weights_to_float16(build(state, FP16_STAGED).eval())
        run = torch_runner(spec, module, torch.float32)
        monitor, mode = Float16Monitor(emulate=True), "float16 storage emulated on CPU"
    half_faces = faces.astype(np.float16).astype(np.float32)
    with monitor:
        output = checks.run_rows(run, half_faces)
    checks.require(
        not monitor.overflowed,
        f"{spec.name}: PyTorch FP16 ({mode}): an intermediate result overflowed float16",
    )
    value = checks.check_psnr(
        f"PyTorch FP16 ({mode}) vs FP32",
        spec,
        expected,
        output,
        names,
        checks.FP16_MIN_PSNR_DB,
        None,
    )
    return {"mode": mode, "psnr_db": value, "peak_activation": monitor.peak}
