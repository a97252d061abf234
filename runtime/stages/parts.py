"""Component boxes of aligned faces (DFDNet's ``boxes`` input): left eye, right eye, nose, mouth.

The official DFDNet (``get_part_location`` in ``test_FaceDict.py``) takes 68-point landmarks on the
aligned 512 crop: left eye = points 17-21 + 36-41, right eye = 22-26 + 42-47, nose = 29-35, mouth =
48-67; centre = their mean, half side L = max(largest extent / 2, 16), box = int([centre - L + 1,
centre + L]) as (x1, y1, x2, y2) (:func:`boxes_from_68`). "Left" is the image's left.

Two ways to get them (:data:`METHODS`):

- ``"68"``: dlib's 68-point shape predictor (the ``landmarks`` extra: ``dlib`` and
  ``face_recognition_models``), run on the crop with a fixed face rectangle, the box dlib's own
  frontal detector gives on FFHQ-aligned 512 crops (:data:`DLIB_RECT_512`; the whole crop as the
  rectangle puts the points on the forehead: on 26 aligned faces its boxes are 22.1 px from those
  with dlib's own detector box on average, up to 187 px; the fixed rectangle's 0.7 px, up to 12
  px; bench/bench_dfdnet_boxes.py). The official code uses FAN instead, which downloads
  its weights; dlib's model was trained on iBUG 300-W, whose annotations are for non-commercial
  use only.
- ``"5"``: from the five alignment landmarks in crop pixels alone (:func:`boxes_from_5`): each part's
  box centre is its mean 68-point centre on reference faces plus the shift of its own landmarks
  (the eye for an eye, the nose tip for the nose, the mouth corners' mean for the mouth) from where
  they are on those faces; its side is the reference faces' median. Fitted on 26 aligned faces
  (:data:`FIT_5`, bench/bench_dfdnet_boxes.py).

``"auto"`` is 68 when dlib is importable, else 5 (see the dfdnet spec's notes for why).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from typing import Any

import numpy as np

from facert.errors import MissingDependencyError, UsageError
from facert.models.registry import ModelSpec
from facert.stages.faces import Face

PARTS = ("left_eye", "right_eye", "nose", "mouth")
GROUPS_68 = (
    tuple(range(17, 22)) + tuple(range(36, 42)),
    tuple(range(22, 27)) + tuple(range(42, 48)),
    tuple(range(29, 36)),
    tuple(range(48, 68)),
)
METHODS = ("auto", "68", "5")
DLIB_RECT_512 = (98, 134, 419, 455)  # median of dlib frontal-detector boxes, 26 aligned faces
# Per part: (mean 68-point centre x, y, median half side L) on the reference faces, and which of the
# five landmarks (left eye, right eye, nose, left / right mouth corner) anchor it, with their mean
# position on those faces (crop pixels at 512).
FIT_5: dict[str, tuple[tuple[float, float, float], tuple[int, ...], tuple[float, float]]] = {
    "left_eye": ((186.67, 225.75, 44.75), (0,), (193.27, 240.80)),
    "right_eye": ((323.87, 225.25, 47.5), (1,), (322.72, 240.43)),
    "nose": ((256.69, 319.65, 28.75), (2,), (257.88, 312.96)),
    "mouth": ((255.83, 373.29, 62.5), (3, 4), (257.12, 368.16)),
}


def box_from_points(points: np.ndarray) -> np.ndarray:
    """The official box of one part's landmarks ((P, 2) crop pixels): (4,) int64."""
    centre = np.mean(points, 0)
    half = np.max((np.max(np.max(points, 0) - np.min(points, 0)) / 2, 16))
    return np.hstack((centre - half + 1, centre + half)).astype(int).astype(np.int64)


def boxes_from_68(landmarks: np.ndarray) -> np.ndarray:
    """(4, 4) int64 part boxes from (68, 2) landmarks in crop pixels (the official rule)."""
    points = np.asarray(landmarks, np.float64)
    return np.stack([box_from_points(points[list(group)]) for group in GROUPS_68])


def boxes_from_5(landmarks: np.ndarray, size: int = 512) -> np.ndarray:
    """(4, 4) int64 part boxes at 512 from the five alignment landmarks ((5, 2), pixels of a
    ``size`` crop), by the fitted rule :data:`FIT_5` (see the module docstring)."""
    points = np.asarray(landmarks, np.float64) * (512.0 / size)
    boxes = []
    for part in PARTS:
        (cx, cy, half), anchors, (ax, ay) = FIT_5[part]
        shift = points[list(anchors)].mean(0) - (ax, ay)
        centre = np.array([cx, cy]) + shift
        boxes.append(np.hstack((centre - half + 1, centre + half)).astype(int))
    return np.stack(boxes).astype(np.int64)


def dlib_available() -> bool:
    """Whether the ``landmarks`` extra (dlib and its 68-point model) is importable."""
    return all(importlib.util.find_spec(m) is not None for m in ("dlib", "face_recognition_models"))


@lru_cache(maxsize=1)
def _predictor() -> Any:
    try:
        import dlib
        import face_recognition_models
    except ImportError:
        raise MissingDependencyError(
            "68-point landmarks need dlib: pip install 'facert[landmarks]' (or use --boxes 5)"
        ) from None
    return dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())


def landmarks_68(crop: np.ndarray) -> np.ndarray:
    """dlib's 68 landmarks of an aligned crop ((S, S, 3) uint8 BGR): (68, 2) float64, crop pixels."""
    import dlib

    size = crop.shape[0]
    x1, y1, x2, y2 = (round(v * size / 512) for v in DLIB_RECT_512)
    rgb = np.ascontiguousarray(crop[:, :, ::-1])
    shape = _predictor()(rgb, dlib.rectangle(x1, y1, x2, y2))
    return np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], np.float64)


def resolve_method(method: str) -> str:
    """``method`` with ``auto`` resolved ("68" or "5"); UsageError for an unknown one."""
    if method not in METHODS:
        raise UsageError(f"box method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "auto":
        return "68" if dlib_available() else "5"
    return method


def part_boxes(crops: np.ndarray, landmarks: np.ndarray, method: str = "auto") -> np.ndarray:
    """(N, 4, 4) float32 part boxes (x1, y1, x2, y2 in 512 crop pixels, whole numbers, kept inside
    the crop) of aligned ``crops`` ((N, S, S, 3) uint8 BGR) whose five alignment ``landmarks`` in
    crop pixels are (N, 5, 2)."""
    chosen = resolve_method(method)
    size = crops.shape[1] if crops.ndim == 4 else 512
    boxes = []
    for index in range(len(crops)):
        if chosen == "68":
            boxes.append(boxes_from_68(landmarks_68(crops[index]) * (512.0 / size)))
        else:
            boxes.append(boxes_from_5(landmarks[index], size))
    out = np.stack(boxes).astype(np.float32) if boxes else np.zeros((0, 4, 4), np.float32)
    return np.clip(out, 0, 512)


def crop_landmarks(face: Face, affine: np.ndarray) -> np.ndarray:
    """``face``'s five landmarks in crop pixels ((5, 2) float64) through its frame -> crop
    ``affine``."""
    points = np.asarray(face.landmarks, np.float64)
    return points @ np.asarray(affine, np.float64)[:, :2].T + np.asarray(affine, np.float64)[:, 2]


def extra_inputs(
    spec: ModelSpec, crops: np.ndarray, landmarks: np.ndarray, method: str = "auto"
) -> dict[str, np.ndarray]:
    """The per-face extra inputs ``spec`` declares, for aligned ``crops`` ((N, S, S, 3) uint8 BGR)
    with five ``landmarks`` (N, 5, 2) in crop pixels: ``boxes`` (:func:`part_boxes`). Another
    name raises :class:`UsageError` (nothing computes it)."""
    extras = {}
    for extra in spec.extra_inputs:
        if extra.name != "boxes" or extra.shape != (4, 4):
            raise UsageError(f"{spec.name}: facert cannot compute the extra input {extra.name!r}")
        extras[extra.name] = part_boxes(crops, landmarks, method)
    return extras
