"""A tiny ParseNet (deterministic fill in the official layout) for the ``parsenet`` spec's exporter
and ``--mask parse``: 512 px like the official one (the parse mask always parses at 512), with few
channels so an export takes seconds; registered under its own name with its own exporter."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from tiny_export import FACES

from facert.export import exporters
from facert.export.families.psfrgan.parsenet import ParseNet, ParseNetConfig
from facert.export.families.psfrgan.parser_export import ParseNetExporter
from facert.export.harness.fill import deterministic_state_dict
from facert.models import registry
from facert.models.cache import weights_dir
from facert.models.registry import ModelSpec, get_spec

NAME = "parsenet-tiny-test"
TINY = ParseNetConfig(min_feat_size=256, base_ch=2, res_depth=1, ch_range=(2, 2))


def tiny_spec() -> ModelSpec:
    """The parsenet spec under NAME, its file without sha256 (nothing to verify a tiny file by)."""
    spec = get_spec("parsenet")
    weight = dataclasses.replace(spec.weights[0], sha256="")
    return dataclasses.replace(spec, name=NAME, exporter=NAME, weights=(weight,))


def tiny_file(path: Path) -> Path:
    """The tiny ParseNet's plain state dict, written to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(deterministic_state_dict(ParseNet(TINY)), path)
    return path


@contextmanager
def registered(cache: Path | None = None) -> Iterator[ModelSpec]:
    """The tiny spec and its exporter registered (its file put in ``cache``'s weights folder when
    given); both taken out again on exit."""
    spec = tiny_spec()
    registry.register(spec)
    exporters._ensure_loaded()
    exporters.register_exporter(NAME, ParseNetExporter(TINY, faces=FACES))
    if cache is not None:
        tiny_file(weights_dir(cache, spec) / spec.weights[0].filename)
    try:
        yield spec
    finally:
        registry._REGISTRY.pop(NAME, None)
        exporters._EXPORTERS.pop(NAME, None)
