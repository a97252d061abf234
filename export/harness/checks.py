"""The numbers a learned restorer's export must reach, measured on real aligned faces.

Used by :func:`facert.export.harness.learned.export_learned`. Every check raises
:class:`facert.errors.ExportError` naming the file, the face, the number and its limit.

Tolerances are stated against the output scale ``max(1, max |reference|)``: real checkpoints give
outputs in [-1, 1] (scale 1, so the limits are absolute); random test weights may give larger ones.
PSNR uses the peak-to-peak ``max(output range width, reference max - min)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facert.demo.metrics import psnr
from facert.errors import ExportError
from facert.models.registry import ModelSpec

FP32_TOLERANCE = 1e-4  # ORT vs PyTorch and batch vs single runs, x output scale
FP16_MIN_PSNR_DB = 40.0  # FP16 graph (and the torch FP16 proof) vs the FP32 reference
FP16_BATCH_MIN_PSNR_DB = 60.0  # FP16 batch rows vs single runs: a few float16 ulps at most
BATCH = 4
# The degraded copy of each sample face: an old photo's face, a few dozen pixels wide and JPEG
# compressed, as the restorers meet them (load_faces upsamples it to the network's size).
SMALL_FACE_SIZE = 48
SMALL_FACE_JPEG_QUALITY = 60

FaceImage = tuple[str, np.ndarray]  # a name and an aligned face, (S, S, 3) uint8 BGR


def read_face(path: Path) -> FaceImage:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ExportError("cannot read this face image", path=str(path))
    return path.name, image


def default_faces() -> list[FaceImage]:
    """The fixed check faces of a learned export, the same on every machine: the sample photos'
    faces (:mod:`facert.demo.samples`, photos that ship inside matplotlib and scikit-image) aligned
    at 512 px, then each of them degraded (:func:`small_face`). Extra faces are only ever added on
    request (``facert models export --check-faces DIR``), never found on the disk."""
    from facert.demo.samples import SAMPLES, aligned_face

    faces = [(f"{name}.png", aligned_face(name)) for name in sorted(SAMPLES)]
    return faces + [small_face(name, image) for name, image in faces]


def small_face(name: str, image: np.ndarray) -> FaceImage:
    """``image`` (an aligned face, uint8 BGR) shrunk to SMALL_FACE_SIZE px (area average) and
    JPEG-compressed at SMALL_FACE_JPEG_QUALITY: (SMALL_FACE_SIZE, SMALL_FACE_SIZE, 3) uint8 BGR,
    named after ``name`` ("astronaut.png" -> "astronaut-48px-q60.jpg")."""
    size, quality = SMALL_FACE_SIZE, SMALL_FACE_JPEG_QUALITY
    small = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    _, encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    return f"{Path(name).stem}-{size}px-q{quality}.jpg", decoded


def load_faces(
    spec: ModelSpec, faces: Sequence[Path | FaceImage], count: int = BATCH
) -> tuple[np.ndarray, list[str]]:
    """(count, 3, S, S) float32 network inputs (spec's colour order and range) and their names.

    ``faces`` are files or (name, image) pairs. Images are resized to the spec's input size when
    needed; with fewer images than ``count`` the rest are mirrored copies (named "<name>
    mirrored"), so every row of a batch differs.
    """
    size = spec.input_size
    low, high = spec.input_range
    named = [read_face(f) if isinstance(f, Path) else f for f in faces]
    rows, names = [], []
    for index in range(count):
        name, image = named[index % len(named)]
        if image.shape[:2] != (size, size):
            shrink = image.shape[0] > size
            interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            image = cv2.resize(image, (size, size), interpolation=interpolation)
        mirrored = (index // len(named)) % 2 == 1
        if mirrored:
            image = image[:, ::-1]
        names.append(f"{name} mirrored" if mirrored else name)
        if spec.color_order == "RGB":
            image = image[:, :, ::-1]
        values = image.astype(np.float32) / 255.0 * (high - low) + low
        rows.append(values.transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(rows)), names


def output_scale(reference: np.ndarray) -> float:
    return max(1.0, float(np.abs(reference).max()))


def peak_to_peak(spec: ModelSpec, reference: np.ndarray) -> float:
    width = spec.output_range[1] - spec.output_range[0]
    return max(width, float(reference.max() - reference.min()))


def require(condition: bool, message: str, path: Path | None = None) -> None:
    if not condition:
        raise ExportError(message, path=str(path) if path else None)


def check_close(
    what: str, reference: np.ndarray, test: np.ndarray, names: Sequence[str], path: Path
) -> float:
    """Max |test - reference| over all rows; raises past FP32_TOLERANCE x output scale."""
    limit = FP32_TOLERANCE * output_scale(reference)
    differences = np.abs(test.astype(np.float64) - reference).reshape(len(names), -1).max(1)
    worst = int(np.argmax(differences)) if np.isfinite(differences).all() else 0
    largest = float(differences.max()) if np.isfinite(differences).all() else math.inf
    hint = ""
    if math.isfinite(largest) and int((differences > limit).sum()) < len(names):
        hint = (
            "; on some faces only: a discrete choice at a near-tie (a codebook argmax or argmin "
            "flipped by float32 rounding) does this as well as a wrong graph"
        )
    require(
        largest <= limit,
        f"{what}: max abs difference {largest:.3g} on {names[worst]} (limit {limit:.3g}){hint}",
        path,
    )
    return largest


def check_psnr(
    what: str,
    spec: ModelSpec,
    reference: np.ndarray,
    test: np.ndarray,
    names: Sequence[str],
    minimum: float,
    path: Path | None,
) -> list[float]:
    """The PSNR of each row of ``test`` against ``reference``; raises when one is below
    ``minimum``."""
    values = [
        psnr(ref, out, peak_to_peak(spec, ref)) for ref, out in zip(reference, test, strict=True)
    ]
    worst = int(np.argmin(values))
    require(
        values[worst] >= minimum,
        f"{what}: PSNR {values[worst]:.1f} dB on {names[worst]} (at least {minimum:.0f} dB "
        "needed; not finite means float16 overflow)",
        path,
    )
    return values


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as strings ("inf": identical outputs), for strict JSON."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_safe(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def run_rows(run: Callable[[np.ndarray], np.ndarray], faces: np.ndarray) -> np.ndarray:
    """``run`` on each row alone (batch 1), stacked: (N, ...) float32."""
    return np.concatenate([run(faces[i : i + 1]).astype(np.float32) for i in range(len(faces))])
