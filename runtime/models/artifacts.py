"""Manifests of exported models, and finding a usable export in the cache.

Every export folder holds ``manifest.json``: the spec it was built for (name and fingerprint), the
source file and its sha256, each ONNX file built (``files``: name -> sha256 and size), the opset, the
precision policy, the versions of the tools, and the parity the export reached. The runtime refuses
an export whose manifest does not match its spec, or lists a file that is missing.

``files`` is what was built: a spec's ``onnx_files`` all, or all but the FP16 graph when the export
refused it for failing its FP16 checks (the manifest's ``fp16_refused`` says why); the runtime then
runs the FP32 graph.

A graph past protobuf's 2 GB (:mod:`facert.export.harness.onnx`) keeps its tensors in one file
beside it, ``<graph>.data`` (:func:`data_file_name`), listed under its graph's entry as
``external_data`` (file, sha256, bytes). The runtime refuses such an export when that file is
missing or differs from the manifest (size, then sha256: hashed once per process while the file's
size and mtime stay the same). Backends load the graph by its path, so they find the file.

These ONNX exports are the artifacts every backend starts from. Engines compiled from them for one
backend on one device (ONNX Runtime optimized models, later TensorRT plans and OpenVINO blobs) are
another kind, with their own key and manifest: :mod:`facert.models.compiled`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from facert.errors import ArtifactError
from facert.models.cache import artifact_dir, exported_sources
from facert.models.provenance import is_official
from facert.models.registry import ModelSpec

MANIFEST = "manifest.json"
FP32_GRAPH = "model.onnx"  # a restorer's graph in float32 (every restorer has one)
FP16_GRAPH = "model.fp16.onnx"  # the same with float16 storage; optional (refused, or not built)
EXTERNAL_DATA = "external_data"  # a graph's manifest entry for its external data file


def data_file_name(graph: str) -> str:
    """The name of the external data file of the graph file ``graph``."""
    return f"{graph}.data"


@dataclass(frozen=True)
class Artifact:
    """One export of a model: its folder and its parsed manifest."""

    spec: ModelSpec
    folder: Path
    manifest: dict[str, Any]

    def path(self, filename: str) -> Path:
        return self.folder / filename

    @property
    def source_sha256(self) -> str | None:
        source = self.manifest.get("source")
        return source.get("sha256") if isinstance(source, dict) else None

    @property
    def official(self) -> bool:
        """Built from the official weights (or from none); ``source.official`` in the manifest."""
        source = self.manifest.get("source")
        if not isinstance(source, dict):
            return True
        flag = source.get("official")
        return flag if isinstance(flag, bool) else is_official(self.spec, self.source_sha256)

    @property
    def files(self) -> tuple[str, ...]:
        """The ONNX files this export built (its manifest's ``files``; checked present)."""
        return tuple(self.manifest["files"])

    def graph_sha256(self, filename: str) -> str:
        """The identity of the graph ``filename`` that compiled artifacts are keyed by: its
        sha256, or, for a graph with external data (whose file then holds the structure alone,
        the same for any weights), the sha256 of its sha256 and its data file's."""
        entry = self.manifest["files"][filename]
        data = entry.get(EXTERNAL_DATA)
        if data is None:
            return str(entry["sha256"])
        return hashlib.sha256(f"{entry['sha256']}:{data['sha256']}".encode()).hexdigest()

    @property
    def fp16_refused(self) -> str | None:
        """Why the export refused its FP16 graph (failed FP16 checks), or None."""
        reason = self.manifest.get("fp16_refused")
        return str(reason) if reason is not None else None


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError("no manifest.json: export the model again", path=str(folder)) from None
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"unreadable manifest ({exc})", path=str(path)) from None
    if not isinstance(data, dict):
        raise ArtifactError("manifest is not a JSON object", path=str(path))
    return data


def check_artifact(spec: ModelSpec, folder: Path) -> Artifact:
    """Load and validate the export in ``folder`` against ``spec``; raise ArtifactError if it differs."""
    manifest = read_manifest(folder)
    fix = f"run `facert models export {spec.name}` again"
    if manifest.get("spec") != spec.name:
        raise ArtifactError(
            f"built for model {manifest.get('spec')!r}, not {spec.name!r}", path=str(folder)
        )
    if manifest.get("spec_fingerprint") != spec.fingerprint():
        raise ArtifactError(
            f"built by another version of the {spec.name} graph; {fix}", path=str(folder)
        )
    check_files(spec, folder, manifest.get("files"), fix)
    return Artifact(spec=spec, folder=folder, manifest=manifest)


def check_files(spec: ModelSpec, folder: Path, files: object, fix: str) -> None:
    """The manifest's ``files`` must name only files of ``spec.onnx_files``, all of them but the
    optional FP16 graph, and every file it names must be in ``folder``."""
    if not isinstance(files, dict):
        raise ArtifactError(f"manifest lists no ONNX files; {fix}", path=str(folder))
    unknown = sorted(set(files) - set(spec.onnx_files))
    if unknown:
        raise ArtifactError(
            f"manifest lists {', '.join(unknown)}, which {spec.name} does not build; {fix}",
            path=str(folder),
        )
    for filename in spec.onnx_files:
        if filename not in files and filename != FP16_GRAPH:
            raise ArtifactError(f"manifest lists no {filename}; {fix}", path=str(folder))
    for filename, entry in files.items():
        if not (folder / filename).is_file():
            raise ArtifactError(
                f"missing {filename}, which its manifest lists; {fix}", path=str(folder)
            )
        data = entry.get(EXTERNAL_DATA) if isinstance(entry, dict) else None
        if data is not None:
            check_data_file(folder, filename, data, fix)


def check_data_file(folder: Path, graph: str, data: object, fix: str) -> None:
    """The external data file of ``graph`` is there and is the one its manifest entry ``data``
    describes (``file``, ``bytes``, ``sha256``)."""
    if not isinstance(data, dict) or data.get("file") != data_file_name(graph):
        raise ArtifactError(
            f"manifest entry of {graph}'s external data is invalid; {fix}", path=str(folder)
        )
    path = folder / data["file"]
    if not path.is_file():
        raise ArtifactError(
            f"missing {path.name}, the external data of {graph}; {fix}", path=str(folder)
        )
    stat = path.stat()
    if stat.st_size != data.get("bytes") or _sha256(
        path, stat.st_size, stat.st_mtime_ns
    ) != data.get("sha256"):
        raise ArtifactError(
            f"{path.name} (the external data of {graph}) is not the file its manifest lists "
            f"(size or sha256 differ); {fix}",
            path=str(path),
        )


@lru_cache(maxsize=16)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    """sha256 of ``path``, remembered while its size and mtime (the key) stay the same."""
    from facert.io.files import sha256_of

    return sha256_of(path)


def find_artifact(cache_dir: Path, spec: ModelSpec, source_sha256: str | None = None) -> Artifact:
    """The export of ``spec`` built from ``source_sha256`` (or the builtin/only one) in the cache."""
    folder = artifact_dir(cache_dir, spec, source_sha256)
    if (folder / MANIFEST).is_file():
        return check_artifact(spec, folder)
    if source_sha256 is None:
        found = exported_sources(cache_dir, spec)
        if len(found) == 1:
            return check_artifact(spec, found[0])
        if len(found) > 1:
            raise ArtifactError(
                f"{len(found)} exports of {spec.name} in the cache; pass --weights FILE to choose",
                path=str(folder.parent),
            )
    hint = (
        f"run `facert models export {spec.name}`"
        if not spec.needs_weights or spec.weights[0].pip_requirement
        else f"run `facert models export {spec.name} --weights FILE`"
    )
    raise ArtifactError(f"model {spec.name} is not exported yet; {hint}", path=str(folder))


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    from facert.io.files import write_bytes_atomic

    write_bytes_atomic(folder / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
