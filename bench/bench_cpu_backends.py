"""CPU engines side by side (issue 9): per model, ms per face for every (backend, precision) plan,
PyTorch eager FP32 of the official-layout module, ratios, and each plan's accuracy-gate PSNR.

Plans: ONNX Runtime FP32 (the reference and the floor), OpenVINO FP32, OpenVINO BF16 (both
lowerings: "whole", OpenVINO lowering everything it can with the pinned ops marked; "islands", only
the unpinned convolutions and matrix products), INT8 QDQ on ONNX Runtime and on OpenVINO. Each
reduced-precision plan is built and gated exactly as ``facert enhance`` does it
(:class:`facert.backends.choice.Chooser`, artifacts under ``<workdir>/cache``); its PSNR is the
gate's minimum over the check faces and option cases, against ORT FP32. Timed runs are interleaved
(one run of each plan per round, ``--rounds`` rounds after a warm-up), batch 1, ``--threads``
threads; medians. The CPU's model and the instructions the engines choose by are printed first.

    .venv/bin/python bench/bench_cpu_backends.py [--models gfpgan ispl wipa mtcnn ...]
        [--rounds 7] [--threads 2] [--workdir DIR] [--no-eager]

Learned models carry the deterministic fill in the official layout (bench/learned_models.py; the
first run exports each full-size model, minutes each on 2 cores). ISPL and WIPA are the embedded
exports; ``mtcnn`` times the detector's O-Net on 16 face candidates and P-Net on a 1080p frame's
first pyramid level.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facert.backends.base import Engine
from facert.backends.choice import Chooser, Plan
from facert.backends.device import SHOWN_FLAGS, cpu_description, split_flags
from facert.backends.openvino import OpenVinoEngine, openvino_version
from facert.backends.ort import OrtSession
from facert.config import load_settings
from facert.errors import FacertError, GateError
from facert.models.artifacts import Artifact
from facert.models.exporting import ensure_artifact
from facert.models.registry import get_spec

LEARNED = ("gfpgan", "gpen-bfr-512", "codeformer", "restoreformer-pp")
WEIGHT_FREE = ("ispl", "wipa")
EMBEDDED = ("mtcnn", *WEIGHT_FREE)  # exported from what facert carries, into the user's cache
PLANS = (
    ("ort fp32", "ort", "fp32", None),
    ("openvino fp32", "openvino", "fp32", None),
    ("openvino bf16 whole", "openvino", "bf16", "whole"),
    ("openvino bf16 islands", "openvino", "bf16", "islands"),
    ("ort int8", "ort", "int8", None),
    ("openvino int8", "openvino", "int8", None),
)
# Plans not measured on the weight-free restorers: OpenVINO's BF16 compilation of WIPA did not finish
# in 60 s (2026-12-05, AMD EPYC), and they have no learned weights for INT8 to quantize.
SKIPPED = {
    "ispl": ("openvino bf16 islands", "ort int8", "openvino int8"),
    "wipa": ("openvino bf16 whole", "openvino bf16 islands", "ort int8", "openvino int8"),
}


def say(line: str) -> None:
    print(line, flush=True)


def machine() -> None:
    has, lacks = split_flags(SHOWN_FLAGS)
    present, absent = " ".join(has) or "none", " ".join(lacks) or "none"
    import onnxruntime

    say(f"CPU: {cpu_description()}, {os.cpu_count()} logical cores")
    say(f"instructions present: {present}; absent: {absent}")
    say(f"onnxruntime {onnxruntime.__version__}, openvino {openvino_version()}")


def export_of(label: str, workdir: Path) -> Artifact:
    """The export a bench runs: an embedded model's from the cache, a learned one's from its fill
    checkpoint in ``workdir`` (exported once)."""
    if label in EMBEDDED:
        return ensure_artifact(get_spec(label), load_settings().cache_dir)
    from learned_models import BY_LABEL, ensure_export

    return ensure_export(BY_LABEL[label], workdir)


def engines(chooser: Chooser) -> tuple[dict[str, Engine], dict[str, str]]:
    """Every plan's engine (built and gated as the runtime does) and each plan's gate line."""
    built: dict[str, Engine] = {}
    notes: dict[str, str] = {}
    for label, backend, precision, lowering in PLANS:
        if label in SKIPPED.get(chooser.spec.name, ()):
            notes[label] = "not measured (see SKIPPED)"
            continue
        plan = Plan(backend, precision)
        try:
            if backend == "openvino":
                artifact, source = chooser.openvino_artifact(precision)
                gate = artifact.manifest["gate"]
                if lowering is not None and gate.get("lowering") != lowering:
                    # the other lowering: gate it here for the table (the runtime keeps the first
                    # that passes)
                    engine = chooser.openvino_engine(
                        source, precision, artifact.path, artifact.folder, lowering
                    )
                    gate = chooser.gate(engine)
                    engine = chooser.openvino_engine(
                        source, precision, artifact.path, artifact.folder, lowering
                    )
                else:
                    engine = chooser.openvino_engine(
                        source, precision, artifact.path, artifact.folder
                    )
            elif plan == Plan("ort", "int8"):
                artifact = chooser.int8_artifact()
                gate = artifact.manifest["gate"]
                engine = OrtSession(artifact.path, threads=chooser.threads)
            else:
                gate = {"min_psnr_db": "reference", "passed": True}
                engine = chooser.engine(plan)
        except GateError as exc:
            if plan != Plan("openvino", "int8"):
                notes[label] = f"failed: {exc}"
                continue
            # The INT8 graph itself was refused: time OpenVINO on it anyway, for the table.
            int8 = chooser.int8_artifact()
            engine = OpenVinoEngine(int8.path, precision="int8", threads=chooser.threads)
            gate = {**int8.manifest["gate"], "passed": False}
        except FacertError as exc:
            notes[label] = f"failed: {exc}"
            continue
        psnr = gate["min_psnr_db"]
        verdict = "" if gate.get("passed") else " REFUSED by the gate"
        notes[label] = f"{psnr} dB{verdict}" if psnr != "reference" else "reference"
        built[label] = engine
    return built, notes


def feed_for(engine: Engine, spec_name: str, size: int) -> dict[str, np.ndarray]:
    """One check face at the default options, as the gate feeds ``engine``."""
    import dataclasses

    from facert.models.check_faces import default_faces, load_faces, option_cases
    from facert.models.gate import gate_feed

    spec = dataclasses.replace(get_spec(spec_name), input_size=size)
    faces, _ = load_faces(spec, default_faces()[:1], count=1)
    return gate_feed(spec, engine, faces, option_cases(spec)[0])


def interleaved(calls: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds of each call, one run of each per round after one warm-up each."""
    for call in calls.values():
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def eager_call(label: str) -> Callable[[], object] | None:
    import torch
    from learned_models import BY_LABEL, face_input, faithful_module

    model = BY_LABEL[label]
    module = faithful_module(model)
    tensor = torch.from_numpy(face_input(model.spec.input_size))

    def call() -> object:
        with torch.no_grad():
            return model.call(module, tensor)

    return call


def bench_restorer(label: str, workdir: Path, rounds: int, threads: int, eager: bool) -> None:
    export = export_of(label, workdir)
    chooser = Chooser(workdir / "cache", export, threads=threads, report=lambda s: say(f"  {s}"))
    built, notes = engines(chooser)
    calls: dict[str, Callable[[], object]] = {}
    for name, engine in built.items():
        engine.open()
        feed = feed_for(engine, export.spec.name, export.spec.input_size)
        calls[name] = lambda engine=engine, feed=feed: engine.run(feed)
    if eager and label in LEARNED:
        import torch

        torch.set_num_threads(threads)
        call = eager_call(label)
        if call is not None:
            calls["pytorch eager fp32"] = call
    seconds = interleaved(calls, rounds)
    for engine in built.values():
        engine.close()
    table(label, seconds, notes)


def table(label: str, seconds: dict[str, float], notes: dict[str, str]) -> None:
    base = seconds.get("ort fp32")
    eager = seconds.get("pytorch eager fp32")
    say(f"\n{label}: ms per face (batch 1), ratios, gate PSNR vs ORT FP32 (min over faces x cases)")
    say("| plan | ms per face | vs ORT FP32 | vs eager | PSNR vs FP32 |")
    say("| --- | --- | --- | --- | --- |")
    for name, value in sorted(seconds.items(), key=lambda item: item[1]):
        ratio = f"{base / value:.2f}x" if base else "-"
        versus = f"{eager / value:.2f}x" if eager else "-"
        say(f"| {name} | {1000 * value:.0f} | {ratio} | {versus} | {notes.get(name, '-')} |")
    for name, note in notes.items():
        if name not in seconds:
            say(f"| {name} | - | - | - | {note} |")


def bench_mtcnn(rounds: int, threads: int) -> None:
    artifact = ensure_artifact(get_spec("mtcnn"), load_settings().cache_dir)
    rng = np.random.default_rng(0)
    cases = {"onet.onnx": (16, 48, 48), "pnet.onnx": (1, 756, 1344)}
    for graph, (count, height, width) in cases.items():
        feed_array = rng.uniform(-1, 1, (count, 3, height, width)).astype(np.float32)
        plans = {
            "ort fp32": OrtSession(artifact.path(graph), threads=threads),
            "openvino fp32": OpenVinoEngine(artifact.path(graph), threads=threads),
            "openvino bf16": OpenVinoEngine(
                artifact.path(graph), threads=threads, precision="bf16"
            ),
        }
        calls, notes = {}, {}
        for name, engine in plans.items():
            engine.open()
            feed = {next(iter(engine.inputs)): feed_array}
            calls[name] = lambda engine=engine, feed=feed: engine.run(feed)
        reference = plans["ort fp32"].run({next(iter(plans["ort fp32"].inputs)): feed_array})
        for name, engine in plans.items():
            out = engine.run({next(iter(engine.inputs)): feed_array})
            worst = max(float(np.abs(out[k] - v).max()) for k, v in reference.items())
            notes[name] = f"max abs diff {worst:.2g}"
        seconds = interleaved(calls, rounds)
        for engine in plans.values():
            engine.close()
        table(f"mtcnn {graph} ({count} x {height}x{width})", seconds, notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    choices = [*LEARNED, *WEIGHT_FREE, "mtcnn"]
    parser.add_argument("--models", nargs="+", choices=choices, default=choices)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-eager", action="store_true", help="skip PyTorch eager")
    parser.add_argument(
        "--e2e", action="store_true", help="end to end on a 1080p photo: ort vs auto (GFPGAN)"
    )
    parser.add_argument(
        "--reference-python",
        default=os.environ.get("FACERT_BENCH_REFERENCE_PYTHON"),
        help="interpreter of the GFPGANer environment, for --e2e",
    )
    parser.add_argument(
        "--workdir", type=Path, default=load_settings().cache_dir.parent / "facert-bench"
    )
    args = parser.parse_args()
    machine()
    say(
        f"{args.threads} threads, batch 1, {args.rounds} interleaved rounds, medians; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    for label in args.models:
        if label == "mtcnn":
            bench_mtcnn(args.rounds, args.threads)
        else:
            bench_restorer(label, args.workdir, args.rounds, args.threads, not args.no_eager)
    if args.e2e:
        from learned_e2e import end_to_end

        end_to_end(args.workdir, args.reference_python, 3, args.threads, ("ort", "auto"))
    say(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
