"""Latency of the whole photo pipeline per stage: detect, align, restore, blend and end to end.

Each case (model, plan, batch, frame) opens a :class:`facert.pipeline.frame.Pipeline` on that plan,
builds a frame of that size holding ``batch`` faces (the bundled sample photos tiled on a grey
canvas, so the restorer sees ``batch`` faces at once), runs ``warmup`` untimed passes, then
``repeats`` timed ones. Per stage: p50/p90/p99 (linear interpolation between order statistics)
and the median of each of ``rounds`` equal rounds, whose min..max is the run-to-run noise of this
run (what :mod:`facert.benchmark.compare` asks a slower median to leave). Peak memory is the
process's resident high-water mark during the timed runs (Linux: reset through
``/proc/self/clear_refs``; elsewhere the process's lifetime peak, marked so).
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from facert.backends.choice import Plan
from facert.benchmark.matrix import Frame, Matrix
from facert.config import Settings

if TYPE_CHECKING:
    from facert.pipeline.frame import Pipeline

STAGES = ("detect", "align", "restore", "blend", "total")
# Stages of Pipeline.enhance folded into the four named ones: WIPA's whole-frame stage is restore
# work, JPEG deblocking prepares the restorer's input.
FOLDED = {"frame": "restore", "deblock": "restore"}
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``, linear between order statistics (NumPy's
    default)."""
    return float(np.percentile(np.asarray(values, np.float64), q))


def summarise(seconds: list[float], rounds: int) -> dict[str, float]:
    """Milliseconds: p10, p50, p90, p99, min, max of ``seconds`` and the min..max of the medians of
    ``rounds`` equal consecutive rounds (``noise_low``, ``noise_high``)."""
    ms = [1000.0 * s for s in seconds]
    size = max(1, len(ms) // rounds)
    medians = [statistics.median(ms[i : i + size]) for i in range(0, size * rounds, size)]
    facts = {f"p{q}": percentile(ms, q) for q in (10, 50, 90, 99)}
    facts.update(min=min(ms), max=max(ms), noise_low=min(medians), noise_high=max(medians))
    return {key: round(value, 3) for key, value in facts.items()}


def bench_frame(frame: Frame, faces: int) -> np.ndarray:
    """A (height, width, 3) uint8 BGR frame with ``faces`` sample photos (alternately grace_hopper
    and astronaut) each scaled into its cell of a near-square grid on mid grey."""
    from facert.demo.samples import SAMPLES, photo_path
    from facert.io.images import read_image

    width, height = frame
    canvas = np.full((height, width, 3), 128, np.uint8)
    columns = int(np.ceil(np.sqrt(faces)))
    rows = int(np.ceil(faces / columns))
    cell_w, cell_h = width // columns, height // rows
    names = sorted(SAMPLES)
    for index in range(faces):
        photo = read_image(photo_path(names[index % len(names)]), 10**8).bgr
        scale = min(cell_w / photo.shape[1], cell_h / photo.shape[0])
        size = (max(1, int(photo.shape[1] * scale)), max(1, int(photo.shape[0] * scale)))
        small = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
        top = (index // columns) * cell_h + (cell_h - size[1]) // 2
        left = (index % columns) * cell_w + (cell_w - size[0]) // 2
        canvas[top : top + size[1], left : left + size[0]] = small
    return canvas


def _reset_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def _peak_mib() -> float:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def timed_runs(
    pipeline: Pipeline, image: np.ndarray, repeats: int
) -> tuple[dict[str, list[float]], int]:
    """Seconds per stage (:data:`STAGES`, the pipeline's own stages folded in) of ``repeats``
    runs of ``pipeline`` on ``image``, and the faces it found."""
    times: dict[str, list[float]] = {stage: [] for stage in STAGES}
    faces = 0
    for _ in range(repeats):
        start = time.perf_counter()
        result = pipeline.enhance(image)
        times["total"].append(time.perf_counter() - start)
        faces = len(result.faces)
        folded = dict.fromkeys(STAGES[:-1], 0.0)
        for stage, seconds in result.timings.items():
            folded[FOLDED.get(stage, stage)] += seconds
        for stage, seconds in folded.items():
            times[stage].append(seconds)
    return times, faces


def time_case(
    settings: Settings,
    matrix: Matrix,
    model: str,
    plan: Plan,
    batch: int,
    frame: Frame,
    report: Callable[[str], None],
) -> dict[str, Any]:
    """One latency case: its row of the benchmark document."""
    from facert.pipeline.frame import Pipeline

    image = bench_frame(frame, batch)
    row: dict[str, Any] = {
        "model": model,
        "plan": str(plan),
        "batch": batch,
        "frame": f"{frame[0]}x{frame[1]}",
    }
    with Pipeline.open(
        settings, model, backend=plan.backend, precision=plan.precision, report=report
    ) as pipeline:
        row["ran"] = str(pipeline.restorer.plan)
        for _ in range(matrix.warmup):
            pipeline.enhance(image)
        reset = _reset_peak()
        times, faces = timed_runs(pipeline, image, matrix.repeats)
        row["peak_memory_mib"] = round(_peak_mib(), 1)
        row["peak_memory_scope"] = "timed runs" if reset else "process lifetime"
    row["faces_found"] = faces
    row["stages_ms"] = {stage: summarise(values, matrix.rounds) for stage, values in times.items()}
    median_s = statistics.median(times["total"])
    row["frames_per_s"] = round(1.0 / median_s, 3)
    row["faces_per_s"] = round(faces / median_s, 3)
    return row
