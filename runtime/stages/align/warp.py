"""Alignment: a similarity transform onto a 5-point template, the warp-crop, and the tensors.

The template is the one a restorer's spec names (``ModelSpec.template``, a key of
:data:`TEMPLATES_512`); every restorer so far was trained on FFHQ crops: "ffhq5".

Matrix convention: an ``affine`` is a (2, 3) float64 matrix that maps FRAME pixels to CROP pixels,
``[x_crop, y_crop] = affine[:, :2] @ [x_frame, y_frame] + affine[:, 2]``, pixel centres at integer
coordinates (OpenCV's convention). This is what facexlib's ``FaceRestoreHelper`` estimates and
stores as ``affine_matrices``; :mod:`facert.stages.blend.paste` inverts it to paste the restored face back.
"""

from __future__ import annotations

import cv2
import numpy as np

from facert.errors import InputError, UsageError
from facert.models.registry import CropBorder, ModelSpec
from facert.stages.faces import Face

# facexlib's standard 5 landmarks of an FFHQ face at 512 x 512: image-left eye, image-right eye,
# nose tip, image-left mouth corner, image-right mouth corner, as (x, y).
FFHQ_TEMPLATE_512 = np.array(
    [
        [192.98138, 239.94708],
        [318.90277, 240.19360],
        [256.63416, 314.01935],
        [201.26117, 371.41043],
        [313.08905, 371.15118],
    ],
    dtype=np.float64,
)

# Every alignment template, by the name specs give it: (5, 2) float64 points of a 512 x 512 crop.
TEMPLATES_512: dict[str, np.ndarray] = {"ffhq5": FFHQ_TEMPLATE_512}

# facexlib's border colour for crop pixels that fall outside the frame (B, G, R).
CROP_BORDER_BGR = (135, 133, 132)


def face_template(size: int, name: str = "ffhq5") -> np.ndarray:
    """The template ``name`` (default FFHQ) for a ``size`` x ``size`` crop: (5, 2) float32, crop
    pixels. An unknown name raises UsageError listing the templates.

    Scaled from the 512 template in float64 and then rounded to float32, as facexlib's float64
    template is when OpenCV converts it for the estimate.
    """
    if size <= 0:
        raise ValueError(f"template size must be positive, got {size}")
    try:
        points = TEMPLATES_512[name]
    except KeyError:
        known = ", ".join(sorted(TEMPLATES_512))
        raise UsageError(f"unknown alignment template {name!r}; templates: {known}") from None
    return (points * (size / 512.0)).astype(np.float32)


def estimate_affine(landmarks: np.ndarray, template: np.ndarray) -> np.ndarray:
    """The similarity transform (rotation, uniform scale, shift) taking ``landmarks`` to ``template``.

    ``landmarks``: (5, 2) float, frame pixels; ``template``: (5, 2) float, crop pixels (see
    :func:`face_template`). Returns (2, 3) float64, frame -> crop. Estimated as facexlib does:
    ``cv2.estimateAffinePartial2D`` with ``cv2.LMEDS`` (deterministic: OpenCV seeds its sampler).
    Raises :class:`InputError` when the landmarks are degenerate (all on one point, NaN).
    """
    points = np.asarray(landmarks, dtype=np.float32)
    targets = np.asarray(template, dtype=np.float32)
    if points.shape != targets.shape or points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(
            f"landmarks {points.shape} and template {targets.shape} must both be (K, 2)"
        )
    if not np.all(np.isfinite(points)):
        raise InputError("cannot align a face: its landmarks are not finite numbers")
    affine, _ = cv2.estimateAffinePartial2D(points, targets, method=cv2.LMEDS)
    if affine is None or not np.all(np.isfinite(affine)) or crop_scale(affine) == 0.0:
        raise InputError("cannot align a face: its landmarks are degenerate (no similarity fits)")
    return np.asarray(affine, dtype=np.float64)


def crop_scale(affine: np.ndarray) -> float:
    """Crop pixels per frame pixel of a (2, 3) frame -> crop affine (its linear part's scale)."""
    return float(np.sqrt(abs(np.linalg.det(np.asarray(affine, dtype=np.float64)[:, :2]))))


def warp_crop(
    frame: np.ndarray,
    affine: np.ndarray,
    size: int,
    border_value: tuple[int, int, int] = CROP_BORDER_BGR,
    border: CropBorder = "constant",
) -> np.ndarray:
    """The aligned crop: (size, size, 3) uint8 BGR from ``frame`` (H, W, 3) uint8 BGR.

    ``affine`` is (2, 3), frame -> crop. Bilinear (INTER_LINEAR); pixels from outside the frame take
    ``border_value`` (``border`` "constant", facexlib's default crop, which the learned models were
    trained with) or mirror the frame ("reflect101", facexlib's other choice: no flat grey for
    filters to spread into a face cut by the frame edge).
    """
    return cv2.warpAffine(
        frame,
        np.asarray(affine, dtype=np.float64),
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT if border == "constant" else cv2.BORDER_REFLECT_101,
        borderValue=border_value,
    )


def align_faces(
    frame: np.ndarray,
    faces: list[Face],
    size: int,
    border: CropBorder = "constant",
    template: str = "ffhq5",
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Crop every face of ``frame`` (H, W, 3) uint8 BGR onto the template ``template`` at ``size``.

    Returns ``crops`` (N, size, size, 3) uint8 BGR and ``affines``, N (2, 3) float64 frame -> crop
    matrices in the order of ``faces``.
    """
    points = face_template(size, template)
    crops = np.empty((len(faces), size, size, 3), dtype=np.uint8)
    affines = []
    for index, face in enumerate(faces):
        affine = estimate_affine(face.landmarks, points)
        crops[index] = warp_crop(frame, affine, size, border=border)
        affines.append(affine)
    return crops, affines


def to_tensor(crops: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """The network input: (N, 3, S, S) float32 in ``spec.color_order``, in ``spec.input_range``.

    ``crops``: (N, S, S, 3) uint8 BGR. [0, 255] maps linearly onto ``spec.input_range``.
    """
    if crops.ndim != 4 or crops.shape[3] != 3 or crops.dtype != np.uint8:
        raise ValueError(f"crops must be (N, S, S, 3) uint8, got {crops.shape} {crops.dtype}")
    low, high = spec.input_range
    channels = crops[..., ::-1] if spec.color_order == "RGB" else crops
    tensor = channels.transpose(0, 3, 1, 2).astype(np.float32)
    tensor *= np.float32((high - low) / 255.0)
    tensor += np.float32(low)
    return tensor


def from_tensor(output: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """Restored faces (N, S, S, 3) uint8 BGR from the network output (N, 3, S, S) float.

    ``output`` is in ``spec.color_order`` and ``spec.output_range``; values are clipped to that
    range, mapped onto [0, 255] and rounded (basicsr's ``tensor2img``).
    """
    if output.ndim != 4 or output.shape[1] != 3:
        raise ValueError(f"network output must be (N, 3, S, S), got {output.shape}")
    low, high = spec.output_range
    values = np.clip(output.astype(np.float32, copy=False), low, high)
    values = (values - np.float32(low)) * np.float32(255.0 / (high - low))
    images = np.rint(values).astype(np.uint8).transpose(0, 2, 3, 1)
    if spec.color_order == "RGB":
        images = images[..., ::-1]
    return np.ascontiguousarray(images)
