"""TensorRT plans of a model: which graphs get one, building them, and finding them at run time.

``facert models build NAME`` builds a plan of every ONNX graph an export runs on the GPU, at one
precision: a restorer's FP16 graph for ``fp16`` (its FP32 pins are the spec's precision policy) or
its FP32 graph; a detector's (MTCNN: P-Net, R-Net, O-Net) and a frame stage's graphs in FP32, the
only graphs they have. The plans are compiled artifacts (kind ``trt-plan``,
:mod:`facert.models.compiled`), one folder per key; a plan already in the cache under its key is
reused, a refused one rebuilt. Building needs a TensorRT flavour (:mod:`facert.export.trt`); finding
and checking a plan needs nothing but its manifest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facert.errors import ArtifactError, UsageError, first_line
from facert.models.artifacts import FP16_GRAPH, FP32_GRAPH, MANIFEST, Artifact, read_manifest
from facert.models.cache import model_dir
from facert.models.compiled import CompiledArtifact, CompiledKey, check_compiled, find_compiled
from facert.models.registry import ModelSpec

if TYPE_CHECKING:
    from facert.export.trt.flavour import Flavour

log = logging.getLogger(__name__)

KIND = "trt-plan"
PRECISIONS = ("fp16", "fp32")


@dataclass(frozen=True)
class BuildRequest:
    """What ``facert models build`` asks for. ``capabilities``: target compute capabilities
    ("8.6"...) of an ahead-of-time build; empty: the GPU at hand, or the flavour's defaults."""

    target: str = "tensorrt-rtx"
    precision: str | None = None  # None: fp16 where the export has an FP16 graph, else fp32
    max_batch: int | None = None
    capabilities: tuple[str, ...] = ()


def plan_graphs(export: Artifact, precision: str | None) -> tuple[str, list[str]]:
    """The precision and the export's graphs a build at ``precision`` makes plans of."""
    if precision is not None and precision not in PRECISIONS:
        raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    others = [g for g in export.files if g not in (FP16_GRAPH, FP32_GRAPH)]
    has_fp32 = FP32_GRAPH in export.files
    if precision is None:
        precision = "fp16" if FP16_GRAPH in export.files else "fp32"
    if precision == "fp16":
        if FP16_GRAPH not in export.files:
            refused = export.fp16_refused
            why = f" (its export refused it: {first_line(refused)})" if refused else ""
            raise UsageError(
                f"{export.spec.name} has no FP16 graph{why}; build it with --precision fp32"
            )
        return precision, [FP16_GRAPH, *others]
    return precision, ([FP32_GRAPH] if has_fp32 else []) + others


def build_plans(
    spec: ModelSpec,
    cache_dir: Path,
    request: BuildRequest,
    *,
    weights: Path | None = None,
    out_dir: Path | None = None,
) -> list[CompiledArtifact]:
    """Build (or find, already built) the plans of ``spec`` that ``request`` asks for, exporting
    the model first when needed; ``out_dir``: the cache root the plans go to (default: the cache).
    """
    from facert.export.trt.flavour import get_flavour
    from facert.models.exporting import ensure_artifact

    get_flavour(request.target).module()  # the missing extra, named before the export's minutes
    export = ensure_artifact(spec, cache_dir, weights)
    return build_export_plans(export, out_dir or cache_dir, request)


def build_export_plans(
    export: Artifact, root: Path, request: BuildRequest
) -> list[CompiledArtifact]:
    """The plans of ``export`` that ``request`` asks for, built into (or found in) the cache
    folder ``root``."""
    from facert.export.trt.builder import TrtCompiler
    from facert.export.trt.flavour import RTX_DEFAULT_CAPABILITIES, get_flavour
    from facert.export.trt.profiles import default_profile
    from facert.models.compiling import compile_graph, compiled_key

    flavour = get_flavour(request.target)
    spec = export.spec
    precision, graphs = plan_graphs(export, request.precision)
    capabilities = request.capabilities or (RTX_DEFAULT_CAPABILITIES if flavour.aot else ())
    built = []
    for graph in graphs:
        profile = default_profile(graph, request.max_batch)
        compiler = TrtCompiler(flavour, capabilities, profile, **_gpu_target(flavour, root))
        key = compiled_key(export, graph, compiler, None, profile.batch, profile.spatial)
        try:
            built.append(find_compiled(root, spec, key))
            log.info("%s %s: plan in the cache", spec.name, graph)
            continue
        except ArtifactError:
            pass
        log.info("%s %s: building a %s %s plan", spec.name, graph, flavour.name, precision)
        built.append(compile_graph(root, export, key, compiler))
    return built


def _gpu_target(flavour: Flavour, cache_dir: Path) -> dict[str, Any]:
    """The device facts of a build on the GPU at hand (the enterprise flavour builds for it)."""
    if flavour.aot:
        return {}
    from facert.backends.cuda.driver import gpu_fingerprint, require_gpu

    gpu = require_gpu(purpose=f"building {flavour.name} plans")
    fingerprint = gpu_fingerprint(gpu)
    return {
        "device": fingerprint,
        "device_description": gpu.summary(),
        "timing_cache": cache_dir / "tensorrt" / f"timing-{flavour.version()}-{fingerprint}.cache",
    }


def _recorded_keys(cache_dir: Path, spec: ModelSpec) -> list[tuple[Path, CompiledKey]]:
    """Every plan folder of ``spec`` in the cache with the key its manifest records (unreadable
    manifests left out); nothing is hashed."""
    root = model_dir(cache_dir, spec) / "compiled" / KIND
    found = []
    for folder in sorted(root.glob("*")) if root.is_dir() else []:
        if not (folder / MANIFEST).is_file():
            continue
        try:
            found.append((folder, CompiledKey.from_json(read_manifest(folder).get("key"))))
        except (ArtifactError, TypeError, ValueError):
            continue
    return found


def cached_plans(cache_dir: Path, spec: ModelSpec) -> list[CompiledArtifact]:
    """Every plan of ``spec`` in the cache that checks against its own manifest's key (a plan for
    another device is listed; :func:`find_plan` picks)."""
    plans = []
    for folder, key in _recorded_keys(cache_dir, spec):
        try:
            plans.append(check_compiled(spec, folder, key))
        except ArtifactError:
            continue
    return plans


def find_plan(
    cache_dir: Path,
    export: Artifact,
    graph: str,
    flavour: str,
    version: str,
    device: str,
) -> CompiledArtifact:
    """The cached plan of ``graph`` of ``export`` for ``flavour`` ``version`` that runs on
    ``device`` (a compute capability label "sm86", for the AOT flavour, or the GPU fingerprint);
    ArtifactError saying how to build one when there is none. Only the plan picked by its key is
    checked (hashed): plans are hundreds of MB."""
    sha = export.graph_sha256(graph)
    for folder, key in _recorded_keys(cache_dir, export.spec):
        if (key.source_graph, key.source_sha256, key.backend) != (graph, sha, flavour):
            continue
        if key.backend_version == version and device in key.device.split("+"):
            try:
                return check_compiled(export.spec, folder, key)
            except ArtifactError:
                continue
    raise ArtifactError(
        f"no {flavour} {version} plan of {export.spec.name} {graph} for {device} in the cache; "
        f"build one: facert models build {export.spec.name} --target {flavour}",
        path=str(model_dir(cache_dir, export.spec) / "compiled" / KIND),
    )
