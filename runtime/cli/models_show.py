"""``facert models show NAME``: everything facert knows about one model, and its exports in the cache.

The spec's summary, licence and notes, its options (range, default, help), its precision policy,
its official weight files (URL, sha256 or "no published sha256", cache state), then each export in
the cache: the source checkpoint's sha256, official or not, its files and the parity the manifest
records.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from facert.errors import ArtifactError
from facert.models.artifacts import Artifact, check_artifact, read_manifest
from facert.models.cache import exported_sources, weights_dir
from facert.models.provenance import weights_label
from facert.models.registry import ModelOption, ModelSpec

WIDTH = 100
INDENT = "  "


def _wrap(text: str, first: str, rest: str = INDENT * 2) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=first, subsequent_indent=rest) or [first]


def _range(low: float, high: float) -> str:
    return f"[{low:g}, {high:g}]"


def _io(spec: ModelSpec) -> str:
    if not spec.input_size:
        return "whole frames"
    size = f"{spec.input_size}x{spec.input_size}"
    given = f"{size} {spec.color_order} face in {_range(*spec.input_range)}"
    if spec.role == "parser":  # a restored face, resized; its output is logits, not pixels
        return f"{given}, output class logits per pixel"
    return (
        f"{size} {spec.color_order} crop ({spec.template} alignment) in "
        f"{_range(*spec.input_range)}, output in {_range(*spec.output_range)}"
    )


def _option(option: ModelOption) -> list[str]:
    when = "per run (a graph input)" if option.graph_input else "fixed at export"
    unit = ", in photo pixels" if option.photo_pixels else ""
    default = "auto (estimated per face)" if option.estimated else f"{option.default:g}"
    head = (
        f"{option.name}: default {default}, range "
        f"{_range(option.minimum, option.maximum)}, {when}{unit}"
    )
    return [INDENT + head, *_wrap(option.help, INDENT * 2)]


def spec_lines(spec: ModelSpec) -> Iterator[str]:
    """The spec's own facts: summary, role and tensors, licence, notes, options, precision."""
    yield f"{spec.name}: {spec.summary}"
    yield f"role: {spec.role}, family {spec.family}; input: {_io(spec)}"
    yield from _wrap(f"licence: {spec.licence}", "", INDENT)
    if spec.notes:
        yield "notes:"
        for note in spec.notes:
            yield from _wrap(note, INDENT + "- ", INDENT * 2)
    yield "options:" + ("" if spec.options else " none")
    for option in spec.options:
        yield from _option(option)
    if not any(name.endswith(".fp16.onnx") for name in spec.onnx_files):
        yield "precision: FP32 graphs only"
        return
    yield "precision policy (kept in float32 in the FP16 graph):"
    for part in spec.precision_policy or ("nothing",):
        yield from _wrap(part, INDENT + "- ", INDENT * 2)


def weight_lines(spec: ModelSpec, cache_dir: Path) -> Iterator[str]:
    """Each official weight file: name, sha256 (or its absence), whether cached, and its URL."""
    if not spec.weights:
        yield "weights: none needed"
        return
    yield "weights:"
    folder = weights_dir(cache_dir, spec)
    for weight in spec.weights:
        state = "cached" if (folder / weight.filename).is_file() else "not in the cache"
        digest = f"sha256 {weight.sha256}" if weight.sha256 else "no published sha256"
        yield f"{INDENT}{weight.filename} ({state}): {digest}"
        if weight.pip_requirement:
            yield f"{INDENT * 2}pip download {weight.pip_requirement}"
        if weight.url:
            yield f"{INDENT * 2}{weight.url}"


def _flat(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flat(item, f"{prefix}{key}.")
    elif isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        yield prefix[:-1], ", ".join(map(str, value))
    elif isinstance(value, float):
        yield prefix[:-1], f"{value:.4g}"
    elif not isinstance(value, list):
        yield prefix[:-1], str(value)


def parity_lines(parity: dict[str, Any]) -> Iterator[str]:
    """The manifest's parity: its top-level numbers, then one line per checked case."""
    cases = parity.get("cases")
    cases = cases if isinstance(cases, list) and all(isinstance(c, dict) for c in cases) else []
    repeated = set(cases[0]) if cases else set()  # the default case is also at the top level
    top = {k: v for k, v in parity.items() if k != "cases" and k not in repeated}
    for key, text in _flat(top):
        yield from _wrap(f"{key}: {text}", INDENT * 3, INDENT * 4)
    for case in cases:
        options = case.get("options") or {}
        label = ", ".join(f"{k}={v:g}" for k, v in options.items()) or "default"
        numbers = "; ".join(f"{k} {t}" for k, t in _flat({**case, "options": None}) if t != "None")
        yield from _wrap(f"case {label}: {numbers}", INDENT * 3, INDENT * 4)


def export_lines(spec: ModelSpec, cache_dir: Path) -> Iterator[str]:
    """Each export of ``spec`` in the cache: source, official or not, files, parity."""
    folders = exported_sources(cache_dir, spec)
    yield "exports in the cache:" + ("" if folders else " none")
    for folder in folders:
        yield f"{INDENT}{folder}"
        try:
            manifest = read_manifest(folder)
        except ArtifactError as error:
            yield f"{INDENT * 2}unreadable: {error.args[0]}"
            continue
        try:
            check_artifact(spec, folder)
        except ArtifactError as error:
            yield f"{INDENT * 2}refused by the runtime: {error.args[0]}"
        yield from _export_facts(Artifact(spec, folder, manifest))


def _export_facts(artifact: Artifact) -> Iterator[str]:
    manifest = artifact.manifest
    source = manifest.get("source")
    if isinstance(source, dict):
        names = ", ".join(map(str, source.get("files") or []))
        label = weights_label(artifact.spec, artifact.official)
        yield f"{INDENT * 2}source: {label}: {names}, sha256 {source.get('sha256')}"
    else:
        yield f"{INDENT * 2}source: none (built without weights)"
    files = manifest.get("files") or {}
    sizes = [f"{name} ({facts.get('bytes', 0) / 1e6:.1f} MB)" for name, facts in files.items()]
    yield f"{INDENT * 2}files: {', '.join(sizes) or 'none listed'}"
    if artifact.fp16_refused:
        yield from _wrap(f"FP16 graph refused: {artifact.fp16_refused}", INDENT * 2, INDENT * 3)
    yield f"{INDENT * 2}built {manifest.get('created', '?')}, opset {manifest.get('opset', '?')}"
    if isinstance(manifest.get("parity"), dict):
        yield f"{INDENT * 2}parity:"
        yield from parity_lines(manifest["parity"])


def show_lines(spec: ModelSpec, cache_dir: Path) -> Iterator[str]:
    """The whole ``facert models show`` text for ``spec``."""
    yield from spec_lines(spec)
    yield from weight_lines(spec, cache_dir)
    yield from export_lines(spec, cache_dir)
