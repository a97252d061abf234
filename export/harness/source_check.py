"""A learned family's exporter, and the check of a checkpoint that runs before any export work.

:class:`LearnedExporter` is what a learned spec's ``exporter`` names: called like any exporter it
runs :func:`facert.export.harness.learned.export_learned` with the family's build; its
:meth:`~LearnedExporter.check_sources` reads the checkpoint (``torch.load(weights_only=True)``) and
builds the export form from it on the ``meta`` device, so a file that is not a checkpoint, or whose
keys or shapes differ from the network's, is refused in one line naming it, in about the time the
file takes to read, before :func:`facert.export.harness.api.export_model` writes anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from facert.errors import ExportError, WeightsError
from facert.export.harness.checkpoint import load_state_dict
from facert.export.harness.checks import FaceImage
from facert.export.precision.policy import FP32, Precision
from facert.models.registry import ModelSpec

Build = Callable[[Mapping[str, torch.Tensor], Precision], nn.Module]


def single_source(spec: ModelSpec, sources: Sequence[Path]) -> Path:
    if len(sources) != 1 or len(spec.weights) != 1:
        raise ExportError(f"{spec.name}: expected one checkpoint file, got {len(sources)}")
    return sources[0]


def check_checkpoint(spec: ModelSpec, source: Path, build: Build) -> None:
    """Raise :class:`WeightsError` naming ``source`` unless it loads with ``weights_only=True``, its
    state dict unwraps as ``spec.weights[0]`` says and ``build`` accepts its keys and shapes."""
    check_state(load_state_dict(source, spec.weights[0]), build, source)


def check_state(
    state: Mapping[str, torch.Tensor], build: Build, source: Path | None = None
) -> None:
    """Build the export form from ``state``'s keys and shapes on the ``meta`` device (no weights
    allocated, nothing computed); :class:`WeightsError` (naming ``source``) when they differ."""
    meta = {
        key: torch.empty(value.shape, dtype=value.dtype, device="meta")
        for key, value in state.items()
    }
    try:
        with torch.device("meta"):
            build(meta, FP32)
    except WeightsError as error:
        if error.path is None and source is not None:
            error.path = str(source)
        raise


class LearnedExporter:
    """The exporter of a learned family: ``build_for(spec)`` is the family's build for ``spec``
    (its configuration from the spec); ``faces`` the aligned faces to check on (default: the
    harness's fixed ones, :func:`facert.export.harness.checks.default_faces`)."""

    def __init__(
        self,
        build_for: Callable[[ModelSpec], Build],
        faces: Sequence[Path | FaceImage] | None = None,
    ) -> None:
        self.build_for = build_for
        self.faces = faces

    def __call__(
        self,
        spec: ModelSpec,
        sources: list[Path],
        workdir: Path,
        extra_faces: Sequence[Path] = (),
    ) -> dict[str, Any]:
        """:func:`~facert.export.harness.learned.export_learned` on ``faces`` and
        ``extra_faces`` (files, asked for by the user)."""
        from facert.export.harness.learned import export_learned

        build = self.build_for(spec)
        return export_learned(
            spec, sources, workdir, build, faces=self.faces, extra_faces=extra_faces
        )

    def check_sources(self, spec: ModelSpec, sources: list[Path]) -> None:
        """Refuse ``sources`` (one line, naming the file) unless it is a checkpoint of ``spec``."""
        check_checkpoint(spec, single_source(spec, sources), self.build_for(spec))
