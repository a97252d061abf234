"""`make gpu-check`: one command for a lent NVIDIA machine, under 8 minutes, one JSON report.

    python3 bench/gpu_check.py [--out gpu-check.json] [--budget 420] [--rounds 10]

1. Makes ``facert`` importable from this tree when it is not installed (a package of links under a
   temporary folder, ``facert.export`` and ``facert.kernels`` included: no build, no network) and installs the wheels carried in ``.whl-gpu/``
   (`make gpu-wheels`) there.
2. Records the device (driver check, nvidia-smi), the versions, and per flavour (tensorrt-rtx,
   tensorrt, ort-gpu, torch-cuda) whether it runs here or why not.
3. Runs every ``gpu``/``trt`` marked test of tests/ (pytest, JUnit XML parsed): each is "passed",
   "failed" (with its message) or "not run" (with the skip reason).
4. Checks facert's CUDA kernels (bench/gpu_kernels.py): results vs the CPU reference, time per face.
5. Benches GFPGAN (bench/gpu_bench.py): PyTorch eager FP32/FP16, the torch backend's FP16 CUDA
   graphs against eager FP32 of the official-layout module (bench/gpu_torch.py), TrtEngine where a
   flavour runs; and the whole GPU frame pipeline at 1080p with 1, 4 and 8 faces
   (bench/gpu_pipeline.py; needs MTCNN's weights in ``FACERT_CACHE``).

On a machine without a GPU everything is "not run" and the script exits 0; it exits 1 when a test
failed or a bench raised. Each step gets what is left of ``--budget`` seconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
WHEELS = ROOT / ".whl-gpu"
# One link package per tree (links of another checkout are never reused).
SITE = (
    Path(tempfile.gettempdir())
    / f"facert-gpu-site-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]}"
)


def bootstrap() -> None:
    """Make ``facert`` importable (links to runtime/ and export/) and install carried wheels, then
    re-run this script with them on PYTHONPATH. Does nothing when facert is importable."""
    try:
        import facert  # noqa: F401
    except ImportError:
        pass
    else:
        return
    package = SITE / "facert"
    package.mkdir(parents=True, exist_ok=True)
    links = {entry.name: entry for entry in (ROOT / "runtime").iterdir()}
    links["export"] = ROOT / "export"
    links["kernels"] = ROOT / "kernels"  # facert.kernels (with a fatbin when one was built)
    for name, target in links.items():
        if not (package / name).exists():
            (package / name).symlink_to(target)
    wheels = sorted(str(w) for w in WHEELS.glob("*.whl"))
    if wheels:
        pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps"]
        subprocess.run([*pip, "--upgrade", "--target", str(SITE), *wheels], check=True)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(SITE), os.environ.get("PYTHONPATH")])
    )
    os.execv(sys.executable, sys.orig_argv)  # the same interpreter flags and arguments


def versions() -> dict[str, str | None]:
    from importlib import metadata

    found: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in (
        "numpy",
        "torch",
        "onnx",
        "onnxruntime",
        "onnxruntime-gpu",
        "tensorrt-rtx",
        "tensorrt",
        "cuda-bindings",
        "cupy-cuda13x",
    ):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    found["facert commit"] = commit.stdout.strip() or None
    return found


def device() -> dict[str, Any]:
    from dataclasses import asdict

    from facert.backends.cuda import driver_status, gpu_fingerprint

    status = driver_status()
    facts: dict[str, Any] = {"summary": status.summary(), **asdict(status)}
    if status.present:
        facts["fingerprint"] = gpu_fingerprint(status)
        query = "name,driver_version,memory.total,compute_cap"
        smi = subprocess.run(
            ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
        )
        facts["nvidia-smi"] = smi.stdout.strip() or smi.stderr.strip()
    return facts


def availability() -> dict[str, str]:
    """Per flavour: "runs here" or "not run: <why>"."""
    import onnxruntime
    from gpu_support import flavour_missing, gpu_missing

    from facert.backends.trt_plan import FLAVOURS

    found = {name: flavour_missing(flavour) for name, flavour in FLAVOURS.items()}
    providers = onnxruntime.get_available_providers()
    found["ort-gpu"] = gpu_missing() or (
        None
        if "CUDAExecutionProvider" in providers
        else f"onnxruntime {onnxruntime.__version__} has no CUDAExecutionProvider (onnxruntime-gpu, 255 MB, cannot travel)"
    )
    try:
        import torch

        found["torch-cuda"] = (
            None if torch.cuda.is_available() else gpu_missing() or "torch sees no CUDA device"
        )
    except ImportError:
        found["torch-cuda"] = "torch is not installed"
    return {name: "runs here" if why is None else f"not run: {why}" for name, why in found.items()}


def marked_test_files() -> list[str]:
    marks = ("mark.gpu", "mark.trt")
    return sorted(
        str(p.relative_to(ROOT))
        for p in TESTS.rglob("test_*.py")
        if any(m in p.read_text() for m in marks)
    )


def run_tests(timeout: float, workdir: Path) -> dict[str, Any]:
    """{test id: {"outcome": passed|failed|not run, "message": ...}} of every gpu/trt marked test."""
    import xml.etree.ElementTree as ET

    xml = workdir / "gpu-tests.xml"
    env = {**os.environ, "FACERT_CACHE": os.environ.get("FACERT_CACHE", str(workdir / "cache"))}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-m",
        "gpu or trt",
        f"--junitxml={xml}",
        *marked_test_files(),
    ]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if not xml.is_file():
        return {"pytest": {"outcome": "failed", "message": (done.stdout + done.stderr)[-2000:]}}
    results = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, message = "failed", (child.get("message") or child.text or "")[:1000]
            elif child.tag == "skipped":
                outcome, message = "not run", (child.get("message") or "").removeprefix("not run: ")
        results[name] = {
            "outcome": outcome,
            "message": message,
            "seconds": float(case.get("time") or 0),
        }
    return results


def bench(
    available: dict[str, str], rounds: int, workdir: Path, left: Callable[[], float]
) -> dict[str, Any]:
    import gpu_bench
    import gpu_torch

    from facert.backends.trt_plan import FLAVOURS

    results: dict[str, Any] = {}
    if available["torch-cuda"] != "runs here":
        results["torch eager"] = available["torch-cuda"]
        results["torch backend"] = available["torch-cuda"]
    else:
        results.update(gpu_bench.torch_eager(rounds))
        results.update(gpu_torch.torch_backend(rounds))
    for name in FLAVOURS:
        if available[name] != "runs here":
            results[f"trt {name}"] = available[name]
        elif left() < 180:
            results[f"trt {name}"] = (
                "not run: too little of the time budget left to export and build GFPGAN"
            )
        else:
            from facert.backends.cuda import driver_status

            capability = driver_status().compute_capability or ""
            export, plan = gpu_bench.gfpgan_plan(workdir, name, capability)
            results.update(gpu_bench.trt_engine(export, plan, name, rounds))
    if available["ort-gpu"] != "runs here":
        results["ort-gpu"] = available["ort-gpu"]
    elif left() < 120:
        results["ort-gpu"] = "not run: too little of the time budget left"
    else:
        results.update(gpu_bench.ort_gpu(workdir, rounds))
    results["gpu pipeline"] = frame_pipeline(rounds, workdir, left)
    return results


def frame_pipeline(rounds: int, workdir: Path, left: Callable[[], float]) -> Any:
    """bench/gpu_pipeline.py: the whole frame pipeline at 1080p with 1, 4 and 8 faces."""
    import gpu_pipeline

    if left() < 90:
        return "not run: too little of the time budget left"
    why = gpu_pipeline.not_run()
    if why is not None:
        return why
    cache = Path(os.environ.get("FACERT_CACHE", str(workdir / "cache")))
    return gpu_pipeline.gpu_run(rounds, cache)


def kernel_check(rounds: int, left: Callable[[], float]) -> dict[str, Any]:
    """bench/gpu_kernels.py's report: the kernels vs the CPU reference, and their time per face."""
    import gpu_kernels

    if left() < 30:
        return {"kernels": "not run: too little of the time budget left"}
    return gpu_kernels.run(max(rounds, 10))


def kernels_failed(report: dict[str, Any]) -> bool:
    import gpu_kernels

    return "error" in report or gpu_kernels.failed(report)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "gpu-check.json")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds for the whole check")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    bootstrap()
    sys.path[:0] = [str(TESTS), str(ROOT / "bench")]
    start = time.monotonic()
    left = lambda: args.budget - (time.monotonic() - start)  # noqa: E731
    workdir = Path(tempfile.mkdtemp(prefix="facert-gpu-check-"))
    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    }
    failed = False
    for key, step in (
        ("device", device),
        ("versions", versions),
        ("available", availability),
        ("tests", lambda: run_tests(max(left() - 90, 30), workdir)),
        ("kernels", lambda: kernel_check(args.rounds, left)),
        ("bench", lambda: bench(report["available"], args.rounds, workdir, left)),
    ):
        try:
            report[key] = step()
        except Exception as exc:
            report[key] = {
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc()[-3000:],
            }
            failed = True
    left_out = WHEELS / "left-out.json"
    report["wheels left out"] = json.loads(left_out.read_text()) if left_out.is_file() else []
    failed |= kernels_failed(report.get("kernels", {}))
    failed |= any(
        t.get("outcome") == "failed"
        for t in report.get("tests", {}).values()
        if isinstance(t, dict)
    )
    report["seconds"] = round(time.monotonic() - start, 1)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"{report['device'].get('summary', report['device'])}; {report['seconds']} s; report: {args.out}"
    )
    for name, state in report.get("available", {}).items():
        print(f"  {name}: {state}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
