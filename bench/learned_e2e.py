"""End to end on one 1080p photo: ``facert enhance --model gfpgan-1.4`` against the official GFPGANer.

The photo is bench_detect.py's frame (grace_hopper.jpg scaled into a 1920x1080 canvas with mirrored
sides), saved as PNG. Each round runs, one after the other, two fresh processes on it:

- ``facert --threads T enhance frame.png -o DIR --model gfpgan-1.4`` with ``FACERT_CACHE`` pointing at
  the benchmark's cache (the fill export of GFPGAN, and the user's MTCNN export linked in): MTCNN
  detection, alignment, GFPGAN on ONNX Runtime FP32, paste-back, PNG in and out;
- bench/reference_gfpganer.py in the reference Python: GFPGANer (official GFPGANv1Clean in PyTorch
  eager, ``torch.set_num_threads(T)``, facexlib 0.3.0 alignment and paste-back) with the faces
  facert's MTCNN finds handed over instead of RetinaFace's, and no face parser (see that file).

Reported per contender: the process wall time (start to exit: imports, model load, the photo) and the
photo time inside the process (facert: its summary line, read + enhance + write, detection
included; reference: imread + enhance + imwrite, detection excluded), medians over the rounds.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
from bench_detect import benchmark_frame

from facert.config import load_settings
from facert.stages.detect import open_detector

HERE = Path(__file__).resolve().parent
SUMMARY = re.compile(r"(\d+) faces? restored.*?([\d.]+) s$")


def prepare(workdir: Path, threads: int) -> tuple[Path, Path]:
    """Write the frame (PNG) and facert's MTCNN faces on it (JSON); link MTCNN into the bench cache."""
    folder = workdir / "e2e"
    folder.mkdir(parents=True, exist_ok=True)
    frame_path, faces_path = folder / "frame.png", folder / "faces.json"
    frame = benchmark_frame()
    cv2.imwrite(str(frame_path), frame)
    settings = load_settings()
    with open_detector(settings) as detector:
        faces = detector.detect(frame)
    faces_path.write_text(json.dumps([face.to_json() for face in faces]))
    mtcnn = workdir / "cache" / "mtcnn"
    if not mtcnn.exists():
        mtcnn.symlink_to(settings.cache_dir / "mtcnn", target_is_directory=True)
    return frame_path, faces_path


def facert_command() -> list[str]:
    script = Path(sys.executable).with_name("facert")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from facert.cli.main import main; sys.exit(main())"]


def run_facert(workdir: Path, frame: Path, threads: int, backend: str = "ort") -> dict[str, float]:
    out = workdir / "e2e" / f"facert-{backend}-out"
    command = [*facert_command(), "--threads", str(threads), "enhance", str(frame), "-o", str(out)]
    command += ["--model", "gfpgan-1.4", "--backend", backend]
    environment = {**os.environ, "FACERT_CACHE": str(workdir / "cache")}
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    wall = time.perf_counter() - start
    match = SUMMARY.search(result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "")
    if result.returncode != 0 or match is None:
        raise SystemExit(f"facert enhance failed: {' '.join(command)}\n{result.stderr[-2000:]}")
    return {"wall_s": wall, "photo_s": float(match.group(2)), "faces": int(match.group(1))}


def run_reference(
    python: str, workdir: Path, frame: Path, faces: Path, threads: int
) -> dict[str, float]:
    checkpoint = workdir / "weights" / "gfpgan-1.4-fill.pth"
    command = [python, str(HERE / "reference_gfpganer.py"), "--checkpoint", str(checkpoint)]
    command += ["--faces", str(faces), "--frame", str(frame), "--threads", str(threads)]
    command += ["--output", str(workdir / "e2e" / "reference-out.png")]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"reference failed: {' '.join(command)}\n{result.stderr[-2000:]}")
    report: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return {**report, "wall_s": wall}


def end_to_end(
    workdir: Path,
    reference_python: str | None,
    rounds: int,
    threads: int,
    backends: tuple[str, ...] = ("ort",),
) -> None:
    """Print the end-to-end comparison (the GFPGAN fill export must already be in the cache):
    facert on each of ``backends`` (ort: ONNX Runtime FP32; auto: what --backend auto chose on
    this machine, measured before the rounds) against GFPGANer."""
    frame, faces = prepare(workdir, threads)
    count = len(json.loads(faces.read_text()))
    print(f"\nend to end: {frame} (1920x1080), {count} faces found by MTCNN, {threads} threads")
    results: dict[str, list[dict[str, float]]] = {f"facert {b}": [] for b in backends}
    results["GFPGANer"] = []
    for backend in backends:
        run_facert(workdir, frame, threads, backend)  # auto measures its choice once, here
    for index in range(rounds):
        load = os.getloadavg()[0]
        for backend in backends:
            results[f"facert {backend}"].append(run_facert(workdir, frame, threads, backend))
        if reference_python:
            results["GFPGANer"].append(
                run_reference(reference_python, workdir, frame, faces, threads)
            )
        photo = "  ".join(f"{k} {v[-1]['photo_s']:.2f} s" for k, v in results.items() if v)
        print(f"  round {index + 1}: photo {photo}  (load average {load:.2f})", flush=True)
    medians = {
        name: {key: statistics.median(r[key] for r in runs) for key in ("wall_s", "photo_s")}
        for name, runs in results.items()
        if runs
    }
    for name, values in medians.items():
        print(
            f"  {name:14s} median photo {values['photo_s']:6.2f} s   process {values['wall_s']:6.2f} s"
        )
    ort = medians.get("facert ort")
    for name, values in medians.items():
        if ort is not None and name.startswith("facert") and name != "facert ort":
            print(f"  facert ort / {name}: photo {ort['photo_s'] / values['photo_s']:.2f}x")
    if "GFPGANer" in medians:
        ours, theirs = medians[f"facert {backends[-1]}"], medians["GFPGANer"]
        print(
            f"  GFPGANer / facert {backends[-1]}: photo {theirs['photo_s'] / ours['photo_s']:.2f}x, "
            f"process {theirs['wall_s'] / ours['wall_s']:.2f}x "
            f"(GFPGANer's photo time excludes detection; facert's includes MTCNN)"
        )
    else:
        print("  (no --reference-python: the official GFPGANer was not run)")
