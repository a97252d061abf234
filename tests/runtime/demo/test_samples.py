import cv2
import numpy as np
import pytest
from testdata import DATA

from facert.demo.samples import SAMPLES, aligned_face, photo_path

FACES = DATA / "faces"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_aligned_sample_faces_match_the_committed_crops(name: str) -> None:
    """The export checks and the tests see the same faces. Not bit-exact: faces.json keeps the
    landmarks to 0.001 px, which moves the affine by ~1e-5 and a few bilinear samples by 1 level
    (0.2-0.6% of them with OpenCV 5.0 and 5.1). Another OpenCV build may decode the JPEG photo and
    round its bilinear warp another way, 1 level each: at most 2 levels, and moving
    every photo sample by up to 1 level gives a mean of 0.45. A crop misplaced by a quarter pixel
    differs by 13-36 levels at most, 0.6-1.4 on average."""
    committed = cv2.imread(str(FACES / f"{name}_512.png")).astype(np.int16)
    assert photo_path(name).is_file()
    difference = np.abs(aligned_face(name).astype(np.int16) - committed)
    assert difference.max() <= 2 and difference.mean() < 0.5, (difference.max(), difference.mean())
