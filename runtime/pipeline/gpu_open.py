"""Building the GPU frame pipeline for GPU 0: the checks, the backend, the engines.

:func:`open_gpu_pipeline` (``GpuPipeline.open``) takes ``Pipeline.open``'s arguments. Everything
that can be refused is refused before anything is built, each in one line: no GPU (the driver
check; no CUDA library is touched without a driver), a restorer or option the GPU pipeline does not
run (:func:`facert.pipeline.gpu_frame.gpu_refusal`), a backend that cannot run here.

Backends (``backend``): ``trt`` (the cached TensorRT plan, :func:`facert.backends.gpu_choice.
gpu_engine`), ``torch`` (the export-form module on PyTorch CUDA, :mod:`facert.backends.torch_gpu`),
``auto`` (trt where a flavour runs here and a plan is cached, else torch where PyTorch has CUDA).
MTCNN's networks run on torch where it has CUDA (:mod:`facert.pipeline.gpu_detect_torch`), else on
ONNX Runtime on the CPU behind the binding protocol (:class:`facert.pipeline.bound.HostBound`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from facert.backends import engine_for
from facert.backends.base import Lifecycle
from facert.backends.cuda import require_gpu
from facert.config import Settings
from facert.errors import ArtifactError, UnsupportedError, UsageError
from facert.models.artifacts import Artifact
from facert.models.exporting import ensure_artifact
from facert.models.registry import ModelSpec, get_spec
from facert.models.specs import DEFAULT_DETECTOR, DEFAULT_RESTORER
from facert.pipeline.bound import HostBound
from facert.pipeline.device_ops import DeviceOps
from facert.pipeline.frame import EnhanceOptions
from facert.pipeline.gpu_detect import GpuMtcnn
from facert.pipeline.gpu_frame import GpuPipeline, gpu_refusal
from facert.stages.detect import detector_spec
from facert.stages.detect.mtcnn import NETWORKS, MtcnnOptions
from facert.stages.restore.restorer import Restorer

GPU_PIPELINE_BACKENDS = ("auto", "trt", "torch")


def estimated_options(spec: ModelSpec, model_options: Mapping[str, float]) -> list[str]:
    """The options ``spec`` would estimate per face (graph inputs marked estimated, not given)."""
    return [
        o.name
        for o in spec.options
        if o.graph_input and o.estimated and o.name not in model_options
    ]


def check_gpu_pipeline(
    spec: ModelSpec, options: EnhanceOptions, model_options: Mapping[str, float], backend: str
) -> None:
    """Every refusal that needs nothing built, in one line: the backend name, the GPU (its
    driver check), the model and options."""
    if backend not in GPU_PIPELINE_BACKENDS:
        raise UsageError(
            f"--device cuda runs --backend {', '.join(GPU_PIPELINE_BACKENDS)}, not {backend}"
        )
    require_gpu(purpose="--device cuda")
    if spec.role != "restorer":
        raise UsageError(f"{spec.name} is a {spec.role}, not a restorer")
    refusal = gpu_refusal(spec, options, estimated_options(spec, model_options))
    if refusal is not None:
        raise UnsupportedError(refusal)


def restorer_engine(
    settings: Settings, export: Artifact, backend: str, precision: str, weights: Any
) -> tuple[Any, str]:
    """The restorer's GPU engine (not opened) and the backend that runs it."""
    from facert.backends.gpu_choice import gpu_engine, gpu_precision, gpu_unavailable

    precision = gpu_precision(export, precision)
    if backend in ("auto", "trt") and (backend == "trt" or gpu_unavailable("trt") is None):
        try:
            return gpu_engine(settings.cache_dir, export, "trt", precision), "trt"
        except (ArtifactError, UnsupportedError):
            if backend == "trt":
                raise
    from facert.backends.torch_gpu import torch_engine, torch_unavailable

    why = torch_unavailable()
    if why is not None:
        raise UnsupportedError(
            f"--device cuda found no GPU backend: no usable TensorRT plan; {why}"
        )
    return torch_engine(settings.cache_dir, export, precision, weights), "torch"


def detector_engines(settings: Settings, ops: DeviceOps, detector: str) -> dict[str, Any]:
    """MTCNN's networks for the GPU pipeline: torch on the GPU when it has CUDA, else ONNX
    Runtime on the CPU behind the binding protocol."""
    spec = detector_spec(detector)
    try:
        import torch

        on_torch = bool(torch.cuda.is_available())
    except ImportError:
        on_torch = False
    if on_torch:
        from facert.pipeline.gpu_detect_torch import torch_nets

        return dict(torch_nets(settings.cache_dir))
    artifact = ensure_artifact(spec, settings.cache_dir)
    return {
        name: HostBound(
            engine_for(artifact.path(f"{name}.onnx"), threads=settings.threads), ops, name
        )
        for name in NETWORKS
    }


def open_gpu_pipeline(
    settings: Settings,
    model: str = DEFAULT_RESTORER,
    *,
    weights: Any = None,
    detector: str = DEFAULT_DETECTOR,
    model_options: Mapping[str, float] | None = None,
    detector_options: Mapping[str, Any] | None = None,
    options: EnhanceOptions | None = None,
    precision: str = "auto",
    backend: str = "auto",
    report: Callable[[str], None] | None = None,
) -> GpuPipeline:
    """The GPU pipeline of restorer ``model`` on ``backend`` (auto, trt, torch), opened; the
    arguments are :meth:`facert.pipeline.frame.Pipeline.open`'s."""
    from facert.pipeline.cuda_ops import CudaOps

    spec = get_spec(model)
    options = options or EnhanceOptions()
    given = dict(model_options or {})
    check_gpu_pipeline(spec, options, given, backend)
    if detector_spec(detector).family != "mtcnn":
        raise UnsupportedError(f"the GPU pipeline detects with MTCNN, not {detector}")
    export = ensure_artifact(spec, settings.cache_dir, weights)
    engine, chosen = restorer_engine(settings, export, backend, precision, weights)
    if report is not None:
        report(f"{spec.name} on the GPU pipeline, {chosen} backend")
    ops = CudaOps(0, settings.cache_dir)
    nets = detector_engines(settings, ops, detector)
    mtcnn = GpuMtcnn(nets, ops, MtcnnOptions(**dict(detector_options or {})))
    restorer = Restorer(export, engine, options=given)
    return Lifecycle.open(GpuPipeline(ops, mtcnn, restorer, options))
