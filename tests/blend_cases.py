"""The paste-back golden cases (tests/golden/blend, made by facexlib 0.3.0: recipe/ says how) and
the inputs facexlib was given, recomputed: the frame, the background and the "restored" faces
(facexlib's crop, same OpenCV warp, mirrored, colour-shifted)."""

from __future__ import annotations

import json

import cv2
import numpy as np
from testdata import GOLDEN_DATA

from facert.stages.align.warp import warp_crop

BLEND = GOLDEN_DATA / "blend"
FACTS = json.loads((BLEND / "cases.json").read_text())
CASES = {case["name"]: case for case in FACTS["cases"]}


def case_frame(case: dict, photos: dict) -> np.ndarray:
    """The case's frame, (H, W, 3) uint8 BGR, from ``photos`` (name -> photo)."""
    frame = photos[case["image"]]
    if case.get("frame_size"):
        frame = cv2.resize(frame, tuple(case["frame_size"]), interpolation=cv2.INTER_AREA)
    if case.get("frame_slice"):
        y0, y1, x0, x1 = case["frame_slice"]
        frame = np.ascontiguousarray(frame[y0:y1, x0:x1])
    return frame


def case_inputs(
    case: dict, photos: dict, upscale: int
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """(background (Hu, Wu, 3) uint8 BGR, restored faces (S, S, 3) uint8 BGR, frame -> crop
    affines) as the recipe gave them to facexlib."""
    frame = case_frame(case, photos)
    affines = [np.asarray(face["affine"]) for face in case["faces"]]
    shift = np.asarray(FACTS["colour_shift_bgr"], dtype=np.int16)
    restored = [
        np.clip(
            warp_crop(frame, a, FACTS["face_size"])[:, ::-1].astype(np.int16) + shift, 0, 255
        ).astype(np.uint8)
        for a in affines
    ]
    height, width = frame.shape[:2]
    size = (int(width * upscale), int(height * upscale))
    background = cv2.resize(frame, size, interpolation=cv2.INTER_LANCZOS4)  # facexlib's default
    return background, restored, affines
