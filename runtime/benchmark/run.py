"""One benchmark run: the matrix's accuracy rows and latency cases into one JSON document.

Document (schema :data:`SCHEMA`)::

    {"schema": "facert-bench/1", "created": ISO time, "parts": ["accuracy", "latency"],
     "matrix": {...the Matrix...}, "models": [...], "machine": {...machine_facts...},
     "accuracy": [{"model", "plan", "ran", "isa_path", "psnr_db", "psnr_db_min", "ssim_min",
                   "ssim_mean", "nan", "inf", "quality_psnr_db", "quality_ssim", ...}],
     "latency": [{"model", "plan", "ran", "batch", "frame", "faces_found", "frames_per_s",
                  "faces_per_s", "peak_memory_mib", "stages_ms": {stage: {p10, p50, p90, p99,
                  min, max, noise_low, noise_high}}}],
     "skipped": [{"model", "plan", "why"}]}

A plan this machine cannot run (no package, no instructions) is listed under ``skipped``; a case
that fails is a row with ``error`` (one line) and the run goes on.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Any

from facert.backends.choice import Plan, unavailable
from facert.benchmark.accuracy import measure_model
from facert.benchmark.compare import SCHEMA
from facert.benchmark.latency import time_case
from facert.benchmark.machine import machine_facts
from facert.benchmark.matrix import Matrix
from facert.config import Settings
from facert.errors import FacertError, UsageError, first_line
from facert.models.artifacts import find_artifact
from facert.models.registry import get_spec

PARTS = ("accuracy", "latency")


def _why_not(settings: Settings, model: str, plan: Plan) -> str | None:
    """Why ``plan`` cannot run ``model`` here (the machine, or the export: an FP32-only model)."""
    why = unavailable(plan)
    if why is None and plan.backend == "ort" and plan.precision == "fp16":
        from facert.stages.restore.restorer import graph_file

        try:
            graph_file(find_artifact(settings.cache_dir, get_spec(model)), "fp16")
        except UsageError as exc:
            why = Exception.__str__(exc).split(";")[0]
    return why


def runnable(
    settings: Settings, matrix: Matrix, model: str
) -> tuple[list[Plan], list[dict[str, str]]]:
    """The plans of ``model`` this machine runs, and the others with why not."""
    plans, skipped = [], []
    for plan in matrix.plans_for(model):
        why = _why_not(settings, model, plan)
        if why is None:
            plans.append(plan)
        else:
            skipped.append({"model": model, "plan": str(plan), "why": why})
    return plans, skipped


def latency_rows(
    settings: Settings,
    matrix: Matrix,
    plans: dict[str, list[Plan]],
    report: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Every latency case of ``matrix`` whose plan runs here (``plans``, per model); a case that
    fails is a row with its one-line ``error``."""
    rows = []
    cases = [c for c in matrix.latency_cases(list(plans)) if c[1] in plans[c[0]]]
    for index, (model, plan, batch, frame) in enumerate(cases, 1):
        size = f"{frame[0]}x{frame[1]}"
        report(f"latency {index}/{len(cases)}: {model} {plan} batch {batch} {size}")
        try:
            rows.append(time_case(settings, matrix, model, plan, batch, frame, report))
        except FacertError as exc:
            error = first_line(exc)
            rows.append(
                {"model": model, "plan": str(plan), "batch": batch, "frame": size, "error": error}
            )
            report(f"  failed: {error}")
    return rows


def run_benchmark(
    settings: Settings,
    matrix: Matrix,
    parts: tuple[str, ...] = PARTS,
    report: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Run ``parts`` of ``matrix`` here; ``report`` gets one progress line per step."""
    models = matrix.model_names(settings.cache_dir)
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "parts": list(parts),
        "matrix": matrix.to_json(),
        "models": models,
        "machine": machine_facts(settings.threads),
        "accuracy": [],
        "latency": [],
        "skipped": [],
    }
    plans = {}
    for model in models:
        plans[model], skipped = runnable(settings, matrix, model)
        document["skipped"] += skipped
        for item in skipped:
            report(f"skip {item['model']} {item['plan']}: {item['why']}")
    if "accuracy" in parts:
        for model in models:
            report(f"accuracy {model}: {', '.join(map(str, plans[model]))} on the check faces")
            document["accuracy"] += measure_model(settings, model, plans[model], report)
    if "latency" in parts:
        document["latency"] = latency_rows(settings, matrix, plans, report)
    return document
