"""Building a model's ONNX artifacts on request, from the run-time side.

This is the only place the runtime reaches into ``facert.export`` (torch, onnx), and only when the
user asks for an export or runs a model whose export is not in the cache yet.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from facert.artifacts import Artifact, check_artifact, find_artifact
from facert.cache import artifact_dir
from facert.errors import ArtifactError, MissingDependencyError, WeightsError
from facert.registry import ModelSpec
from facert.weights import cached_weights, verify_weights_file


def require_export_extra() -> None:
    missing = [m for m in ("torch", "onnx") if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingDependencyError(
            f"exporting models needs {' and '.join(missing)}: pip install 'facert[export]'"
        )


def export(
    spec: ModelSpec, cache_dir: Path, weights: Path | None = None, out_dir: Path | None = None
) -> Path:
    """Export ``spec`` (from ``weights``, the cached official files, or nothing) and return the folder.

    Without ``out_dir`` the export goes into the cache, keyed by the source checkpoint's sha256.
    """
    sources, source_sha = resolve_sources(spec, cache_dir, weights)
    require_export_extra()
    from facert.export.api import export_model

    folder = out_dir or artifact_dir(cache_dir, spec, source_sha if weights else None)
    return export_model(spec, sources, folder, source_sha)


def resolve_sources(
    spec: ModelSpec, cache_dir: Path, weights: Path | None
) -> tuple[list[Path], str | None]:
    """The weight files an export of ``spec`` reads, and the sha256 that identifies them."""
    if not spec.needs_weights:
        if weights is not None:
            raise WeightsError(f"model {spec.name} takes no weights file", path=str(weights))
        return [], None
    if weights is not None:
        return [weights], verify_weights_file(spec, weights)
    cached = cached_weights(spec, cache_dir)
    if cached is None:
        hint = f"run `facert models fetch {spec.name}`"
        if not spec.weights[0].pip_requirement:
            hint += " or pass --weights FILE"
        raise WeightsError(f"the weights of {spec.name} are not in the cache; {hint}")
    return cached, spec.weights[0].sha256


def ensure_artifact(spec: ModelSpec, cache_dir: Path, weights: Path | None = None) -> Artifact:
    """The cached export of ``spec`` (for ``weights``), exported first when torch is available."""
    source_sha = verify_weights_file(spec, weights) if weights is not None else None
    try:
        return find_artifact(cache_dir, spec, source_sha)
    except ArtifactError:
        has_torch = importlib.util.find_spec("torch") is not None
        can_build = (
            weights is not None
            or not spec.needs_weights
            or cached_weights(spec, cache_dir) is not None
        )
        if not (has_torch and can_build):
            raise
    return check_artifact(spec, export(spec, cache_dir, weights))
