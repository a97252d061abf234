"""A detected face: the value every stage after detection works from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from facert.errors import UsageError


@dataclass(frozen=True)
class Face:
    """One face in frame pixels.

    ``box``: (4,) float32 ``x1, y1, x2, y2``. ``landmarks``: (5, 2) float32 ``x, y``, ordered left
    eye, right eye (as seen in the image), nose, left mouth corner, right mouth corner.
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray

    @property
    def area(self) -> float:
        return float(max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1]))

    @property
    def size(self) -> tuple[float, float]:
        """The box's width and height."""
        return float(self.box[2] - self.box[0]), float(self.box[3] - self.box[1])

    @property
    def center(self) -> tuple[float, float]:
        return float(self.box[0] + self.box[2]) / 2, float(self.box[1] + self.box[3]) / 2

    def to_json(self) -> dict[str, Any]:
        """The JSON contract of ``facert detect --json`` (see docs/design.md)."""
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 5),
            "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in self.landmarks],
        }


def check_filters(max_size: float, min_score: float) -> None:
    """:class:`UsageError` unless ``max_size`` (pixels, 0: no limit) and ``min_score`` are values
    :func:`select_faces` takes (the flags ``--max-face`` and ``--min-score``)."""
    if max_size < 0:
        raise UsageError(f"--max-face must be positive, got {max_size:g}")
    if not 0.0 <= min_score <= 1.0:
        raise UsageError(f"--min-score must lie in [0, 1], got {min_score:g}")


def select_faces(
    faces: list[Face],
    image_size: tuple[int, int],
    *,
    only_center: bool = False,
    largest: bool = False,
    max_size: float = 0.0,
    min_score: float = 0.0,
) -> list[Face]:
    """Keep every face, or only the one nearest the image centre / the largest one, among those
    whose box's longer side is at most ``max_size`` pixels (0: no limit) and whose detection
    score is at least ``min_score``.

    ``image_size`` is (width, height).
    """
    if max_size > 0 or min_score > 0:
        faces = [
            f for f in faces if f.score >= min_score and (max_size <= 0 or max(f.size) <= max_size)
        ]
    if not faces or not (only_center or largest):
        return faces
    if largest:
        return [max(faces, key=lambda f: f.area)]
    cx, cy = image_size[0] / 2, image_size[1] / 2
    return [min(faces, key=lambda f: (f.center[0] - cx) ** 2 + (f.center[1] - cy) ** 2)]
