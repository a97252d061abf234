"""Face detectors. Each returns :class:`facert.stages.faces.Face` objects in frame pixels.

A detector is chosen by its spec (``facert models list``: role "detector"); the spec's ``family``
picks the runtime that builds it from :data:`FAMILIES`, an explicit table (one builder per family,
no discovery). Families: MTCNN, YuNet and RetinaFace; a new one adds its builder to the table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any, Protocol, TypeVar

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


Options = TypeVar("Options")


def checked_options(spec: ModelSpec, kind: type[Options], options: Mapping[str, Any]) -> Options:
    """``kind(**options)``, a detector family's options dataclass; a name that is not one of its
    fields raises UsageError listing them."""
    known = {f.name for f in fields(kind)}  # type: ignore[arg-type]
    unknown = sorted(set(options) - known)
    if unknown:
        raise UsageError(f"unknown {spec.name} option(s) {unknown}; known: {sorted(known)}")
    return kind(**options)


# Builds one detector, not opened yet: its spec, the settings, and its options (the family's own
# fields).
Builder = Callable[[ModelSpec, Settings, Mapping[str, Any]], Detector]


def _build_mtcnn(spec: ModelSpec, settings: Settings, options: Mapping[str, Any]) -> Detector:
    """MTCNN, not opened; ``options`` are fields of :class:`facert.stages.detect.mtcnn.MtcnnOptions`.
    Its export is taken from the cache, and built first when the export extra is installed and the
    weights are cached."""
    from facert.models.exporting import ensure_artifact
    from facert.stages.detect.mtcnn import MtcnnDetector, MtcnnOptions

    detector_options = checked_options(spec, MtcnnOptions, options)
    artifact = ensure_artifact(spec, settings.cache_dir)
    return MtcnnDetector.from_artifact(artifact, detector_options, threads=settings.threads)


def _build_yunet(spec: ModelSpec, settings: Settings, options: Mapping[str, Any]) -> Detector:
    """YuNet, not opened; ``options`` are fields of :class:`facert.stages.detect.yunet.YunetOptions`.
    Its export is taken from the cache, and made first when the export extra is installed and the
    zoo's file is cached."""
    from facert.models.exporting import ensure_artifact
    from facert.stages.detect.yunet import YunetDetector, YunetOptions

    detector_options = checked_options(spec, YunetOptions, options)  # before any export
    artifact = ensure_artifact(spec, settings.cache_dir)
    return YunetDetector.from_artifact(artifact, detector_options, threads=settings.threads)


def _build_retinaface(spec: ModelSpec, settings: Settings, options: Mapping[str, Any]) -> Detector:
    """RetinaFace (either backbone), not opened; ``options`` are fields of
    :class:`facert.stages.detect.retinaface.RetinafaceOptions`. Its export is taken from the cache,
    and made first when the export extra is installed and facexlib's file is cached."""
    from facert.models.exporting import ensure_artifact
    from facert.stages.detect.retinaface import RetinafaceDetector, RetinafaceOptions

    detector_options = checked_options(spec, RetinafaceOptions, options)  # before any export
    artifact = ensure_artifact(spec, settings.cache_dir)
    return RetinafaceDetector.from_artifact(artifact, detector_options, threads=settings.threads)


FAMILIES: dict[str, Builder] = {
    "mtcnn": _build_mtcnn,
    "yunet": _build_yunet,
    "retinaface": _build_retinaface,
}


def detector_builder(family: str) -> Builder:
    """The builder of detector ``family``; an unknown family raises listing the known ones."""
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
    detector_builder(spec.family)
    return spec


def build_detector(settings: Settings, name: str = "mtcnn", **options: Any) -> Detector:
    """The detector ``name``, not opened (its owner opens it); ``options`` are its family's option
    fields (for MTCNN those of :class:`facert.stages.detect.mtcnn.MtcnnOptions`)."""
    spec = detector_spec(name)
    return detector_builder(spec.family)(spec, settings, options)


def open_detector(settings: Settings, name: str = "mtcnn", **options: Any) -> Detector:
    """The detector ``name``, opened and ready (:func:`build_detector`)."""
    detector = build_detector(settings, name, **options)
    detector.open()
    return detector
