"""Learned restorers on CPU: size, compute, ONNX Runtime against PyTorch eager, memory, end to end.

For each model (bench/learned_models.py: GFPGAN, CodeFormer at w = 0.5, GPEN-BFR 256/512/1024,
RestoreFormer, RestoreFormer++, PSFR-GAN's restorer graph and its ParseNet alone), with the deterministic fill standing in for the official weights
(cost does not depend on the values), per face at the model's input size:

- parameters of the faithful module, and GFLOPs counted by ``torch.utils.flop_counter.
  FlopCounterMode`` on it at batch 1 (convolutions, matrix products, attention: GFLOPs = 2 x MACs;
  elementwise ops and normalisations are not counted);
- latency: ONNX Runtime FP32 (the harness's ``model.onnx`` in facert's ``OrtSession``, ``--threads``
  intra-op threads) against PyTorch eager FP32 (the faithful module as the official inference
  calls it, ``torch.set_num_threads``, ``no_grad``), one warm-up run each, then ``--runs`` runs
  taken in turn (ORT, eager, ORT, ...); medians, fastest runs and eager / ORT, with the load average;
- GFPGAN only: the peak resident set size of a fresh process that loads the model and runs one face
  (ORT and eager; ``ru_maxrss``, absolute and above the process's baseline after its imports);
- GFPGAN only: end to end on a 1080p photo, ``facert enhance`` against the official GFPGANer
  (bench/learned_e2e.py; ``--reference-python`` names the reference environment's interpreter);
- PSFR-GAN: the official code's own ParseNet, generator and whole path, timed in its environment
  (bench/reference_psfrgan.py: ``--psfrgan-python`` with torch, ``--psfrgan-official`` a copy of
  chaofengc/PSFRGAN) right after facert's rows, as official eager / facert ORT.

    .venv/bin/python bench/bench_learned.py [--models gfpgan ...] [--runs 5] [--quick]
        [--reference-python /path/to/refvenv/bin/python] [--workdir DIR]
        [--psfrgan-python /path/to/scratch/bin/python --psfrgan-official /path/to/PSFRGAN]

The fill checkpoints and their exports are built once into ``--workdir`` (default:
``$XDG_CACHE_HOME/facert-bench``, i.e. ``~/.cache/facert-bench``): the first run exports each model
through the harness (minutes per model on 2 cores). Timings on a shared machine are indicative.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from learned_e2e import end_to_end
from learned_memory import measure
from learned_models import (
    BY_LABEL,
    MODELS,
    LearnedModel,
    ensure_export,
    face_input,
    faithful_module,
)
from learned_profile import matmul_gflops, ort_profile
from torch.utils.flop_counter import FlopCounterMode

from facert.backends.ort import OrtSession
from facert.config import load_settings
from facert.models.check_faces import option_arrays, option_cases, option_names

ISSUE_SPEEDUP = 4.0  # issue 3: ONNX Runtime at least 4x faster than eager for GFPGAN
ISSUE_MEMORY_MIB = 2048.0  # issue 3: one GFPGAN face under 2 GB


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def bench_model(model: LearnedModel, workdir: Path, runs: int, threads: int) -> dict[str, float]:
    """Parameters, GFLOPs and interleaved ORT / eager latencies (seconds) of one model."""
    artifact = ensure_export(model, workdir)
    module = faithful_module(model)
    tensor = torch.from_numpy(face_input(model.spec.input_size))
    feed = model_feed(model)
    with torch.no_grad(), OrtSession(artifact.path(model.graph), threads=threads) as session:
        with FlopCounterMode(display=False) as counter:  # the eager warm-up run, counted
            model.call(module, tensor)
        session.run(feed)  # warm-up
        ort_times, eager_times = [], []
        for _ in range(runs):
            ort_times.append(timed(lambda: session.run(feed)))
            eager_times.append(timed(lambda: model.call(module, tensor)))
    return {
        "params": float(sum(p.numel() for p in module.parameters())),
        "gflops": counter.get_total_flops() / 1e9,
        "ort": statistics.median(ort_times),
        "ort_min": min(ort_times),
        "eager": statistics.median(eager_times),
        "eager_min": min(eager_times),
    }


def model_feed(model: LearnedModel) -> dict[str, np.ndarray]:
    """The graph's inputs for one face: the image and each option at its default (w = 0.5)."""
    defaults = option_cases(model.spec)[0]
    feed = dict(zip(option_names(model.spec), option_arrays(model.spec, defaults, 1), strict=True))
    feed["image"] = face_input(model.spec.input_size)
    return feed


HEADER = (
    f"{'model':17s} {'size':>5s} {'Mparams':>8s} {'GFLOPs':>7s} {'ORT s':>14s} {'eager s':>14s} "
    f"{'eager/ORT':>15s} {'ORT GFLOP/s':>11s}  load before / after"
)


def print_row(model: LearnedModel, r: dict[str, float], load_before: str) -> None:
    print(
        f"{model.label:17s} {model.spec.input_size:5d} {r['params'] / 1e6:8.1f} {r['gflops']:7.1f} "
        f"{r['ort']:6.2f} ({r['ort_min']:5.2f}) {r['eager']:6.2f} ({r['eager_min']:5.2f}) "
        f"{r['eager'] / r['ort']:6.2f}x ({r['eager_min'] / r['ort_min']:4.2f}x) "
        f"{r['gflops'] / r['ort_min']:11.0f}  {load_before} / {load()}  {model.note}",
        flush=True,
    )
    if model.label == "gfpgan":
        ratio = r["eager"] / r["ort"]
        verdict = "meets" if ratio >= ISSUE_SPEEDUP else "MISSES"
        print(f"{'':17s} GFPGAN: {ratio:.2f}x {verdict} the issue's {ISSUE_SPEEDUP:g}x target")


def profile_report(workdir: Path, threads: int) -> None:
    """Where ORT spends GFPGAN's time, against this machine's matrix-product ceiling."""
    model = BY_LABEL["gfpgan"]
    artifact = ensure_export(model, workdir)
    times = ort_profile(artifact.path("model.onnx"), model_feed(model), threads)
    total = sum(times.values())
    print(f"\nONNX Runtime profile of one GFPGAN face ({total / 1e3:.2f} s, load {load()}):")
    for name, milliseconds in list(times.items())[:6]:
        print(f"  {name:14s} {milliseconds:8.1f} ms  {100 * milliseconds / total:5.1f}%")
    ceiling = matmul_gflops(threads)
    print(
        f"  torch.mm 4096^3 float32, {threads} threads: {ceiling:.0f} GFLOP/s (this machine's "
        f"practical ceiling; load {load()})"
    )


def memory_report(workdir: Path, threads: int) -> None:
    """Peak RSS of one GFPGAN face, ORT and eager, each in a fresh process."""
    model = BY_LABEL["gfpgan"]
    artifact = ensure_export(model, workdir)
    size = str(model.spec.input_size)
    print(f"\npeak memory of one GFPGAN face, fresh process (load average {load()}):")
    onnx = measure("ort", str(artifact.path("model.onnx")), size, "--threads", str(threads))
    checkpoint = workdir / "weights" / "gfpgan-1.4-fill.pth"
    eager = measure("torch", str(checkpoint), "gfpgan")
    for name, values in (("ONNX Runtime FP32", onnx), ("PyTorch eager FP32", eager)):
        above = values["peak"] - values["baseline"]
        verdict = (
            f" ({'within' if above < ISSUE_MEMORY_MIB else 'OVER'} the 2 GB target)"
            if name.startswith("ONNX")
            else ""
        )
        print(
            f"  {name:19s} peak {values['peak']:7.0f} MiB, baseline {values['baseline']:5.0f} "
            f"MiB, above baseline {above:7.0f} MiB (after load {values['loaded'] - values['baseline']:6.0f})"
            f"{verdict}"
        )


def official_psfrgan(
    python: str, repo: Path, threads: int, runs: int, ours: dict[str, dict[str, float]]
) -> None:
    """The official PSFR-GAN code timed in its own environment (bench/reference_psfrgan.py), beside
    facert's ONNX Runtime rows of this run: official eager / facert ORT."""
    script = Path(__file__).resolve().parent / "reference_psfrgan.py"
    command = [python, str(script), "--psfrgan", str(repo), "--threads", str(threads)]
    result = subprocess.run(
        [*command, "--runs", str(runs)], capture_output=True, text=True, timeout=1800
    )
    if result.returncode != 0:
        print(f"official PSFR-GAN: failed ({(result.stderr.strip().splitlines() or ['?'])[-1]})")
        return
    official = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"\nofficial PSFR-GAN code (PyTorch eager, {threads} threads, load {load()}):")
    pairs = (("path", "psfrgan"), ("parsenet", "psfrgan-parsenet"), ("generator", None))
    for step, label in pairs:
        row = ours.get(label or "")
        side = f", facert ORT {row['ort']:.2f} s: {official[step] / row['ort']:.2f}x" if row else ""
        print(f"  {step:10s} {official[step]:6.2f} s{side}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=list(BY_LABEL), default=list(BY_LABEL))
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each (at least 5)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="GFPGAN only")
    parser.add_argument("--rounds", type=int, default=3, help="end-to-end rounds")
    parser.add_argument(
        "--reference-python",
        default=os.environ.get("FACERT_BENCH_REFERENCE_PYTHON"),
        help="interpreter of the GFPGANer environment (default: $FACERT_BENCH_REFERENCE_PYTHON)",
    )
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument(
        "--psfrgan-python",
        default=os.environ.get("FACERT_BENCH_PSFRGAN_PYTHON"),
        help="interpreter with torch for the official PSFR-GAN code (bench/reference_psfrgan.py)",
    )
    parser.add_argument(
        "--psfrgan-official",
        type=Path,
        default=os.environ.get("FACERT_BENCH_PSFRGAN_REPO"),
        help="a copy of chaofengc/PSFRGAN (its models/ package)",
    )
    parser.add_argument(
        "--workdir", type=Path, default=load_settings().cache_dir.parent / "facert-bench"
    )
    args = parser.parse_args()
    runs = max(5, args.runs)
    labels = ["gfpgan"] if args.quick else args.models
    torch.set_num_threads(args.threads)
    for label in labels:  # exports first, so the timed part runs in one stretch
        ensure_export(BY_LABEL[label], args.workdir)
    print(
        f"ONNX Runtime FP32 vs PyTorch eager FP32 ({torch.__version__}), {args.threads} threads, "
        f"batch 1, {runs} runs after 1 warm-up; seconds per face: median (fastest); "
        f"GFLOPs = 2 x MACs; deterministic fill weights"
    )
    print(HEADER)
    results = {}
    for model in [m for m in MODELS if m.label in labels]:
        before = load()
        results[model.label] = bench_model(model, args.workdir, runs, args.threads)
        print_row(model, results[model.label], before)
    if "psfrgan" in labels and args.psfrgan_python and args.psfrgan_official:
        official_psfrgan(args.psfrgan_python, args.psfrgan_official, args.threads, 3, results)
    if "gfpgan" in labels:
        profile_report(args.workdir, args.threads)
        memory_report(args.workdir, args.threads)
        if not args.skip_e2e:
            end_to_end(args.workdir, args.reference_python, args.rounds, args.threads)


if __name__ == "__main__":
    main()
