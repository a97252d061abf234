"""Sample photos that ship inside registry packages, and their faces aligned to the FFHQ template.

The demo restores damaged copies of these photos; the export of a learned model checks its numbers on
the aligned faces. The landmarks are OpenCV YuNet's on the original photos (tests/data/faces/README.md
records how); the aligned crops equal tests/data/faces/*_512.png, which a test keeps true.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from facert.errors import MissingDependencyError

# name -> (package, file inside the package, landmarks (5, 2) in photo pixels)
SAMPLES: dict[str, tuple[str, str, tuple[tuple[float, float], ...]]] = {
    "grace_hopper": (
        "matplotlib",
        "mpl-data/sample_data/grace_hopper.jpg",
        (
            (227.11700439453125, 193.3280029296875),
            (307.8479919433594, 195.3719940185547),
            (266.47900390625, 240.00799560546875),
            (228.50999450683594, 267.8659973144531),
            (302.18499755859375, 269.57000732421875),
        ),
    ),
    "astronaut": (
        "skimage",
        "data/astronaut.png",
        (
            (200.11599731445312, 101.81999969482422),
            (247.13400268554688, 102.61900329589844),
            (220.36700439453125, 124.54399871826172),
            (198.61300659179688, 142.7740020751953),
            (239.66799926757812, 143.63800048828125),
        ),
    ),
}


def photo_path(name: str) -> Path:
    """The file of sample photo ``name`` inside its installed package."""
    package, relative, _ = SAMPLES[name]
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise MissingDependencyError(
            f"the sample photo {name} ships with {package}: pip install 'facert[demo]'"
        )
    return Path(spec.origin).parent / relative


def aligned_face(name: str, size: int = 512) -> np.ndarray:
    """Sample photo ``name``'s face aligned as facexlib aligns: (size, size, 3) uint8 BGR."""
    from facert.stages.align.warp import estimate_affine, face_template, warp_crop

    image = cv2.imread(str(photo_path(name)), cv2.IMREAD_COLOR)
    if image is None:
        raise MissingDependencyError(f"cannot read the sample photo {photo_path(name)}")
    landmarks = np.array(SAMPLES[name][2], np.float32)
    return warp_crop(image, estimate_affine(landmarks, face_template(size)), size)
