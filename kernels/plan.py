"""What the kernel launchers pass besides pointers: per-face numbers computed on the host.

Pure NumPy/OpenCV and facert's own feather code (no CUDA): the same plans drive the CUDA kernels
(``facert.kernels.launch``) and their host twins in the tests. Every geometric decision is the
runtime's CPU path's (runtime/stages/blend/paste.py, feather_crop.py, feather_box.py), made by
calling it, so the kernels only do per-pixel arithmetic (``pixels.cuh``).

Matrix convention: ``affines`` are facert's (2, 3) float64 FRAME -> CROP matrices
(runtime/stages/align/warp.py). The kernels take CROP -> FRAME matrices as float32, inverted as
OpenCV's ``warpAffine`` inverts: in float64, then rounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from facert.models.registry import CropBorder, ModelSpec
from facert.stages.align.warp import CROP_BORDER_BGR
from facert.stages.blend.feather import feather_width
from facert.stages.blend.feather_box import eroded_mask, soft_mask
from facert.stages.blend.feather_crop import canvas_profiles
from facert.stages.blend.paste import canvas_placement, crop_to_background, mask_plan, to_box
from facert.stages.blend.workspace import Workspace

TILE = 16  # blend tiles: 16 x 16 pixels (FACERT_TILE in pixels.cuh)
BLEND_PARAMS = 20  # floats per face in BlendPlan.face_params (FACERT_BLEND_PARAMS; layout below)
PATH_NONE, PATH_PROFILES, PATH_BOX = 0, 1, 2
BORDER_MODES: dict[str, int] = {"constant": 0, "reflect101": 1}
_EXACT_FLOAT = 1 << 24  # table offsets travel as float32: exact below this
_WORKSPACE = Workspace()


@dataclass(frozen=True)
class WarpPlan:
    """facert_warp_crop_*'s arguments besides the frame and the output tensor."""

    crop_to_frame: np.ndarray  # (N, 6) float32, CROP -> FRAME, row-major
    size: int  # the crop's side S: the output is (N, 3, S, S)
    rgb: bool  # channel 0 of the output is R (else B)
    scale: float  # value = level * scale + offset (float32)
    offset: float
    border_mode: int  # 0: constant border_bgr, 1: reflect101
    border_bgr: tuple[float, float, float]


def warp_plan(
    affines: Sequence[np.ndarray], spec: ModelSpec, border: CropBorder = "constant"
) -> WarpPlan:
    """The warp-crop of :func:`facert.stages.align.warp.warp_crop` + ``to_tensor`` for ``spec``.

    ``affines``: N (2, 3) float64 frame -> crop matrices. ``border``: "constant" (facexlib's grey,
    CROP_BORDER_BGR) or "reflect101".
    """
    matrices = np.zeros((len(affines), 6), np.float32)
    for index, affine in enumerate(affines):
        matrices[index] = _inverse(affine).ravel()
    low, high = spec.input_range
    blue, green, red = CROP_BORDER_BGR
    return WarpPlan(
        crop_to_frame=matrices,
        size=spec.input_size,
        rgb=spec.color_order == "RGB",
        scale=float(np.float32((high - low) / 255.0)),
        offset=float(np.float32(low)),
        border_mode=BORDER_MODES[border],
        border_bgr=(float(blue), float(green), float(red)),
    )


@dataclass(frozen=True)
class BlendPlan:
    """facert_blend_*'s arguments besides the frame and the restored faces.

    face_params, BLEND_PARAMS float32 per face: [0] path (PATH_NONE, PATH_PROFILES, PATH_BOX);
    [1:5] the face's box x0, y0, x1, y1 (frame pixels, half-open); [5:11] box pixels -> canvas
    pixels (float32); [11] margin; [12] canvas side; [13] offset of its tables; [14:17] colour gain
    and [17:20] colour bias (B, G, R, levels). Tables: profiles path soft_u, erosion_u, soft_v,
    erosion_v (side each); box path erosion then alpha (h * w each, row-major over the box).
    """

    face_params: np.ndarray  # (N, BLEND_PARAMS) float32
    tables: np.ndarray  # (T,) float32, T >= 1
    tiles: np.ndarray  # (M, 2) int32 origins (x, y) of the TILE x TILE tiles over the face boxes
    size: int  # the restored faces' side S: faces are (N, 3, S, S)
    rgb: bool  # channel 0 of the faces is R (else B)
    low: float  # the faces' value range (spec.output_range)
    high: float


def blend_plan(
    affines: Sequence[np.ndarray],
    spec: ModelSpec,
    frame_shape: tuple[int, int],
    upscale: float = 1.0,
    color: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
) -> BlendPlan:
    """The paste-back of :func:`facert.stages.blend.paste.paste_faces` for N faces of ``spec``.

    ``affines``: N (2, 3) float64 frame -> crop matrices in ORIGINAL frame pixels; ``frame_shape``:
    (H, W) of the frame the kernel blends into (the background, already ``upscale``d);
    ``color``: per face (gain (3,), bias (3,)) applied to the face's BGR levels before the paste,
    ``level = clip(round(level * gain + bias), 0, 255)`` (None: identity).
    """
    if color is not None and len(color) != len(affines):
        raise ValueError(f"{len(color)} colour corrections for {len(affines)} faces")
    size = spec.input_size
    params = np.zeros((len(affines), BLEND_PARAMS), np.float32)
    tables: list[np.ndarray] = []
    offset = 0
    for index, affine in enumerate(affines):
        face_tables = _face_params(params[index], affine, size, upscale, frame_shape)
        params[index, 13] = offset
        params[index, 14:17], params[index, 17:20] = (1.0, 0.0) if color is None else color[index]
        tables.extend(face_tables)
        offset += sum(table.size for table in face_tables)
        if offset >= _EXACT_FLOAT:
            raise ValueError(f"blend tables of {offset} floats: more than float32 offsets address")
    low, high = spec.output_range
    return BlendPlan(
        face_params=params,
        tables=np.concatenate(tables) if tables else np.zeros(1, np.float32),
        tiles=_tiles(params, frame_shape),
        size=size,
        rgb=spec.color_order == "RGB",
        low=float(low),
        high=float(high),
    )


def _face_params(
    params: np.ndarray, affine: np.ndarray, size: int, upscale: float, shape: tuple[int, int]
) -> list[np.ndarray]:
    """Fill one face's path, box, matrix and canvas in ``params``; return its tables."""
    inverse = crop_to_background(affine, upscale)
    support, w_edge = mask_plan(inverse, size, upscale, shape)
    if support is None:
        params[0] = PATH_NONE
        return []
    if w_edge is None:  # the box path: facexlib's own operations over the box, as paste.py
        local, box_size = to_box(inverse, support)
        erosion = eroded_mask(local, size, box_size, upscale, _WORKSPACE)
        soft = soft_mask(erosion, feather_width(float(erosion.sum(dtype=np.float64))), _WORKSPACE)
        alpha = cv2.convertScaleAbs(soft, alpha=255)  # round(255 * soft), as paste.py
        params[0], params[1:5], params[11], params[12] = PATH_BOX, support, 0, size
        params[5:11] = _inverse(local).ravel()
        return [erosion.astype(np.float32).ravel(), alpha.astype(np.float32).ravel()]
    forward = cv2.invertAffineTransform(inverse)
    margin, (soft_u, erosion_u), (soft_v, erosion_v) = canvas_profiles(
        forward, size, upscale, w_edge
    )
    placed = canvas_placement(inverse, size, margin, shape)
    if placed is None:
        params[0] = PATH_NONE
        return []
    box, canvas_to_box = placed
    params[0], params[1:5], params[11], params[12] = PATH_PROFILES, box, margin, soft_u.size
    params[5:11] = _inverse(canvas_to_box).ravel()
    return [p.astype(np.float32) for p in (soft_u, erosion_u, soft_v, erosion_v)]


def _inverse(affine: np.ndarray) -> np.ndarray:
    """(2, 3) float32: the inverse of a (2, 3) affine, in float64 as OpenCV's warpAffine, rounded."""
    return cv2.invertAffineTransform(np.asarray(affine, dtype=np.float64)).astype(np.float32)


def _tiles(params: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(M, 2) int32 origins (x, y) of the TILE x TILE tiles covering the union of the faces' boxes
    in a frame of ``shape`` (H, W), row by row."""
    covered = np.zeros((-(-shape[0] // TILE), -(-shape[1] // TILE)), bool)
    for face in params[params[:, 0] != PATH_NONE]:
        x0, y0, x1, y1 = (int(value) for value in face[1:5])
        covered[y0 // TILE : -(-y1 // TILE), x0 // TILE : -(-x1 // TILE)] = True
    return (np.argwhere(covered)[:, ::-1] * TILE).astype(np.int32)


@dataclass(frozen=True)
class ResizePlan:
    """facert_resize_normalize_*'s arguments besides the frame and the output tensor."""

    boxes: np.ndarray  # (N, 4) float32 left, top, right, bottom: integer frame pixels, half-open
    out_width: int
    out_height: int
    rgb: bool  # channel 0 of the output is R (else B)
    scale: float  # value = mean * scale + offset (float32)
    offset: float


def resize_plan(
    boxes: np.ndarray | Sequence[Sequence[int]],
    out_size: tuple[int, int],
    rgb: bool,
    scale: float,
    offset: float,
) -> ResizePlan:
    """Area resizes (runtime/stages/detect/area.py) of ``boxes`` to ``out_size`` (width, height).

    ``boxes``: (N, 4) integer left, top, right, bottom in frame pixels (half-open, inside the
    frame, at least one pixel each way): the whole frame for MTCNN's pyramid, the candidates'
    windows for its R-Net/O-Net crops (area.py's ``windows`` are top, bottom, left, right).
    MTCNN's ``_normalise`` is ``scale = 1 / 128``, ``offset = -127.5 / 128``.
    """
    array = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if np.any(array != np.round(array)) or np.any(array[:, 2:] <= array[:, :2]):
        raise ValueError("resize boxes must be integer left, top, right, bottom with right > left")
    width, height = out_size
    if width <= 0 or height <= 0:
        raise ValueError(f"resize output size must be positive, got {out_size}")
    return ResizePlan(
        boxes=array.astype(np.float32),
        out_width=int(width),
        out_height=int(height),
        rgb=bool(rgb),
        scale=float(np.float32(scale)),
        offset=float(np.float32(offset)),
    )
