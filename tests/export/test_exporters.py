"""The exporter registry (facert.export.exporters): a spec names its family's exporter, the
registry holds the function; a name registered twice or unknown raises."""

from __future__ import annotations

import dataclasses

import pytest

pytest.importorskip("torch")

from facert.errors import UnknownModelError
from facert.export.exporters import exporter_for, exporter_names, register_exporter
from facert.export.families.ispl.net import export_ispl
from facert.export.families.mtcnn.export import export_mtcnn
from facert.export.families.wipa.net import export_wipa
from facert.models.registry import get_spec, list_specs

FAMILIES = {
    "codeformer",
    "dfdnet",
    "gfpgan",
    "gpen",
    "ispl",
    "mtcnn",
    "parsenet",
    "psfrgan",
    "realesrgan",
    "restoreformer",
    "retinaface",
    "wipa",
    "yunet",
}


def test_every_spec_names_its_family_s_registered_exporter() -> None:
    assert set(exporter_names()) >= FAMILIES
    for spec in list_specs():
        assert spec.exporter in FAMILIES and callable(exporter_for(spec)), spec.name
    assert exporter_for(get_spec("mtcnn")) is export_mtcnn
    assert exporter_for(get_spec("ispl")) is export_ispl
    assert exporter_for(get_spec("wipa")) is export_wipa


def test_a_name_registered_twice_raises() -> None:
    exporter_names()  # the families are registered
    with pytest.raises(ValueError, match="exporter 'ispl' is registered twice"):
        register_exporter("ispl", export_ispl)


def test_an_unknown_name_raises_listing_the_registered_ones() -> None:
    spec = dataclasses.replace(get_spec("ispl"), name="odd", exporter="nothing")
    with pytest.raises(UnknownModelError) as info:
        exporter_for(spec)
    message = str(info.value)
    assert "model 'odd' names the exporter 'nothing', which is not registered" in message
    assert set(message.split("; registered exporters: ")[1].split(", ")) >= FAMILIES
