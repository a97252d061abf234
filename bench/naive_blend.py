"""The naive way: facexlib's square-mask paste-back over the WHOLE frame, for every face.

A plain re-statement of ``FaceRestoreHelper.paste_faces_to_input_image`` (facexlib 0.3.0,
``use_parse=False``) taking an already upscaled background: per face it warps the restored face and
a ones mask into a full-size frame, erodes, sums, erodes and blurs the full-size mask, and blends
the full frame in float32; one truncating cast at the end. This is what facert's
``facert.stages.blend.paste.paste_faces`` must equal inside each face's box, and the reference the benchmark
times when facexlib itself is not installed.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def paste_faces_full_frame(
    background: np.ndarray,
    restored: Sequence[np.ndarray],
    affines: Sequence[np.ndarray],
    upscale: float,
) -> np.ndarray:
    """(Hu, Wu, 3) uint8 BGR; arguments as ``facert.stages.blend.paste.paste_faces``."""
    height, width = background.shape[:2]
    output = background  # becomes float32 after the first face, as in facexlib
    for face, affine in zip(restored, affines, strict=True):
        inverse = cv2.invertAffineTransform(np.asarray(affine, dtype=np.float64)) * upscale
        if upscale > 1:
            inverse[:, 2] += 0.5 * upscale
        warped_face = cv2.warpAffine(face, inverse, (width, height))
        ones = np.ones(face.shape[:2], dtype=np.float32)
        warped_mask = cv2.warpAffine(ones, inverse, (width, height))
        first = int(2 * upscale)
        erosion = cv2.erode(warped_mask, np.ones((first, first), np.uint8))
        pasted = erosion[:, :, None] * warped_face
        w_edge = int(np.sum(erosion) ** 0.5) // 20
        centre = cv2.erode(erosion, np.ones((2 * w_edge, 2 * w_edge), np.uint8))
        soft = cv2.GaussianBlur(centre, (2 * w_edge + 1, 2 * w_edge + 1), 0)[:, :, None]
        output = soft * pasted + (1 - soft) * output
    return np.asarray(output).astype(np.uint8)
