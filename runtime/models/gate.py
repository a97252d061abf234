"""The accuracy gate of reduced-precision artifacts (BF16, INT8; issue 9), the same as the FP16
export's: an artifact is used only if, on the fixed check faces (:func:`facert.models.check_faces.
default_faces`: the sample photos' faces and their 48 px JPEG copies) at every option case the spec
asks for (:func:`facert.models.check_faces.option_cases`), its output reaches at least
:data:`MIN_PSNR_DB` against ONNX Runtime FP32 on the export's FP32 graph, with no NaN or Inf.

PSNR is the export checks' (:func:`facert.models.check_faces.peak_to_peak`: the output range's width,
or the reference's own peak to peak when it is wider, as random test weights give). The numbers go
into the artifact's manifest; a failing artifact is kept with its numbers, refused in one line, and
never run (:mod:`facert.backends.choice`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from facert.backends.base import Engine
from facert.demo.metrics import psnr
from facert.models.check_faces import (
    case_label,
    default_faces,
    load_faces,
    option_cases,
    peak_to_peak,
)
from facert.models.registry import ModelSpec

MIN_PSNR_DB = 40.0  # the FP16 export's limit (facert.export.harness.checks.FP16_MIN_PSNR_DB)


@dataclass(frozen=True)
class GateResult:
    """What the gate measured: the lowest PSNR over every face and case, where it was, and
    whether every output was finite."""

    passed: bool
    min_psnr_db: float
    worst: str
    finite: bool
    faces: int
    cases: int
    threshold_db: float = MIN_PSNR_DB

    def to_json(self) -> dict[str, Any]:
        facts = asdict(self)
        if not math.isfinite(self.min_psnr_db):  # strict JSON: "inf" for identical outputs
            facts["min_psnr_db"] = str(self.min_psnr_db)
        else:
            facts["min_psnr_db"] = round(self.min_psnr_db, 2)
        return facts

    @classmethod
    def from_json(cls, facts: Mapping[str, Any]) -> GateResult:
        names = {field.name for field in fields(cls)}
        values = {key: value for key, value in facts.items() if key in names}
        values["min_psnr_db"] = float(values["min_psnr_db"])
        return cls(**values)

    def summary(self) -> str:
        """ "51.4 dB >= 40 dB on 4 faces x 1 case" or why it failed, for messages."""
        if not self.finite:
            return f"NaN or Inf on {self.worst}"
        relation = ">=" if self.passed else "<"
        return (
            f"{self.min_psnr_db:.1f} dB {relation} {self.threshold_db:.0f} dB (worst: {self.worst};"
            f" {self.faces} faces x {self.cases} option cases)"
        )


def gate_feed(
    spec: ModelSpec, engine: Engine, faces: np.ndarray, case: Mapping[str, float]
) -> dict[str, np.ndarray]:
    """``engine``'s inputs for ``faces`` ((N, 3, S, S) float32) at ``case``: the image, each option
    as (N,) float32, each declared extra input as zeros of its shape and dtype."""
    named = {o.name for o in spec.options if o.graph_input} | {e.name for e in spec.extra_inputs}
    image = next(name for name in engine.inputs if name not in named)
    feed = {image: faces}
    feed.update({name: np.full(len(faces), value, np.float32) for name, value in case.items()})
    for extra in spec.extra_inputs:
        feed[extra.name] = np.zeros((len(faces), *extra.shape), np.dtype(extra.dtype))
    return feed


def _run(spec: ModelSpec, engine: Engine, faces: np.ndarray, case: Mapping[str, float]) -> Any:
    """``engine`` on ``faces`` at ``case``: (N, 3, S, S) float32; one face per call when the spec
    does not batch."""
    step = len(faces) if spec.batches else 1
    rows = []
    for start in range(0, len(faces), step):
        feed = gate_feed(spec, engine, faces[start : start + step], case)
        rows.append(next(iter(engine.run(feed).values())).astype(np.float32))
    return np.concatenate(rows)


class GateReference:
    """The FP32 outputs the gate compares with, computed once per model and shared by every
    candidate: ``reference`` (ONNX Runtime on the FP32 graph) on the check faces, every case."""

    def __init__(self, spec: ModelSpec, reference: Engine) -> None:
        self.spec = spec
        named = default_faces()
        self.faces, self.names = load_faces(spec, named, count=len(named))
        self.cases = option_cases(spec)
        self.outputs = [_run(spec, reference, self.faces, case) for case in self.cases]


def run_gate(reference: GateReference, candidate: Engine) -> GateResult:
    """``candidate`` (open) against ``reference``'s outputs, as the module doc says."""
    spec = reference.spec
    worst, where, finite = math.inf, "", True
    for case, expected in zip(reference.cases, reference.outputs, strict=True):
        found = _run(spec, candidate, reference.faces, case)
        for name, ref, out in zip(reference.names, expected, found, strict=True):
            value = psnr(ref, out, peak_to_peak(spec, ref))
            if not np.isfinite(out).all():
                finite = False
            if value < worst or not where:
                worst, where = value, f"{name}{case_label(case)}"
    passed = finite and worst >= MIN_PSNR_DB
    return GateResult(
        passed=passed,
        min_psnr_db=worst,
        worst=where,
        finite=finite,
        faces=len(reference.names),
        cases=len(reference.cases),
    )
