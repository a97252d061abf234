"""The export entry point shared by every model family.

A family exporter is a function ``exporter(spec, sources, workdir) -> dict`` registered under the
name ``ModelSpec.exporter`` (:mod:`facert.export.exporters`). It writes ``spec.onnx_files`` into
``workdir`` (a learned restorer leaves out the FP16 graph when that fails its checks, and says so
in the facts), checks them against its torch module, and returns the facts for the manifest
(``opset``, ``precision_policy``, ``parity`` and any family-specific entries). It raises
:class:`facert.errors.ExportError` when a check fails.
The manifest's ``files`` lists the ONNX files written (with the external data file of a graph
past 2 GB: :mod:`facert.export.harness.onnx`).

:func:`export_model` wraps it: a fresh work folder, the manifest (spec fingerprint, source sha256,
file hashes, tool versions, the extra check faces asked for), and an atomic rename into place, so
a failed export leaves nothing.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2

from facert import __version__
from facert.errors import UsageError
from facert.export.exporters import Exporter, exporter_for
from facert.export.harness.source_check import LearnedExporter
from facert.io.files import sha256_of, write_folder_atomic
from facert.models.artifacts import (
    EXTERNAL_DATA,
    check_artifact,
    data_file_name,
    write_manifest,
)
from facert.models.provenance import is_official, unofficial_notice
from facert.models.registry import ModelSpec

log = logging.getLogger(__name__)


def _tool_versions() -> dict[str, str]:
    versions = {"facert": __version__}
    for name in ("torch", "onnx", "onnxruntime", "numpy"):
        try:
            versions[name] = importlib.import_module(name).__version__
        except ImportError:
            continue
    return versions


def extra_face_facts(
    spec: ModelSpec, exporter: Exporter, faces: Sequence[Path]
) -> list[dict[str, str]]:
    """Each extra check face's file name and sha256, as the manifest lists them (empty without).

    Raises :class:`UsageError` before anything is written when ``spec``'s export checks no aligned
    faces (only a learned restorer's does) or a file is not a readable image.
    """
    if faces and not isinstance(exporter, LearnedExporter):
        raise UsageError(
            f"the export of {spec.name} checks no aligned faces: extra check faces are for "
            "learned restorers"
        )
    for path in faces:
        if cv2.imread(str(path), cv2.IMREAD_COLOR) is None:
            raise UsageError("cannot read this face image", path=str(path))
    return [{"file": path.name, "sha256": sha256_of(path)} for path in faces]


def file_facts(folder: Path, name: str) -> dict[str, Any]:
    """The manifest entry of the graph ``name`` in ``folder``: sha256 and bytes, and those of its
    external data file when it has one (``external_data``)."""

    def facts(path: Path) -> dict[str, Any]:
        return {"sha256": sha256_of(path), "bytes": path.stat().st_size}

    entry = facts(folder / name)
    data = folder / data_file_name(name)
    if data.is_file():
        entry[EXTERNAL_DATA] = {"file": data.name, **facts(data)}
    return entry


def export_model(
    spec: ModelSpec,
    sources: list[Path],
    out_dir: Path,
    source_sha256: str | None = None,
    *,
    check_faces: Sequence[Path] = (),
) -> Path:
    """Export ``spec`` from ``sources`` (weight files; empty for weight-free models) into ``out_dir``.

    An exporter with a ``check_sources(spec, sources)`` method (:class:`facert.export.harness.source_check.
    LearnedExporter`) checks the files first: a file that is not a checkpoint of ``spec`` is refused
    before anything is written. Sources whose ``source_sha256`` is not a published one of ``spec``
    are unofficial weights: one notice line is logged and the manifest says ``"official": false``.
    ``check_faces``: aligned face images a learned restorer's export is checked on besides its
    fixed ones (:func:`facert.export.harness.checks.default_faces`); the manifest lists them
    (``extra_check_faces``: file name and sha256) when there are any.
    ``out_dir`` is replaced only when the new export is complete and checked.
    """
    exporter = exporter_for(spec)
    extra_faces = extra_face_facts(spec, exporter, check_faces)
    check_sources = getattr(exporter, "check_sources", None)
    if check_sources is not None:
        check_sources(spec, sources)  # a wrong file is refused before anything is written
    official = is_official(spec, source_sha256)
    if sources and not official:
        log.warning("%s", unofficial_notice(spec, source_sha256, sources[0].name))

    def build(workdir: Path) -> None:
        if isinstance(exporter, LearnedExporter):
            facts = exporter(spec, sources, workdir, extra_faces=check_faces)
        else:
            facts = exporter(spec, sources, workdir)
        manifest: dict[str, Any] = {
            "spec": spec.name,
            "spec_fingerprint": spec.fingerprint(),
            "source": {
                "files": [p.name for p in sources],
                "sha256": source_sha256,
                "official": official,
            }
            if sources
            else None,
            "files": {
                name: file_facts(workdir, name)
                for name in sorted(os.listdir(workdir))
                if name.endswith(".onnx")
            },
            "versions": _tool_versions(),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            **facts,
            **({"extra_check_faces": extra_faces} if extra_faces else {}),
        }
        write_manifest(workdir, manifest)
        check_artifact(spec, workdir)

    write_folder_atomic(out_dir, build)
    return out_dir
