"""A model cache for ``--mask parse`` tests without ParseNet's real weights: the user's MTCNN, ISPL
and WIPA exports linked in and the tiny deterministic ParseNet (tests/tiny_parsenet.py) exported,
once per test session (5 s on 2 cores), standing in for ``parsenet`` while it is used."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from facert.config import Settings
from facert.models.cache import model_dir
from facert.models.exporting import ensure_artifact
from facert.models.registry import get_spec
from facert.stages.blend import parse

LINKED = ("mtcnn", "ispl", "wipa")


def _build(folder: Path, settings: Settings) -> Path:
    from tiny_parsenet import NAME, registered

    folder.mkdir()
    for name in LINKED:
        spec = get_spec(name)
        ensure_artifact(spec, settings.cache_dir)
        model_dir(folder, spec).symlink_to(model_dir(settings.cache_dir, spec), True)
    with registered(folder), pytest.MonkeyPatch.context() as patch:
        patch.setattr(parse, "PARSER", NAME)
        parse.build_parser(folder)  # exports the tiny ParseNet into the cache
    return folder


@contextmanager
def tiny_parser_cache(factory: pytest.TempPathFactory, settings: Settings) -> Iterator[Path]:
    """The cache folder (built on first use in the session's temporary folder; ask for the
    ``mtcnn_artifact`` fixture first, which skips without MTCNN), with the tiny ParseNet registered and ``facert.stages.blend.parse.PARSER`` naming it until exit."""
    pytest.importorskip("torch")
    from tiny_parsenet import NAME, registered

    folder = factory.getbasetemp() / "tiny-parse-cache"
    if not folder.exists():  # built aside and moved in whole: a failed build leaves no folder
        building = folder.with_name(f"{folder.name}-{os.getpid()}")
        shutil.rmtree(building, ignore_errors=True)
        _build(building, settings)
        building.rename(folder)
    with registered(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(parse, "PARSER", NAME)
        yield folder
