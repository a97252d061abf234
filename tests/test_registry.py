import pytest

from facert.errors import UnknownModelError
from facert.registry import ModelSpec, get_spec, list_specs, register


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
        assert spec.exporter.count(":") == 1, spec.name
        for weight in spec.weights:
            assert weight.url.startswith("https://"), spec.name
            # An unpinned file (no published hash) must say so in the spec's notes.
            pinned = len(weight.sha256) == 64
            assert pinned or (weight.sha256 == "" and "sha256" in " ".join(spec.notes)), spec.name
        assert len({o.name for o in spec.options}) == len(spec.options), spec.name


def test_fingerprint_changes_with_the_graph() -> None:
    import dataclasses

    spec = get_spec("ispl")
    assert spec.fingerprint() == get_spec("ispl").fingerprint()
    assert dataclasses.replace(spec, graph_version=99).fingerprint() != spec.fingerprint()
