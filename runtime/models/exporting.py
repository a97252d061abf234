"""Building a model's ONNX artifacts on request, from the run-time side.

This is the only place the runtime reaches into ``facert.export`` (torch, onnx), and only when the
user asks for an export or runs a model whose export is not in the cache yet.

A user's checkpoint need not be the official release: the export checks its keys and shapes
(``torch.load(weights_only=True)``) before it writes anything, records its sha256 and whether it is
official in the manifest, and logs one notice line when it is not (:mod:`facert.models.provenance`). The
runtime, which has no torch to read a checkpoint, finds that export again by the file's sha256.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path

from facert.errors import ArtifactError, MissingDependencyError, UsageError, WeightsError
from facert.io.files import sha256_of
from facert.io.images import IMAGE_SUFFIXES
from facert.models.artifacts import Artifact, check_artifact, find_artifact
from facert.models.cache import artifact_dir
from facert.models.provenance import unofficial_notice
from facert.models.registry import ModelSpec
from facert.models.weights import (
    cached_weights,
    combined_sha256,
    files_in_folder,
    several_files,
    verify_weights_file,
)

log = logging.getLogger(__name__)


def require_export_extra() -> None:
    missing = [m for m in ("torch", "onnx") if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingDependencyError(
            f"exporting models needs {' and '.join(missing)}: pip install 'facert[export]'"
        )


def export(
    spec: ModelSpec,
    cache_dir: Path,
    weights: Path | None = None,
    out_dir: Path | None = None,
    *,
    weights_sha256: str | None = None,
    check_faces: Sequence[Path] = (),
) -> Path:
    """Export ``spec`` (from ``weights``, the cached official files, or nothing) and return the folder.

    Without ``out_dir`` the export goes into the cache, keyed by the source checkpoint's sha256.
    ``weights_sha256``: the sha256 of ``weights`` when the caller has it already.
    ``check_faces``: aligned face images a learned restorer's export is also checked on (see
    :func:`check_face_files`), listed in its manifest; its fixed check faces are checked always.
    """
    sources, source_sha = resolve_sources(spec, cache_dir, weights, weights_sha256)
    require_export_extra()
    from facert.export.harness.api import export_model

    folder = out_dir or artifact_dir(cache_dir, spec, source_sha if weights else None)
    return export_model(spec, sources, folder, source_sha, check_faces=check_faces)


def check_face_files(folder: Path) -> list[Path]:
    """The images directly in ``folder``, sorted by name: extra aligned faces (the restorer's
    input size, or any square size: they are resized) for ``facert models export --check-faces``.
    :class:`UsageError` when ``folder`` is not a folder or holds no image."""
    if not folder.is_dir():
        raise UsageError("--check-faces needs a folder of aligned face images", path=str(folder))
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise UsageError(f"no face images ({suffixes}) in this folder", path=str(folder))
    return files


def resolve_sources(
    spec: ModelSpec, cache_dir: Path, weights: Path | None, weights_sha256: str | None = None
) -> tuple[list[Path], str | None]:
    """The weight files an export of ``spec`` reads, and the sha256 that identifies them.

    Cached files are the official ones: ``facert models fetch`` checked them, and a file put into
    the cache's weights folder by hand is checked here (one sha256, before the export's minutes).
    """
    if not spec.needs_weights:
        if weights is not None:
            raise WeightsError(f"model {spec.name} takes no weights file", path=str(weights))
        return [], None
    if weights is not None:
        sha = weights_sha256 or verify_weights_file(spec, weights)
        return (files_in_folder(spec, weights) if several_files(spec) else [weights]), sha
    cached = cached_weights(spec, cache_dir)
    if cached is None:
        hint = f"run `facert models fetch {spec.name}`"
        if not spec.weights[0].pip_requirement:
            hint += " or pass --weights FILE"
        raise WeightsError(f"the weights of {spec.name} are not in the cache; {hint}")
    if several_files(spec):  # no published sha256 (PSFR-GAN): identified by the files' own
        return cached, combined_sha256(cached)
    official = spec.weights[0].sha256
    if len(cached) != 1:  # files extracted from a wheel whose sha256 `fetch` checked (MTCNN)
        return cached, official
    actual = sha256_of(cached[0])
    if official and actual != official:
        raise WeightsError(
            f"sha256 {actual[:16]}... is not the official {spec.name} file ({official[:16]}...); "
            f"run `facert models fetch {spec.name}`, or pass the file with --weights FILE to run "
            "it as unofficial weights",
            path=str(cached[0]),
        )
    return cached, actual


def ensure_artifact(spec: ModelSpec, cache_dir: Path, weights: Path | None = None) -> Artifact:
    """The cached export of ``spec`` (for ``weights``), exported first when torch is available.

    Logs one notice line when the export it returns was built from unofficial weights.
    """
    source_sha = verify_weights_file(spec, weights) if weights is not None else None
    try:
        artifact = find_artifact(cache_dir, spec, source_sha)
    except ArtifactError:
        has_torch = importlib.util.find_spec("torch") is not None
        can_build = (
            weights is not None
            or not spec.needs_weights
            or cached_weights(spec, cache_dir) is not None
        )
        if weights is not None and not has_torch:
            raise ArtifactError(
                f"no export of this file (sha256 {(source_sha or '')[:16]}...) in the cache; "
                "exporting it needs torch and onnx: pip install 'facert[export]', then run "
                f"`facert models export {spec.name} --weights {weights}`",
                path=str(weights),
            ) from None
        if not (has_torch and can_build):
            raise
        # The export logs the notice itself, once the file's keys and shapes are checked.
        return check_artifact(spec, export(spec, cache_dir, weights, weights_sha256=source_sha))
    if not artifact.official:
        files = (artifact.manifest.get("source") or {}).get("files") or ["?"]
        name = weights.name if weights is not None else str(files[0])
        log.warning("%s", unofficial_notice(spec, artifact.source_sha256, name))
    return artifact
