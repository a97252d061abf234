"""Face detectors. Each returns :class:`facert.stages.faces.Face` objects in frame pixels."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from facert.config import Settings
from facert.stages.faces import Face


class Detector(Protocol):
    """Finds faces in a frame: (H, W, 3) uint8 BGR in, faces in frame pixels out."""

    def detect(self, image: np.ndarray) -> list[Face]: ...

    def open(self) -> Any: ...

    def close(self) -> None: ...


def open_detector(settings: Settings, name: str = "mtcnn", **options: Any) -> Detector:
    """The detector ``name``, opened and ready; ``options`` are its option fields (for MTCNN those
    of :class:`facert.stages.detect.mtcnn.MtcnnOptions`). Its export is taken from the cache, and built
    first when the export extra is installed and the weights are cached."""
    from dataclasses import fields

    from facert.errors import UsageError
    from facert.models.exporting import ensure_artifact
    from facert.models.registry import get_spec

    spec = get_spec(name)
    if spec.role != "detector":
        raise UsageError(f"model {name!r} is a {spec.role}, not a detector")
    if spec.family != "mtcnn":
        raise UsageError(f"detector {name!r} has no runtime yet (available: mtcnn)")
    from facert.stages.detect.mtcnn import MtcnnDetector, MtcnnOptions

    known = {f.name for f in fields(MtcnnOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise UsageError(f"unknown {name} option(s) {unknown}; known: {sorted(known)}")
    detector_options = MtcnnOptions(**options)
    artifact = ensure_artifact(spec, settings.cache_dir)
    return MtcnnDetector.from_artifact(artifact, detector_options, threads=settings.threads).open()
