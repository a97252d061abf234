"""Colour correction (facert.stages.blend.color): a cast the restorer added is taken out before the
face is pasted, detail stays, pixels from outside the frame do not count, and the seam a cast leaves
at the pasted square's border shrinks (facert.stages.blend.seam)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from degraded_faces import affine, with_cast

from facert.demo.samples import aligned_face, photo_path
from facert.errors import UsageError
from facert.pipeline.frame import EnhanceOptions
from facert.stages.blend.color import check_method, correct_colors, frame_weights
from facert.stages.blend.paste import paste_faces
from facert.stages.blend.seam import pasted_border, seam_at


def sharpness(crop: np.ndarray) -> np.ndarray:
    return cv2.Laplacian(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32), cv2.CV_32F)


@pytest.mark.parametrize("method", ["mean-std", "histogram"])
def test_a_cast_is_taken_out_and_detail_stays(method: str) -> None:
    """On the real aligned face: the cast moves the channel means by 5-30 levels; after the
    correction they are within 1.5 levels of the face's own (8-bit Lab round trips and clipping
    leave about 1), and the detail (the Laplacian) still correlates >= 0.95 with the face's (the
    cast flattened contrast by 0.85: stretching 8-bit levels back leaves gaps, histogram matching
    more than mean-std: 0.96 vs 0.99 measured)."""
    face = aligned_face("grace_hopper")
    cast = with_cast(face)
    weights = [np.ones(face.shape[:2], np.float32)]
    corrected = correct_colors(cast[None], face[None], weights, method)[0]  # type: ignore[arg-type]
    before = np.abs(cast.reshape(-1, 3).mean(0) - face.reshape(-1, 3).mean(0))
    after = np.abs(corrected.reshape(-1, 3).mean(0) - face.reshape(-1, 3).mean(0))
    assert before.max() > 15 and after.max() <= 1.5, (before, after)
    assert (
        np.abs(corrected.astype(float) - face).mean()
        < 0.4 * np.abs(cast.astype(float) - face).mean()
    )
    detail = np.corrcoef(sharpness(corrected).ravel(), sharpness(face).ravel())[0, 1]
    assert detail >= 0.95


def test_none_returns_the_faces_unchanged_and_bad_names_are_refused() -> None:
    face = aligned_face("astronaut")[None]
    assert correct_colors(face, face, [np.ones((512, 512), np.float32)], "none") is face
    with pytest.raises(UsageError, match="unknown colour correction 'lab'; choose one of none"):
        check_method("lab")
    with pytest.raises(UsageError, match="unknown colour correction"):
        EnhanceOptions(color_correction="grey")  # type: ignore[arg-type]


def test_pixels_from_outside_the_frame_do_not_count() -> None:
    """A face cut at the frame's edge: the border-filled part of its crop weighs 0. A network draws
    something of its own there (here: a dark extension of the head) besides the cast on the
    face; weighted, the face is corrected back to the photo's colours; with uniform weights the
    drawn part drags the statistics and the face stays off (the check fails that way)."""
    photo = cv2.imread(str(photo_path("grace_hopper")))
    matrix = affine("grace_hopper")
    cut = photo[:, 240:]  # the face's left half is outside this frame
    shifted = matrix.copy()
    shifted[:, 2] += matrix[:, 0] * 240
    crop = cv2.warpAffine(cut, shifted, (512, 512), borderValue=(135, 133, 132))
    weights = frame_weights(shifted, cut.shape, 512)
    outside = weights == 0
    assert 0.2 < outside.mean() < 0.6 and weights.max() == 1.0
    cast = with_cast(crop)
    cast[outside] = 40
    inside = ~outside
    good = correct_colors(cast[None], crop[None], [weights], "mean-std")[0]
    flat = correct_colors(cast[None], crop[None], [np.ones_like(weights)], "mean-std")[0]
    error_good = np.abs(good[inside].astype(float) - crop[inside]).mean()
    error_flat = np.abs(flat[inside].astype(float) - crop[inside]).mean()
    assert error_good < 4.0 and error_good < 0.5 * error_flat, (error_good, error_flat)


def test_the_seam_a_cast_leaves_shrinks() -> None:
    """The cast face pasted into the photo steps in tone across the feathered border (the seam
    measure's ``tone``, uint8 levels, against the untouched photo); corrected, the step is a
    fraction of it."""
    photo = cv2.imread(str(photo_path("grace_hopper")))
    matrix = affine("grace_hopper")
    crop = cv2.warpAffine(photo, matrix, (512, 512), borderValue=(135, 133, 132))
    weights = [frame_weights(matrix, photo.shape, 512)]
    border = pasted_border(matrix, 512)
    tones = {}
    for method in ("none", "mean-std", "histogram"):
        face = correct_colors(with_cast(crop)[None], crop[None], weights, method)[0]  # type: ignore[arg-type]
        pasted = paste_faces(photo, [face], [matrix], 1.0)
        tones[method] = seam_at(pasted, photo, border).tone
    assert tones["none"] > 5
    assert tones["mean-std"] < 0.25 * tones["none"] and tones["histogram"] < 0.25 * tones["none"]
