"""The exporter of every model family, registered by name: what ``ModelSpec.exporter`` names.

Specs are run-time data and never import torch, so a spec names its exporter (its family's name,
``"gfpgan"``) and this registry maps the name to the function. An exporter is called as
``exporter(spec, sources, workdir) -> facts`` (see :mod:`facert.export.harness.api`); a learned
family's is a :class:`facert.export.harness.source_check.LearnedExporter`, which also checks the
checkpoint before any work and takes extra check faces.

The families register through the explicit import list of :func:`_ensure_loaded` (never a folder
scan), on the first lookup; a name registered twice raises, an unknown name raises listing the
registered ones.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from facert.errors import UnknownModelError
from facert.models.registry import ModelSpec

Exporter = Callable[[ModelSpec, list[Path], Path], dict[str, Any]]
E = TypeVar("E", bound=Exporter)

_EXPORTERS: dict[str, Exporter] = {}
_LOADED = False


def register_exporter(name: str, exporter: E) -> E:
    """Register ``exporter`` under ``name``; a second exporter of that name raises ``ValueError``."""
    if name in _EXPORTERS:
        raise ValueError(f"exporter {name!r} is registered twice")
    _EXPORTERS[name] = exporter
    return exporter


def _ensure_loaded() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from facert.export.families.codeformer.export import export_codeformer
    from facert.export.families.dfdnet.exporter import export_dfdnet_model
    from facert.export.families.gfpgan.export import export_gfpgan
    from facert.export.families.gpen.export import export_gpen
    from facert.export.families.ispl.net import export_ispl
    from facert.export.families.mtcnn.export import export_mtcnn
    from facert.export.families.psfrgan.exporter import export_psfrgan
    from facert.export.families.psfrgan.parser_export import export_parsenet
    from facert.export.families.realesrgan.export import export_realesrgan
    from facert.export.families.restoreformer.export import export_restoreformer
    from facert.export.families.retinaface.export import export_retinaface
    from facert.export.families.wipa.net import export_wipa
    from facert.export.families.yunet.export import export_yunet

    register_exporter("mtcnn", export_mtcnn)
    register_exporter("ispl", export_ispl)
    register_exporter("wipa", export_wipa)
    register_exporter("gfpgan", export_gfpgan)
    register_exporter("gpen", export_gpen)
    register_exporter("codeformer", export_codeformer)
    register_exporter("restoreformer", export_restoreformer)
    register_exporter("yunet", export_yunet)
    register_exporter("dfdnet", export_dfdnet_model)
    register_exporter("psfrgan", export_psfrgan)
    register_exporter("parsenet", export_parsenet)
    register_exporter("realesrgan", export_realesrgan)
    register_exporter("retinaface", export_retinaface)


def exporter_names() -> list[str]:
    """Every registered exporter's name, sorted."""
    _ensure_loaded()
    return sorted(_EXPORTERS)


def exporter_for(spec: ModelSpec) -> Exporter:
    """The exporter ``spec`` names; an unknown name raises listing the registered ones."""
    _ensure_loaded()
    try:
        return _EXPORTERS[spec.exporter]
    except KeyError:
        known = ", ".join(sorted(_EXPORTERS))
        raise UnknownModelError(
            f"model {spec.name!r} names the exporter {spec.exporter!r}, which is not registered; "
            f"registered exporters: {known}"
        ) from None
