import dataclasses
import os
import re
import subprocess
import sys

import pytest

from facert.errors import UnknownModelError
from facert.models.registry import ModelSpec, get_spec, list_specs, register


def test_embedded_default_is_registered() -> None:
    names = {s.name for s in list_specs()}
    assert {"mtcnn", "ispl", "wipa"} <= names
    assert get_spec("mtcnn").role == "detector"
    assert {s.name for s in list_specs("restorer")} >= {"ispl", "wipa"}


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(UnknownModelError, match="known models: .*mtcnn"):
        get_spec("gfpgan-9")


def test_duplicate_name_raises() -> None:
    spec = get_spec("ispl")
    with pytest.raises(ValueError, match="registered twice"):
        register(ModelSpec(name=spec.name, family="x", role="restorer", summary="", licence=""))


def test_every_spec_is_complete() -> None:
    for spec in list_specs():
        assert spec.licence, spec.name
        assert spec.exporter == spec.family, spec.name  # its family's registered exporter
        for weight in spec.weights:
            assert weight.url.startswith("https://"), spec.name
            # An unpinned file (no published hash) must say so in the spec's notes.
            pinned = len(weight.sha256) == 64
            assert pinned or (weight.sha256 == "" and "sha256" in " ".join(spec.notes)), spec.name
        assert len({o.name for o in spec.options}) == len(spec.options), spec.name


GRAPH_CHANGES = {
    "graph_version": 99,
    "input_size": 256,
    "color_order": "BGR",
    "input_range": (-1.0, 1.0),
    "output_range": (-1.0, 1.0),
    "onnx_files": ("other.onnx",),
}


@pytest.mark.parametrize("field", sorted(GRAPH_CHANGES))
def test_fingerprint_changes_with_the_graph(field: str) -> None:
    spec = get_spec("ispl")
    assert getattr(spec, field) != GRAPH_CHANGES[field]
    changed = dataclasses.replace(spec, **{field: GRAPH_CHANGES[field]})
    assert changed.fingerprint() != spec.fingerprint()


def test_fingerprint_ignores_what_does_not_change_the_graph() -> None:
    """A copy built field by field, and edits to the documentation and the weights' source, keep
    the fingerprint: cached exports stay valid."""
    spec = get_spec("ispl")
    fields = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
    rebuilt = ModelSpec(**{**fields, "summary": "other", "licence": "other", "notes": ("x",)})
    assert rebuilt is not spec and rebuilt.fingerprint() == spec.fingerprint()
    assert re.fullmatch("[0-9a-f]{16}", spec.fingerprint())


def test_fingerprint_is_the_same_in_another_process() -> None:
    """Manifests written by one run are read by the next: no per-process hashing (hash(), id())."""
    code = "from facert.models.registry import get_spec; print(get_spec('ispl').fingerprint())"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert other.stdout.strip() == get_spec("ispl").fingerprint()
