"""The GPU bench of `make gpu-check` (bench/gpu_check.py): GFPGAN v1.4 at 512 px, ms per face at
batch 1/4/8.

- PyTorch eager, FP32 and FP16, of the export-form module (:class:`GFPGANExport`, the module the
  ONNX graphs are traced from: FP16 keeps its pinned style modulations in float32) with the
  deterministic fill weights (bench/learned_models.py: compute does not depend on the values).
  PyTorch's defaults: cuDNN picks its algorithms (benchmark mode off), TF32 convolutions allowed.
- TrtEngine (plain and with CUDA graphs) on a plan built from the FP16 ONNX export of the same fill
  checkpoint, where a TensorRT flavour runs on this GPU; otherwise "not run" with the reason.

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


def gfpgan_plan(workdir: Path, module_name: str) -> Path:
    """The FP16 GFPGAN export of the fill checkpoint (exported once into ``workdir``), built into a
    plan for batch 1..8 with TensorRT module ``module_name``."""
    from learned_models import BY_LABEL, ensure_export
    from tiny_trt import build_plan

    from facert.models.artifacts import FP16_GRAPH

    artifact = ensure_export(BY_LABEL["gfpgan"], workdir, log=lambda _: None)
    plan = workdir / f"gfpgan-1.4.{module_name}.plan"
    if not plan.is_file():
        shapes = {"image": ((1, 3, SIZE, SIZE), (max(BATCHES), 3, SIZE, SIZE))}
        build_plan(artifact.path(FP16_GRAPH), plan, module_name, shapes)
    return plan


def trt_engine(plan: Path, flavour: str, rounds: int) -> dict[str, Any]:
    """{"trt <flavour> fp16[ cuda graphs]": {batch: ms per face}} for ``plan``."""
    from facert.backends.trt import TrtEngine

    results: dict[str, Any] = {}
    for graphs in (False, True):
        row = {}
        with TrtEngine(plan, flavour=flavour, cuda_graphs=graphs) as engine:
            for batch in BATCHES:
                feed = {"image": faces(batch).astype(np.float16)}
                row[batch] = round(
                    median_ms(functools.partial(engine.run, feed), lambda: None, rounds) / batch, 3
                )
        results[f"trt {flavour} fp16" + (" cuda graphs" if graphs else "")] = row
    return results
