"""A registry spec whose weight file is pinned to a checkpoint a test wrote: how the tests make
facert take their own checkpoint as if it were the spec's published file."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from facert.io.files import sha256_of
from facert.models.registry import ModelSpec, get_spec


def pinned_spec(
    spec: ModelSpec | str, checkpoint: Path, *, weight: dict[str, Any] | None = None, **changes: Any
) -> ModelSpec:
    """``spec`` (or the registered spec of that name) with its weight file's sha256 set to
    ``checkpoint``'s, ``weight`` replacing more of that file's fields (e.g. ``url``), and
    ``changes`` replacing the spec's own fields (e.g. ``input_size``)."""
    spec = get_spec(spec) if isinstance(spec, str) else spec
    pinned = dataclasses.replace(spec.weights[0], sha256=sha256_of(checkpoint), **(weight or {}))
    return dataclasses.replace(spec, weights=(pinned,), **changes)
