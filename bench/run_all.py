"""Every CPU benchmark of facert, one after the other (`make bench`).

Each script runs in its own process and prints its own table; this prints the machine's load
average before each, since timings on a shared machine are only indicative.

    .venv/bin/python bench/run_all.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

BENCHES = [
    ("detection, 1080p frame", ["bench_detect.py"], ["--runs", "3"]),
    ("paste-back, 1080p, one face", ["bench_blend.py"], ["--runs", "5"]),
    (
        "paste-back, 1080p, face at crop scale 2",
        ["bench_blend.py", "--scale", "2"],
        ["--runs", "5"],
    ),
    # The CUDA kernels' per-pixel code compiled for the host (needs g++), for information.
    (
        "CUDA kernels' arithmetic on the CPU vs the CPU path",
        ["bench_kernels_cpu.py"],
        ["--runs", "3"],
    ),
    (
        "weight-free restorers, per face and WIPA's whole-photo stage",
        ["bench_restorers.py", "--frame", "1920x1080"],
        ["--runs", "3"],
    ),
    ("weight-free restorers, quality", ["quality_restorers.py"], []),
    (
        "ISPL: no harm on small JPEG faces, gains on blurred ones",
        ["ispl_jpeg_family.py"],
        ["--quick"],
    ),
    # --quick: GFPGAN only. The end-to-end comparison with the official GFPGANer runs when
    # FACERT_BENCH_REFERENCE_PYTHON names the reference environment's interpreter.
    (
        "learned restorers: ONNX Runtime vs eager, memory, end to end",
        ["bench_learned.py"],
        ["--quick"],
    ),
    # Every CPU engine (ORT, OpenVINO FP32/BF16, INT8) side by side, gated; --quick: GFPGAN and
    # the detector.
    (
        "CPU engines and precisions, gated, with --backend auto end to end",
        ["bench_cpu_backends.py", "--e2e"],
        ["--models", "gfpgan", "mtcnn", "--rounds", "3"],
    ),
    # facert video (stream pipeline, threads) against decode / enhance per frame / encode, on a
    # generated 640x360 clip; --quick: ISPL only, 8 frames, one round.
    (
        "video: frames/s per model, facert video vs the naive loop",
        ["bench_video.py"],
        ["--models", "ispl", "--frames", "8", "--rounds", "1"],
    ),
    # facert bench's latency part against bench/baselines/<this machine>.json (exit 1 on a
    # regression); --quick: ISPL only, one batch, 3 runs.
    (
        "facert bench: latency against this machine's committed baseline",
        ["bench_regression.py"],
        ["--matrix", str(HERE / "quick_matrix.json")],
    ),
    # TensorRT-RTX plans built ahead of time on this CPU-only machine: build time, size, pins.
    ("TensorRT plans: build time and size", ["bench_trt_build.py"], ["--quick"]),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke test)")
    args = parser.parse_args()
    failed = 0
    for title, command, quick in BENCHES:
        load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
        print(f"\n=== {title} (load average {load})", flush=True)
        extra = quick if args.quick else []
        result = subprocess.run([sys.executable, str(HERE / command[0]), *command[1:], *extra])
        failed += result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
