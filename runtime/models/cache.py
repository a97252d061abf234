"""Where weights and exported models live in the cache directory.

Layout under ``Settings.cache_dir``::

    <model>/weights/<file>                 official files (checked against the spec's sha256)
    <model>/onnx-<source>/manifest.json    one export: its files, what built it, the parity it reached
    <model>/onnx-<source>/*.onnx
    <model>/compiled/<kind>/<key>/manifest.json   one compiled artifact (facert.models.compiled)
    <model>/compiled/<kind>/<key>/<file>

``<source>`` is the first 16 hex digits of the sha256 of the file the export was built from (a user's
checkpoint), or ``builtin`` for models without user-supplied weights (MTCNN's packaged weights are
fixed by the spec, ISPL and WIPA have none).

A compiled artifact (an engine built from one of an export's ONNX graphs for one backend on one
device: an ONNX Runtime optimized model, later TensorRT plans and OpenVINO blobs) lives under its
``<kind>``, in a folder named by the digest of its key: the source graph's sha256, the backend and
its version, the device fingerprint, the precision and the batch profile
(:class:`facert.models.compiled.CompiledKey`). Keys that differ in any of these never share a folder.
"""

from __future__ import annotations

from pathlib import Path

from facert.models.registry import ModelSpec


def model_dir(cache_dir: Path, spec: ModelSpec) -> Path:
    return cache_dir / spec.name


def weights_dir(cache_dir: Path, spec: ModelSpec) -> Path:
    return model_dir(cache_dir, spec) / "weights"


def artifact_dir(cache_dir: Path, spec: ModelSpec, source_sha256: str | None = None) -> Path:
    """The folder of one export of ``spec``, keyed by the checkpoint it was built from."""
    key = source_sha256[:16] if source_sha256 else "builtin"
    return model_dir(cache_dir, spec) / f"onnx-{key}"


def exported_sources(cache_dir: Path, spec: ModelSpec) -> list[Path]:
    """Every export folder of ``spec`` present in the cache (with a manifest)."""
    root = model_dir(cache_dir, spec)
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("onnx-*") if (p / "manifest.json").is_file())


def compiled_dir(cache_dir: Path, spec: ModelSpec, kind: str, key_digest: str) -> Path:
    """The folder of one compiled artifact of ``spec``: its kind, then its key's digest."""
    return model_dir(cache_dir, spec) / "compiled" / kind / key_digest
