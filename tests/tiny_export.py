"""The tiny learned-model exports of the export tests: a checkpoint through the whole harness on
the repository's aligned faces."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from testdata import DATA
from torch_state import one_thread

from facert.export.harness.learned import export_learned
from facert.models.registry import ModelSpec

FACES = sorted((DATA / "faces").glob("*.png"))  # the repository's aligned faces (no ../shared)


def export_tiny(spec: ModelSpec, checkpoint: Path, build: Callable[..., Any]) -> dict[str, Any]:
    """``checkpoint`` (the file ``spec`` pins) exported with ``build`` through the harness into its
    own folder, checked on :data:`FACES`, torch on one thread (tiny convolutions run faster so on a
    loaded machine); returns the export's facts."""
    with one_thread():
        return export_learned(spec, [checkpoint], checkpoint.parent, build, faces=FACES)
