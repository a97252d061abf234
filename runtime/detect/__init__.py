"""Face detectors. Each returns :class:`facert.faces.Face` objects in frame pixels."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from facert.faces import Face


class Detector(Protocol):
    """Finds faces in a frame: (H, W, 3) uint8 BGR in, faces in frame pixels out."""

    def detect(self, image: np.ndarray) -> list[Face]: ...

    def close(self) -> None: ...
