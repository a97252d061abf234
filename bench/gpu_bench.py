"""The GPU bench of `make gpu-check` (bench/gpu_check.py): GFPGAN v1.4 at 512 px, ms per face at
batch 1/4/8.

- PyTorch eager, FP32 and FP16, of the export-form module (:class:`GFPGANExport`, the module the
  ONNX graphs are traced from: FP16 keeps its pinned style modulations in float32) with the
  deterministic fill weights (bench/learned_models.py: compute does not depend on the values).
  PyTorch's defaults: cuDNN picks its algorithms (benchmark mode off), TF32 convolutions allowed.
- TrtEngine (plain and with CUDA graphs) on the FP16 plan ``facert models build`` makes of the ONNX
  export of the same fill checkpoint, where a TensorRT flavour runs on this GPU, with its accuracy
  against ONNX Runtime FP32 on the CPU (the accuracy gate: >= 40 dB on the fixed check faces);
  otherwise "not run" with the reason.
- onnxruntime-gpu's CUDA provider on the FP16 and FP32 graphs, where it is installed.

Each number is the median of ``rounds`` timed calls after 3 warm-ups, synchronized per call, with
a face from tests/data repeated to the batch; host-to-device copies are inside the TrtEngine's
numbers (``run`` takes host arrays) and outside PyTorch's (its input is already on the GPU).
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

BATCHES = (1, 4, 8)
SIZE = 512


def median_ms(call: Callable[[], object], sync: Callable[[], None], rounds: int) -> float:
    """Median wall time of ``call`` in ms (3 warm-ups; ``sync`` after each call)."""
    times = []
    for index in range(3 + rounds):
        start = time.perf_counter()
        call()
        sync()
        if index >= 3:
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def faces(batch: int) -> np.ndarray:
    """(batch, 3, 512, 512) float32 RGB [-1, 1]: Grace Hopper's aligned face, repeated."""
    from learned_models import face_input

    return np.ascontiguousarray(np.repeat(face_input(SIZE), batch, axis=0))


def torch_eager(rounds: int, batches: tuple[int, ...] = BATCHES) -> dict[str, Any]:
    """{"torch eager fp32": {batch: ms per face}, "torch eager fp16": ...}."""
    import torch

    from facert.export.families.gfpgan.export import build_gfpgan_export
    from facert.export.families.gfpgan.net import GFPGAN
    from facert.export.harness.fill import deterministic_state_dict
    from facert.export.precision.policy import FP16, FP32

    state = deterministic_state_dict(GFPGAN())
    results: dict[str, Any] = {}
    for precision in (FP32, FP16):
        module = build_gfpgan_export(state, precision).cuda()
        row = {}
        for batch in batches:
            image = torch.from_numpy(faces(batch)).cuda().to(precision.activation)
            with torch.inference_mode():
                ms = median_ms(functools.partial(module, image), torch.cuda.synchronize, rounds)
            row[batch] = round(ms / batch, 3)
        results[f"torch eager {precision.name}"] = row
        del module
        torch.cuda.empty_cache()
    results["torch"] = {
        "version": torch.__version__,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
    }
    return results


def gfpgan_export(workdir: Path) -> Any:
    """The GFPGAN export of the fill checkpoint (exported once into ``workdir``)."""
    from learned_models import BY_LABEL, ensure_export

    return ensure_export(BY_LABEL["gfpgan"], workdir, log=lambda _: None)


def gfpgan_plan(workdir: Path, flavour: str, capability: str) -> tuple[Any, Any]:
    """(export, plan): the FP16 plan of the GFPGAN export built by ``facert models build``'s own
    code for ``flavour`` (TensorRT for RTX: for ``capability``, this GPU's), batch 1..8."""
    from facert.models.trt_plans import BuildRequest, build_export_plans

    export = gfpgan_export(workdir)
    request = BuildRequest(
        target=flavour,
        precision="fp16",
        max_batch=max(BATCHES),
        capabilities=(capability,) if flavour == "tensorrt-rtx" else (),
    )
    [plan] = build_export_plans(export, workdir / "plans", request)
    return export, plan


def accuracy(export: Any, engine: Any) -> dict[str, Any]:
    """The accuracy gate's numbers for ``engine`` (open): PSNR against ONNX Runtime FP32 (CPU) on
    the fixed check faces, no NaN/Inf; passes at >= 40 dB."""
    from facert.backends.ort import OrtSession
    from facert.models.artifacts import FP32_GRAPH
    from facert.models.gate import GateReference, run_gate

    with OrtSession(export.path(FP32_GRAPH)) as reference:
        gate = GateReference(export.spec, reference)
    return run_gate(gate, engine).to_json()


def timed_rows(engine: Any, label: str, rounds: int) -> dict[str, Any]:
    """{label: {batch: ms per face}} for an open engine, fed in its own input dtype."""
    dtype = engine.inputs["image"].dtype or np.float32
    row = {}
    for batch in BATCHES:
        feed = {"image": faces(batch).astype(dtype)}
        ms = median_ms(functools.partial(engine.run, feed), lambda: None, rounds)
        row[batch] = round(ms / batch, 3)
    return {label: row}


def trt_engine(export: Any, plan: Any, flavour: str, rounds: int) -> dict[str, Any]:
    """{"trt <flavour> fp16[ cuda graphs]": {batch: ms per face}, ...: accuracy} for ``plan``."""
    from facert.backends.gpu_choice import plan_engine

    results: dict[str, Any] = {"trt build": plan.manifest["build"]}
    for graphs in (False, True):
        label = f"trt {flavour} fp16" + (" cuda graphs" if graphs else "")
        with plan_engine(plan, export.spec.name, cuda_graphs=graphs) as engine:
            results.update(timed_rows(engine, label, rounds))
            if not graphs:
                results[f"{label} vs ort fp32 (cpu)"] = accuracy(export, engine)
    return results


def ort_gpu(workdir: Path, rounds: int) -> dict[str, Any]:
    """onnxruntime-gpu's CUDA provider on the GFPGAN export's FP16 and FP32 graphs."""
    from facert.backends.ort_gpu import OrtGpuEngine
    from facert.models.artifacts import FP16_GRAPH, FP32_GRAPH

    export = gfpgan_export(workdir)
    results: dict[str, Any] = {}
    for graph, precision in ((FP16_GRAPH, "fp16"), (FP32_GRAPH, "fp32")):
        with OrtGpuEngine(export.path(graph), provider="cuda") as engine:
            results.update(timed_rows(engine, f"ort-gpu cuda {precision}", rounds))
            if precision == "fp16":
                results["ort-gpu cuda fp16 vs ort fp32 (cpu)"] = accuracy(export, engine)
    return results
