"""Learned restorers on ONNX Runtime's CPU backend: the FP16 graph against the FP32 graph, per face.

Why ``facert enhance --precision auto`` runs FP32 on this backend: for each model, the export's
``model.onnx`` and ``model.fp16.onnx`` in facert's ``OrtSession`` (``--threads`` intra-op threads),
on one 512 face (grace_hopper, fidelity 0.5 where the model has it), one warm-up run each, then
``--runs`` runs taken in turn (FP32, FP16, FP32, ...); medians, FP16 / FP32 and the load average.

    .venv/bin/python bench/bench_precision.py [--models gfpgan codeformer] [--runs 1]
        [--workdir DIR] [--folder LABEL=EXPORT_DIR ...]

The exports come from bench_learned.py's work folder (built there once, with the harness's checks,
from the deterministic fill: minutes per model on 2 cores), or from ``--folder`` (any folder holding
both graphs). Timings on a shared machine are indicative.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from bench_learned import load, model_feed
from learned_models import BY_LABEL, ensure_export

from facert.backends.ort import OrtSession
from facert.config import load_settings
from facert.models.artifacts import FP16_GRAPH, FP32_GRAPH


def time_graphs(folder: Path, feed: dict, runs: int, threads: int) -> dict[str, float]:
    """Median seconds per face of each graph in ``folder``, runs interleaved after a warm-up."""
    times: dict[str, list[float]] = {FP32_GRAPH: [], FP16_GRAPH: []}
    sessions = {name: OrtSession(folder / name, threads=threads).open() for name in times}
    try:
        for session in sessions.values():
            session.run(feed)  # warm-up
        for _ in range(runs):
            for name, session in sessions.items():
                start = time.perf_counter()
                session.run(feed)
                times[name].append(time.perf_counter() - start)
    finally:
        for session in sessions.values():
            session.close()
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=["gfpgan", "codeformer"])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--workdir", type=Path, default=load_settings().cache_dir.parent / "facert-bench"
    )
    parser.add_argument(
        "--folder",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="time the graphs in DIR instead (LABEL: gfpgan or codeformer, optionally :TAG)",
    )
    args = parser.parse_args()
    folders = dict(item.split("=", 1) for item in args.folder)  # "codeformer:v2=DIR" allowed
    labels = args.models or list(folders) or ["gfpgan", "codeformer"]
    print(
        f"ONNX Runtime CPU, {args.threads} threads, batch 1, median of {args.runs} after 1 "
        "warm-up; seconds per face"
    )
    for label in labels:
        model = BY_LABEL[label.split(":")[0]]
        folder = (
            Path(folders[label]) if label in folders else ensure_export(model, args.workdir).folder
        )
        before = load()
        result = time_graphs(folder, model_feed(model), args.runs, args.threads)
        fp32, fp16 = result[FP32_GRAPH], result[FP16_GRAPH]
        print(
            f"{label:17s} FP32 {fp32:6.2f}  FP16 {fp16:6.2f}  FP16 / FP32 {fp16 / fp32:5.2f}x  "
            f"load {before} / {load()}",
            flush=True,
        )


if __name__ == "__main__":
    main()
