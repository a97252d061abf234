"""Building compiled artifacts from an export's ONNX graphs (the builder side of
:mod:`facert.models.compiled`).

A backend that compiles graphs offers a :class:`Compiler`; :func:`compile_graph` runs it on one ONNX
file of a checked export, into a temporary folder beside the key's folder, hashes what it wrote,
writes the manifest, and renames the folder into place, so a failed build leaves nothing and a
reader never sees half an artifact. Builds happen on an explicit call (a ``facert models``
command, an export) or on the first run that asks for the artifact (a BF16 or INT8 engine, built
and gated once per machine, with a progress line; :mod:`facert.backends.choice`).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from facert import __version__
from facert.errors import ArtifactError, UsageError
from facert.io.files import sha256_of, write_folder_atomic
from facert.models.artifacts import FP16_GRAPH, Artifact, write_manifest
from facert.models.cache import compiled_dir
from facert.models.compiled import SCHEMA, CompiledArtifact, CompiledKey, check_compiled


class Compiler(Protocol):
    """What a backend implements to compile an ONNX graph into its own artifact.

    ``kind`` names the artifact ("ort-optimized", "openvino", "trt-plan"...), ``backend``
    the runtime that loads it, ``filename`` the compiled file in its folder. ``converts_precision``:
    whether it can build at a precision other than the source graph's (TensorRT can; ONNX Runtime's
    optimizer cannot).
    """

    kind: str
    backend: str
    filename: str
    converts_precision: bool

    def version(self) -> str:
        """The backend's version, which the artifact is tied to."""
        ...

    def device(self) -> str:
        """The fingerprint of the device the artifact is built for (part of its key)."""
        ...

    def device_description(self) -> str:
        """The device in words, for the manifest (not part of the key)."""
        ...

    def compile(
        self, source: Path, target: Path, precision: str, batch_profile: tuple[int, int, int] | None
    ) -> Mapping[str, Any] | None:
        """Compile the ONNX file ``source`` into ``target``; what it returns (build time, layer
        precisions...) goes into the manifest as ``"build"``."""
        ...


def graph_precision(graph: str) -> str:
    """The precision of an export's ONNX file: "fp16" for the FP16 graph, "fp32" for the others."""
    return "fp16" if graph == FP16_GRAPH else "fp32"


def compiled_key(
    export: Artifact,
    graph: str,
    compiler: Compiler,
    precision: str | None = None,
    batch_profile: tuple[int, int, int] | None = None,
    spatial_profile: tuple[int, int, int] | None = None,
) -> CompiledKey:
    """The key of ``graph`` of ``export`` compiled by ``compiler`` on this machine.

    ``precision`` defaults to the graph's own; the graph's sha256 is the export manifest's.
    """
    if graph not in export.files:
        raise ArtifactError(
            f"the {export.spec.name} export has no {graph} (it has {', '.join(export.files)})",
            path=str(export.folder),
        )
    own = graph_precision(graph)
    precision = precision or own
    if precision != own and not compiler.converts_precision:
        raise UsageError(f"{compiler.kind} keeps the graph's precision: {graph} is {own}")
    if (
        batch_profile is not None
        and not 1 <= batch_profile[0] <= batch_profile[1] <= batch_profile[2]
    ):
        raise UsageError(f"batch profile must be 1 <= min <= opt <= max, got {batch_profile}")
    if (
        spatial_profile is not None
        and not 1 <= spatial_profile[0] <= spatial_profile[1] <= spatial_profile[2]
    ):
        raise UsageError(
            f"height/width profile must be 1 <= min <= opt <= max, got {spatial_profile}"
        )
    return CompiledKey(
        kind=compiler.kind,
        source_graph=graph,
        source_sha256=export.graph_sha256(graph),
        backend=compiler.backend,
        backend_version=compiler.version(),
        device=compiler.device(),
        precision=precision,
        batch_profile=batch_profile,
        spatial_profile=spatial_profile,
    )


def compile_graph(
    cache_dir: Path,
    export: Artifact,
    key: CompiledKey,
    compiler: Compiler,
    *,
    source: Path | None = None,
    check: Callable[[Path], Mapping[str, Any]] | None = None,
) -> CompiledArtifact:
    """Build the artifact of ``key`` from ``export`` with ``compiler`` into the cache (replacing
    what its folder held) and return it checked.

    ``source``: the ONNX file compiled, when it is not the export's own ``key.source_graph`` (an
    INT8 graph, itself a compiled artifact; the key then names it). ``check``: run on the built file
    in its staging folder (the accuracy gate, :mod:`facert.models.gate`), before the file is hashed
    (it may settle the file's last choice: an OpenVINO bf16 lowering); what it returns goes into
    the manifest as ``"gate"``, passed or not, so a refused artifact is not rebuilt on every run."""
    if (key.kind, key.backend) != (compiler.kind, compiler.backend):
        raise UsageError(f"a {compiler.kind} compiler cannot build a {key.kind} artifact")
    folder = compiled_dir(cache_dir, export.spec, key.kind, key.digest())
    graph = export.path(key.source_graph) if source is None else source

    def build(staging: Path) -> None:
        target = staging / compiler.filename
        facts = compiler.compile(graph, target, key.precision, key.batch_profile)
        gate = dict(check(target)) if check is not None else None  # may settle the file's content
        manifest = _manifest(export, key, compiler, target)
        if facts is not None:
            manifest["build"] = dict(facts)
        if gate is not None:
            manifest["gate"] = gate
        write_manifest(staging, manifest)

    # A refused or stale artifact under this key is replaced, never reused.
    write_folder_atomic(folder, build)
    return check_compiled(export.spec, folder, key)


def _manifest(
    export: Artifact, key: CompiledKey, compiler: Compiler, target: Path
) -> dict[str, object]:
    return {
        "schema": SCHEMA,
        "kind": key.kind,
        "spec": export.spec.name,
        "spec_fingerprint": export.spec.fingerprint(),
        "key": key.to_json(),
        "file": {"name": target.name, "sha256": sha256_of(target), "bytes": target.stat().st_size},
        "device_description": compiler.device_description(),
        "versions": {"facert": __version__, compiler.backend: key.backend_version},
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
