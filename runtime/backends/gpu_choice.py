"""``--backend trt``, ``ort-gpu`` and ``torch``: which GPU engine runs a restorer's export here.

- ``trt``: the TensorRT plan of the export's FP16 graph (``--precision fp16``, the default where
  the export has one) or FP32 graph, built beforehand by ``facert models build NAME``
  (:mod:`facert.models.trt_plans`) and found in the cache for this GPU: TensorRT for RTX where the
  GPU's compute capability is one it runs on and it is installed, else enterprise TensorRT.
- ``ort-gpu``: ONNX Runtime's CUDA execution provider on the export's graph at that precision
  (``onnxruntime-gpu``, the ``gpu`` extra).
- ``torch``: the export-form torch module the graphs were traced from, rebuilt from the export's
  checkpoint (:mod:`facert.backends.torch_gpu`: FP16 with the pinned ops in FP32, CUDA graphs),
  where PyTorch has CUDA (the ``export`` extra with a CUDA build of torch). The reference that runs
  on any NVIDIA GPU, without TensorRT or onnxruntime-gpu. At fp16 it needs the export's FP16 graph
  too: an FP16 build the export refused is refused here as well.

Nothing here imports TensorRT, cuda-python or torch, or touches a driver, before the driver check
(:func:`facert.backends.cuda.driver_status`) says there is one. The detector stays on the CPU.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from facert.backends.base import Engine
from facert.backends.cuda import DriverStatus, driver_status, gpu_fingerprint, require_gpu
from facert.backends.trt_plan import FLAVOURS, Flavour, PlanFacts, installed_version
from facert.errors import UnsupportedError, UsageError
from facert.models.artifacts import FP16_GRAPH, FP32_GRAPH, Artifact
from facert.models.compiled import CompiledArtifact

GPU_BACKENDS = ("trt", "ort-gpu", "torch")
GPU_PRECISIONS = ("fp16", "fp32")


def gpu_precision(export: Artifact, precision: str) -> str:
    """``precision`` for a GPU backend: "auto" is fp16 where the export has an FP16 graph."""
    if precision == "auto":
        return "fp16" if FP16_GRAPH in export.files else "fp32"
    if precision not in GPU_PRECISIONS:
        raise UsageError(f"GPU backends run fp16 or fp32, not {precision}")
    return precision


def flavour_unavailable(flavour: Flavour, gpu: DriverStatus) -> str | None:
    """Why ``flavour``'s plans cannot run on ``gpu`` (no GPU, a compute capability it does not
    run on, not installed or not importable), in one line; None when they can."""
    if not gpu.present:
        return gpu.summary()
    runs_on = flavour.compute_capabilities
    if runs_on is not None and gpu.compute_capability not in runs_on:
        return f"{flavour.label} does not support compute capability {gpu.compute_capability}"
    try:
        importlib.import_module(flavour.module)  # imports only: no runtime is built
    except (ImportError, OSError) as exc:
        return f"{flavour.module} cannot be imported ({exc}; pip install '{flavour.extra}')"
    return None


def trt_flavour(gpu: DriverStatus) -> str | None:
    """The TensorRT flavour that runs on ``gpu``: TensorRT for RTX first where its compute
    capability is one it runs on; None when neither fits."""
    for flavour in FLAVOURS.values():
        if flavour_unavailable(flavour, gpu) is None:
            return flavour.name
    return None


def gpu_unavailable(backend: str) -> str | None:
    """Why ``backend`` (trt, ort-gpu, torch) cannot run here, or None."""
    gpu = driver_status()
    if not gpu.present:
        return f"no NVIDIA GPU ({gpu.reason})"
    if backend == "trt" and trt_flavour(gpu) is None:
        return (
            f"no installed TensorRT runs on {gpu.summary()} (pip install 'facert[tensorrt-rtx]' "
            "for RTX GPUs, 'facert[tensorrt]' otherwise)"
        )
    if backend == "ort-gpu":
        import onnxruntime

        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            return "onnxruntime has no CUDA provider (pip install 'facert[gpu]')"
    if backend == "torch":
        from facert.backends.torch_gpu import torch_unavailable

        return torch_unavailable()
    return None


def gpu_engine(
    cache_dir: Path, export: Artifact, backend: str, precision: str, weights: Path | None = None
) -> Engine:
    """The engine (not opened) running ``export`` at ``precision`` on ``backend`` on GPU 0.
    ``weights``: the checkpoint the export was built from, which the torch backend rebuilds its
    module from (None: the official one in the cache); the others run the export's graph."""
    graph = FP16_GRAPH if precision == "fp16" else FP32_GRAPH
    if graph not in export.files:
        raise UsageError(f"{export.spec.name} has no {precision} graph; use --precision fp32")
    gpu = require_gpu(purpose=f"--backend {backend}")
    if backend == "ort-gpu":
        from facert.backends.ort_gpu import OrtGpuEngine

        return OrtGpuEngine(export.path(graph), provider="cuda")
    if backend == "torch":
        from facert.backends.torch_gpu import torch_engine

        return torch_engine(cache_dir, export, precision, weights)
    if backend != "trt":
        raise UsageError(f"no GPU engine runs {backend}")
    return _trt_engine(cache_dir, export, graph, gpu)


def _trt_engine(cache_dir: Path, export: Artifact, graph: str, gpu: DriverStatus) -> Any:
    from facert.models.trt_plans import find_plan

    flavour = trt_flavour(gpu)
    if flavour is None or gpu.compute_capability is None:
        raise UnsupportedError(gpu_unavailable("trt") or "no TensorRT for this GPU")
    aot = FLAVOURS[flavour].compute_capabilities is not None
    device = "sm" + gpu.compute_capability.replace(".", "") if aot else gpu_fingerprint(gpu)
    version = installed_version(FLAVOURS[flavour]) or ""
    plan = find_plan(cache_dir, export, graph, flavour, version, device)
    # TensorRT for RTX compiles its kernels on a plan's first run on a GPU: kept beside the plan.
    cache = plan.folder / f"runtime-{gpu_fingerprint(gpu)}.cache"
    return plan_engine(plan, export.spec.name, runtime_cache=cache)


def plan_engine(
    plan: CompiledArtifact,
    model: str,
    *,
    cuda_graphs: bool = False,
    runtime_cache: Path | None = None,
) -> Any:
    """The TrtEngine (not opened) of the cached ``plan`` of ``model``, expecting what its manifest
    records (flavour, version, target compute capabilities) before it reads the plan."""
    from facert.backends.trt import TrtEngine

    targets = (plan.manifest.get("build") or {}).get("compute_capabilities") or []
    facts = PlanFacts(plan.key.backend, plan.key.backend_version, tuple(targets), model=model)
    return TrtEngine(
        plan.path,
        flavour=plan.key.backend,
        cuda_graphs=cuda_graphs,
        expected=facts,
        runtime_cache=runtime_cache,
    )
