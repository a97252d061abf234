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

import numpy as np

from facert.demo.metrics import psnr
from facert.errors import ExportError
from facert.models.check_faces import (  # noqa: F401  (the harness's fixed faces, re-exported)
    BATCH,
    SMALL_FACE_JPEG_QUALITY,
    SMALL_FACE_SIZE,
    FaceImage,
    default_faces,
    load_faces,
    peak_to_peak,
    read_face,
    small_face,
)
from facert.models.registry import ModelSpec

FP32_TOLERANCE = 1e-4  # ORT vs PyTorch and batch vs single runs, x output scale
FP16_MIN_PSNR_DB = 40.0  # FP16 graph (and the torch FP16 proof) vs the FP32 reference
FP16_BATCH_MIN_PSNR_DB = 60.0  # FP16 batch rows vs single runs: a few float16 ulps at most


def output_scale(reference: np.ndarray) -> float:
    return max(1.0, float(np.abs(reference).max()))


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
