"""The low-resolution + JPEG family: small, sharp, compressed faces, the most common restoration input.

Each case takes a clean photo, shrinks it with area averaging (``cv2.INTER_AREA``) so that its
largest face box is ``face`` pixels wide, and JPEG-compresses the result once (OpenCV/libjpeg,
``quality``, 4:2:0); no blur, no added noise. The reference is the shrunk photo before compression.
Everything is deterministic (area averaging and libjpeg draw nothing at random), so the family is
the same on every run and machine with the same OpenCV.

The photos: matplotlib's grace_hopper.jpg and scikit-image's astronaut.png (always), and three real
photos of ``../shared/data/real-inputs`` large enough to shrink (gfpgan-whole/00.jpg, 10045.png and
Blake_Lively.jpg; when ../shared is present). Shrinking by 0.2-0.8 also averages away their own
compression. codeformer-whole/02.png is left out: its faces read as blurred (about 1.2 px) even
shrunk to 30 px, so it is not a sharp reference.

:func:`measure` runs the whole pipeline and scores each detected face's box (clipped to the photo)
against the reference, before and after.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facert.demo.metrics import psnr, ssim

FACE_SIZES = (30, 45, 64, 90, 120)  # largest face box width after shrinking, pixels
QUALITIES = (40, 50, 60, 75, 90)
REAL_PHOTOS = ("gfpgan-whole/00.jpg", "gfpgan-whole/10045.png", "gfpgan-whole/Blake_Lively.jpg")
# Largest face box width in each photo at full size (MTCNN on the clean photo), so that a case does
# not depend on detecting the clean photo first; a test checks these against the detector.
FULL_SIZE_FACE = {
    "grace_hopper": 181,
    "astronaut": 86,
    "gfpgan-whole/00.jpg": 152,
    "gfpgan-whole/10045.png": 71,
    "gfpgan-whole/Blake_Lively.jpg": 179,
}


@dataclass(frozen=True)
class FamilyCase:
    photo: str  # a sample name or a path under real-inputs
    face: int  # target width of the largest face box, pixels
    quality: int  # JPEG quality

    @property
    def label(self) -> str:
        return f"{self.photo} {self.face}px q{self.quality}"


def family(
    photos: tuple[str, ...],
    faces: tuple[int, ...] = FACE_SIZES,
    qualities: tuple[int, ...] = QUALITIES,
) -> list[FamilyCase]:
    """Every (photo, face size, quality) case whose shrink factor is at most 1."""
    return [
        FamilyCase(photo, face, quality)
        for photo in photos
        for face in faces
        if face <= FULL_SIZE_FACE[photo]
        for quality in qualities
    ]


def reference(photo: np.ndarray, case: FamilyCase) -> np.ndarray:
    """The photo (H, W, 3) uint8 BGR shrunk so that its largest face is ``case.face`` pixels wide."""
    scale = case.face / FULL_SIZE_FACE[case.photo]
    return cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def compress(image: np.ndarray, quality: int) -> np.ndarray:
    """One JPEG round trip through OpenCV (libjpeg, 4:2:0 chroma)."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR) if ok else None
    if decoded is None:
        raise RuntimeError("OpenCV could not JPEG round-trip an image")
    return decoded


@dataclass(frozen=True)
class FaceScore:
    """One face of one case: its box width, PSNR dB and SSIM of the degraded and restored photo over
    the box, and the restorer's blur estimate for it (photo pixels; nan when not reported)."""

    label: str
    width: float
    psnr: tuple[float, float]
    ssim: tuple[float, float]
    blur: float


Enhance = Callable[[np.ndarray], tuple[np.ndarray, list, dict[str, np.ndarray]]]


def measure(
    clean: np.ndarray, degraded: np.ndarray, label: str, enhance: Enhance
) -> list[FaceScore]:
    """Restore ``degraded`` with ``enhance`` (image -> (restored image, faces, per-face options))
    and score every face's box against ``clean``."""
    restored, faces, options = enhance(degraded)
    blur = options.get("blur_sigma", np.full(len(faces), np.nan))
    scores = []
    for index, face in enumerate(faces):
        x1, y1 = (max(0, int(np.floor(v))) for v in face.box[:2])
        x2 = min(clean.shape[1], int(np.ceil(face.box[2])))
        y2 = min(clean.shape[0], int(np.ceil(face.box[3])))
        box = (slice(y1, y2), slice(x1, x2))
        scores.append(
            FaceScore(
                label=f"{label} #{index}",
                width=float(face.box[2] - face.box[0]),
                psnr=(psnr(degraded[box], clean[box]), psnr(restored[box], clean[box])),
                ssim=(ssim(degraded[box], clean[box]), ssim(restored[box], clean[box])),
                blur=float(blur[index]),
            )
        )
    return scores


def load_photo(name: str, shared: Path | None) -> np.ndarray | None:
    """A family photo (H, W, 3) uint8 BGR: a sample by name, or a real photo under ``shared``."""
    if name in ("grace_hopper", "astronaut"):
        from facert.demo.samples import photo_path

        path = photo_path(name)
    elif shared is None:
        return None
    else:
        path = shared / "data" / "real-inputs" / name
    return cv2.imread(str(path), cv2.IMREAD_COLOR)


def degraded_cases(
    cases: list[FamilyCase], shared: Path | None
) -> Iterator[tuple[FamilyCase, np.ndarray, np.ndarray]]:
    """(case, reference, compressed) for each case whose photo is available."""
    photos: dict[str, np.ndarray | None] = {}
    for case in cases:
        if case.photo not in photos:
            photos[case.photo] = load_photo(case.photo, shared)
        photo = photos[case.photo]
        if photo is None:
            continue
        clean = reference(photo, case)
        yield case, clean, compress(clean, case.quality)
