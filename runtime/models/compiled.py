"""Compiled artifacts: engines built from an exported ONNX graph for one backend on one device.

An ONNX export (:mod:`facert.models.artifacts`) runs anywhere; a compiled artifact does not. A
TensorRT plan, an OpenVINO blob or an ONNX Runtime optimized model is tied to the graph it was built
from, to the backend and its version, to the device (a TensorRT plan to one GPU, ONNX Runtime's
NCHWc layouts to the CPU's vector width), to a precision and to the batch sizes it was built for.
All of that is its :class:`CompiledKey`; the cache keeps one folder per key (layout in
:mod:`facert.models.cache`)::

    <model>/compiled/<kind>/<key digest>/manifest.json    the key, the file built, what built it
    <model>/compiled/<kind>/<key digest>/<file>

The manifest (schema :data:`SCHEMA`) is::

    {"schema": 1, "kind": "ort-optimized", "spec": "ispl", "spec_fingerprint": "89965e6c...",
     "key": {"kind": ..., "source_graph": "model.onnx", "source_sha256": "98f30d37...",
             "backend": "onnxruntime", "backend_version": "1.32.0", "device": "cpu-x86_64-...",
             "precision": "fp32", "batch_profile": null | [min, opt, max]},
     "file": {"name": "model.optimized.onnx", "sha256": "...", "bytes": 34323},
     "device_description": "...", "versions": {...}, "created": "2026-12-05T02:00:00+00:00"}

:func:`check_compiled` refuses, in one line naming the folder and the first field that differs, an
artifact whose manifest does not match the key the runtime asks for, or whose file is missing or
not the file the manifest hashed. A refused artifact is never used; rebuilding replaces it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from facert.errors import ArtifactError
from facert.io.files import sha256_of
from facert.models.artifacts import MANIFEST, read_manifest
from facert.models.cache import compiled_dir
from facert.models.registry import ModelSpec

SCHEMA = 1  # the manifest schema this facert reads and writes

# How each key field is named in a refusal: "compiled for <what> X, this run asks for Y".
_FIELDS = {
    "kind": "kind",
    "source_graph": "source graph",
    "source_sha256": "source graph sha256",
    "backend": "backend",
    "backend_version": "backend version",
    "device": "device",
    "precision": "precision",
    "batch_profile": "batch profile",
    "spatial_profile": "height/width profile",
}


@dataclass(frozen=True)
class CompiledKey:
    """What a compiled artifact was built from and for; two artifacts with one key are the same.

    ``source_graph``/``source_sha256``: the ONNX file of the export it was compiled from and its
    sha256 (the export manifest's). ``device``: the backend's fingerprint of the device (see
    :func:`facert.backends.device.cpu_fingerprint`). ``precision``: "fp32", "fp16", "bf16", "int8".
    ``batch_profile``: (min, opt, max) faces per call for engines built for fixed shapes, None for
    an artifact that keeps the graph's dynamic batch. ``spatial_profile``: (min, opt, max) pixels
    of the dynamic height and width of a graph that has them (MTCNN's P-Net), None otherwise; left
    out of the key's JSON when None, so keys without it keep their digests.
    """

    kind: str
    source_graph: str
    source_sha256: str
    backend: str
    backend_version: str
    device: str
    precision: str
    batch_profile: tuple[int, int, int] | None = None
    spatial_profile: tuple[int, int, int] | None = None

    def to_json(self) -> dict[str, Any]:
        facts = asdict(self)
        facts["batch_profile"] = list(self.batch_profile) if self.batch_profile else None
        if self.spatial_profile is None:
            del facts["spatial_profile"]
        else:
            facts["spatial_profile"] = list(self.spatial_profile)
        return facts

    @classmethod
    def from_json(cls, facts: object) -> CompiledKey:
        """The key a manifest recorded (:meth:`to_json`); TypeError/ValueError when malformed."""
        if not isinstance(facts, dict):
            raise TypeError("a compiled key is a JSON object")
        fields = dict(facts)
        for name in ("batch_profile", "spatial_profile"):
            if fields.get(name) is not None:
                low, opt, high = (int(v) for v in fields[name])
                fields[name] = (low, opt, high)
        return cls(**fields)

    def digest(self) -> str:
        """16 hex digits of the sha256 of the key: its folder name in the cache."""
        text = json.dumps(self.to_json(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CompiledArtifact:
    """One checked compiled artifact: its folder, key, file and manifest."""

    spec: ModelSpec
    key: CompiledKey
    folder: Path
    manifest: dict[str, Any]

    @property
    def path(self) -> Path:
        """The compiled file (checked present and matching its manifest's sha256)."""
        return self.folder / str(self.manifest["file"]["name"])


def _refuse(folder: Path, reason: str, fix: str) -> ArtifactError:
    return ArtifactError(f"{reason}; {fix}", path=str(folder))


def _check_key(folder: Path, recorded: object, key: CompiledKey, fix: str) -> None:
    if not isinstance(recorded, dict):
        raise _refuse(folder, "compiled artifact's manifest has no key", fix)
    wanted = key.to_json()
    for field, label in _FIELDS.items():
        if recorded.get(field) != wanted.get(field):
            raise _refuse(
                folder,
                f"compiled for {label} {_show(recorded.get(field))}, this run asks for "
                f"{_show(wanted.get(field))}",
                fix,
            )


def _show(value: object) -> str:
    if isinstance(value, str) and len(value) == 64:  # a sha256: its first 16 digits say enough
        return value[:16] + "..."
    return "none" if value is None else str(value)


def _check_file(folder: Path, recorded: object, fix: str) -> None:
    if not isinstance(recorded, dict) or not isinstance(recorded.get("name"), str):
        raise _refuse(folder, "compiled artifact's manifest names no file", fix)
    path = folder / recorded["name"]
    if not path.is_file():
        raise _refuse(folder, f"missing {recorded['name']}, which its manifest lists", fix)
    if path.stat().st_size != recorded.get("bytes") or sha256_of(path) != recorded.get("sha256"):
        raise _refuse(folder, f"{recorded['name']} is not the file its manifest hashed", fix)


def check_compiled(spec: ModelSpec, folder: Path, key: CompiledKey) -> CompiledArtifact:
    """The compiled artifact in ``folder``, checked against ``spec`` and ``key``.

    Raises :class:`ArtifactError` (one line: the folder and the first thing that differs) when the
    manifest is missing or unreadable, was written by another schema, for another model or graph
    version, under another key, or when its file is missing or differs from the one it hashed.
    """
    manifest = read_manifest(folder)
    fix = f"rebuild the {key.kind} artifact of {spec.name}"
    if manifest.get("schema") != SCHEMA:
        raise _refuse(
            folder,
            f"compiled-artifact manifest schema {manifest.get('schema')!r}, not {SCHEMA}",
            fix,
        )
    if manifest.get("spec") != spec.name:
        raise _refuse(
            folder, f"compiled for model {manifest.get('spec')!r}, not {spec.name!r}", fix
        )
    if manifest.get("spec_fingerprint") != spec.fingerprint():
        raise _refuse(folder, f"compiled from another version of the {spec.name} graph", fix)
    _check_key(folder, manifest.get("key"), key, fix)
    _check_file(folder, manifest.get("file"), fix)
    return CompiledArtifact(spec=spec, key=key, folder=folder, manifest=manifest)


def find_compiled(cache_dir: Path, spec: ModelSpec, key: CompiledKey) -> CompiledArtifact:
    """The cached artifact of ``spec`` compiled under ``key``; ArtifactError when there is none,
    or when the one in its folder does not match (:func:`check_compiled`)."""
    folder = compiled_dir(cache_dir, spec, key.kind, key.digest())
    if not (folder / MANIFEST).is_file():
        raise ArtifactError(
            f"no {key.kind} artifact of {spec.name} for {key.backend} {key.backend_version} on "
            f"{key.device} at {key.precision} in the cache; build it first",
            path=str(folder),
        )
    return check_compiled(spec, folder, key)
