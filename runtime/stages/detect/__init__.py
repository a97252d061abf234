"""Face detectors. Each returns :class:`facert.stages.faces.Face` objects in frame pixels.

A detector is chosen by its spec (``facert models list``: role "detector"); the spec's ``family``
picks the runtime that opens it from :data:`FAMILIES`, an explicit table (one opener per family,
no discovery). MTCNN is the only family so far; a new one adds its opener to the table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from facert.config import Settings
from facert.errors import UsageError
from facert.models.registry import ModelSpec, get_spec, list_specs
from facert.stages.faces import Face


class Detector(Protocol):
    """Finds faces in a frame: (H, W, 3) uint8 BGR in, faces in frame pixels out."""

    def detect(self, image: np.ndarray) -> list[Face]: ...

    def open(self) -> Any: ...

    def close(self) -> None: ...


# Opens one detector, ready to run: its spec, the settings, and its options (the family's own fields).
Opener = Callable[[ModelSpec, Settings, Mapping[str, Any]], Detector]


def _open_mtcnn(spec: ModelSpec, settings: Settings, options: Mapping[str, Any]) -> Detector:
    """MTCNN; ``options`` are fields of :class:`facert.stages.detect.mtcnn.MtcnnOptions`. Its
    export is taken from the cache, and built first when the export extra is installed and the
    weights are cached."""
    from dataclasses import fields

    from facert.models.exporting import ensure_artifact
    from facert.stages.detect.mtcnn import MtcnnDetector, MtcnnOptions

    known = {f.name for f in fields(MtcnnOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise UsageError(f"unknown {spec.name} option(s) {unknown}; known: {sorted(known)}")
    detector_options = MtcnnOptions(**options)
    artifact = ensure_artifact(spec, settings.cache_dir)
    return MtcnnDetector.from_artifact(artifact, detector_options, threads=settings.threads).open()


FAMILIES: dict[str, Opener] = {"mtcnn": _open_mtcnn}


def detector_opener(family: str) -> Opener:
    """The opener of detector ``family``; an unknown family raises listing the known ones."""
    try:
        return FAMILIES[family]
    except KeyError:
        known = ", ".join(sorted(FAMILIES))
        raise UsageError(f"no detector runtime for family {family!r}; families: {known}") from None


def detector_spec(name: str) -> ModelSpec:
    """The spec of detector ``name``, checked before anything is opened: a name that is not a
    registered detector, or whose family has no runtime, raises UsageError listing the detectors."""
    detectors = ", ".join(s.name for s in list_specs("detector") if s.family in FAMILIES)
    try:
        spec = get_spec(name)
    except UsageError:
        raise UsageError(f"unknown detector {name!r}; detectors: {detectors}") from None
    if spec.role != "detector":
        raise UsageError(f"model {name!r} is a {spec.role}, not a detector; detectors: {detectors}")
    detector_opener(spec.family)
    return spec


def open_detector(settings: Settings, name: str = "mtcnn", **options: Any) -> Detector:
    """The detector ``name``, opened and ready; ``options`` are its family's option fields (for
    MTCNN those of :class:`facert.stages.detect.mtcnn.MtcnnOptions`)."""
    spec = detector_spec(name)
    return detector_opener(spec.family)(spec, settings, options)
