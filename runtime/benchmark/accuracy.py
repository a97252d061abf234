"""Accuracy per model and plan on the fixed check faces: deterministic, so CI can compare it.

The check faces are the accuracy gate's (:func:`facert.models.check_faces.default_faces`: the sample
photos' faces aligned at 512 px and their 48 px JPEG copies, upsampled to the model's size). Each
plan's :class:`facert.stages.restore.restorer.Restorer` restores them (uint8 BGR, the options the
runtime would use: estimated ones estimated) and is compared with the ONNX Runtime FP32 restorer's
output: PSNR (dB, 0-255) per face (its minimum) and over all faces together, SSIM per face (its
minimum and mean), and the NaN and Inf values the
network returned. ``quality_*``: the restored 48 px faces against the clean 512 px faces, the
restorer's own quality, so a change that makes a model worse at every precision shows too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import cv2
import numpy as np

from facert.backends.choice import ORT_FP32, Plan
from facert.benchmark.machine import isa_path
from facert.config import Settings
from facert.demo.metrics import psnr, ssim
from facert.errors import GateError, first_line
from facert.models.artifacts import Artifact
from facert.models.check_faces import default_faces
from facert.models.exporting import ensure_artifact
from facert.models.registry import get_spec


class NonFiniteCounter:
    """An engine that counts the NaN and Inf values in every output of the engine it wraps."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self.nan = 0
        self.inf = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def run(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs: dict[str, np.ndarray] = self._engine.run(feed)
        for array in outputs.values():
            if np.issubdtype(array.dtype, np.floating):
                self.nan += int(np.isnan(array).sum())
                self.inf += int(np.isinf(array).sum())
        return outputs


def check_crops(size: int) -> tuple[list[str], np.ndarray]:
    """The check faces' names and (N, size, size, 3) uint8 BGR crops (upsampled linearly, shrunk
    by area, as :func:`facert.models.check_faces.load_faces` does)."""
    names, crops = [], []
    for name, image in default_faces():
        if image.shape[:2] != (size, size):
            shrink = image.shape[0] > size
            image = cv2.resize(
                image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            )
        names.append(name)
        crops.append(image)
    return names, np.stack(crops)


def _engine(
    settings: Settings, artifact: Artifact, plan: Plan, report: Callable[[str], None]
) -> tuple[Any, str]:
    """The engine of ``plan`` and its gate verdict ("passed", "refused: <why>", or "none" for the
    export's own graphs). An artifact the gate refused is measured all the same: the bench reports
    what that precision does, the runtime would fall back to FP32."""
    from facert.backends.choice import Chooser
    from facert.backends.ort import OrtSession

    chooser = Chooser(settings.cache_dir, artifact, threads=settings.threads, report=report)
    if plan.backend == "ort" and plan.precision in ("fp32", "fp16"):
        from facert.stages.restore.restorer import graph_file

        path = artifact.path(graph_file(artifact, plan.precision))
        return OrtSession(path, threads=settings.threads), "none"
    try:
        return chooser.engine(plan), "passed"
    except GateError as exc:
        verdict = f"refused: {first_line(exc).split('accuracy gate: ')[-1]}"
    if plan.backend == "ort":
        return OrtSession(chooser.int8_artifact().path, threads=settings.threads), verdict
    compiled, source = chooser.openvino_artifact(plan.precision)
    engine = chooser.openvino_engine(source, plan.precision, compiled.path, compiled.folder)
    return engine, verdict


def _restore(
    settings: Settings, model: str, plan: Plan, crops: np.ndarray, report: Callable[[str], None]
) -> tuple[np.ndarray, str, NonFiniteCounter]:
    from facert.stages.restore.restorer import Restorer

    artifact = ensure_artifact(get_spec(model), settings.cache_dir)
    engine, verdict = _engine(settings, artifact, plan, report)
    counter = NonFiniteCounter(engine)
    with Restorer(artifact, counter) as restorer:
        return restorer.restore(crops), verdict, counter


def _number(value: float) -> float | str:
    return round(value, 4) if math.isfinite(value) else str(value)


def quality(
    names: list[str], outputs: np.ndarray, clean: Mapping[str, np.ndarray]
) -> dict[str, Any]:
    """Mean PSNR and SSIM of the restored small faces against their clean faces."""
    scores = [
        (psnr(clean[name.split("-")[0]], out), ssim(clean[name.split("-")[0]], out))
        for name, out in zip(names, outputs, strict=True)
        if "px-q" in name
    ]
    return {
        "quality_psnr_db": round(float(np.mean([s[0] for s in scores])), 4),
        "quality_ssim": round(float(np.mean([s[1] for s in scores])), 5),
    }


def measure_model(
    settings: Settings, model: str, plans: list[Plan], report: Callable[[str], None]
) -> list[dict[str, Any]]:
    """One accuracy row per plan of ``model`` (the first must be ORT FP32, the reference)."""
    size = get_spec(model).input_size
    names, crops = check_crops(size)
    clean = {n.split(".")[0]: c for n, c in zip(names, crops, strict=True) if "px-q" not in n}
    rows, reference = [], None
    for plan in plans:
        start = time.perf_counter()
        outputs, gate, counter = _restore(settings, model, plan, crops, report)
        if plan == ORT_FP32:
            reference = outputs
        if reference is None:  # the matrix checks that ORT FP32 comes first
            raise ValueError("the ORT FP32 reference must be measured first")
        psnrs = [psnr(r, o) for r, o in zip(reference, outputs, strict=True)]
        ssims = [ssim(r, o) for r, o in zip(reference, outputs, strict=True)]
        row = {
            "model": model,
            "plan": str(plan),
            "gate": gate,
            "isa_path": isa_path(plan.precision),
            "faces": len(names),
            "psnr_db_min": _number(min(psnrs)),
            "psnr_db": _number(psnr(reference, outputs)),
            "ssim_min": round(min(ssims), 6),
            "ssim_mean": round(float(np.mean(ssims)), 6),
            "nan": counter.nan,
            "inf": counter.inf,
            **quality(names, outputs, clean),
            "seconds": round(time.perf_counter() - start, 2),
        }
        rows.append(row)
    return rows
