"""DFDNet per 512 face on the CPU: ONNX Runtime FP32 vs our PyTorch port vs the official code.

With facert's deterministic weights and K = 4 dictionaries (cost does not depend on the values;
the dictionary step's does on K, see below), on grace_hopper_512.png with its golden part boxes:

- ONNX Runtime FP32: the export in the cache (``facert models export dfdnet`` after putting the
  files there, tests/dfdnet_files.py writes deterministic ones) or ``--graph``, ``--threads``;
- PyTorch eager: our faithful port (box-sized crops, faces one at a time) and the export form
  (fixed windows), ``torch.set_num_threads``;
- the dictionary step alone: the 16 part x scale steps of the export form (windows) against the
  official slicing (:func:`facert.export.families.dfdnet.net.dictionary_part`), on the VGG features;
- ``--reference-python PY --dfdnet DIR``: the official UNetDictFace in a scratch environment (the
  golden recipe, tests/golden/dfdnet/README.md), which prints its own forward time.

Medians of ``--runs`` (one warm-up each). The machine is shared: say so with the numbers.

    FACERT_CACHE=... .venv/bin/python bench/bench_dfdnet.py [--runs 3] [--threads 2]
        [--reference-python /work/scratch/dfdnet/venv/bin/python --dfdnet /work/scratch/dfdnet/DFDNet]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from dfdnet_files import CLUSTERS, deterministic_state  # noqa: E402

from facert.backends import engine_for  # noqa: E402
from facert.config import load_settings  # noqa: E402
from facert.export.families.dfdnet.dictionaries import (  # noqa: E402
    FEATURE_SIZES,
    PARTS,
    PREFIXES,
    deterministic_dictionaries,
    entry_floats,
)
from facert.export.families.dfdnet.export import DFDNetExport  # noqa: E402
from facert.export.families.dfdnet.net import dictionary_part, load_dfdnet  # noqa: E402
from facert.models.artifacts import find_artifact  # noqa: E402
from facert.models.registry import get_spec  # noqa: E402

GOLDEN = REPO / "tests" / "golden" / "dfdnet"
FACE = REPO / "tests" / "data" / "faces" / "grace_hopper_512.png"


def median_time(function: Callable[[], object], runs: int) -> float:
    function()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def graph_path(given: Path | None) -> Path:
    if given is not None:
        return given
    settings = load_settings()
    return find_artifact(settings.cache_dir, get_spec("dfdnet")).path("model.onnx")


def official_seconds(python: str, dfdnet: Path) -> str:
    golden = np.load(GOLDEN / "golden.npz")
    with tempfile.TemporaryDirectory() as folder:
        landmarks = Path(folder) / "landmarks.txt"
        np.savetxt(landmarks, golden["landmarks"], fmt="%.3f")
        command = [python, str(GOLDEN / "recipe" / "make_golden.py"), "--dfdnet", str(dfdnet)]
        command += ["--landmarks", str(landmarks), "--out", folder]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return next(line for line in out.splitlines() if line.startswith("official forward"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--graph", type=Path)
    parser.add_argument("--reference-python")
    parser.add_argument("--dfdnet", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"load average {os.getloadavg()[0]:.2f}, {args.threads} threads, median of {args.runs}")
    face = cv2.imread(str(FACE))[:, :, ::-1].astype(np.float32) / 255 * 2 - 1
    image = np.ascontiguousarray(face.transpose(2, 0, 1)[None])
    boxes = np.load(GOLDEN / "golden.npz")["boxes"][None].astype(np.float32)
    graph = graph_path(args.graph)
    print(
        f"graph {graph.stat().st_size / 1e6:.0f} MB with K = {CLUSTERS}; each dictionary entry "
        f"adds {4 * entry_floats() / 1e6:.2f} MB (all 16 files)"
    )
    with engine_for(graph, threads=args.threads) as engine:
        feed = {"image": image, "boxes": boxes}
        ort = median_time(lambda: engine.run(feed), args.runs)
    model = load_dfdnet(deterministic_state(), deterministic_dictionaries(CLUSTERS))
    export = DFDNetExport(model).eval()
    x, b = torch.from_numpy(image), torch.from_numpy(boxes)
    with torch.no_grad():
        eager = median_time(lambda: model(x, b.long()), args.runs)
        form = median_time(lambda: export(x, b), args.runs)
        windows, slicing = step_times(model, export, x, b, args.runs)
    print(
        f"ONNX Runtime FP32 {ort:.2f} s | PyTorch eager: port {eager:.2f} s, export form "
        f"{form:.2f} s per face"
    )
    print(
        f"dictionary step (16 parts x scales): windows {windows:.2f} s, official slicing "
        f"{slicing:.2f} s (PyTorch)"
    )
    if args.reference_python and args.dfdnet:
        print(official_seconds(args.reference_python, args.dfdnet))


def step_times(model, export, x, boxes, runs: int) -> tuple[float, float]:
    taps = model.VggExtract(x)

    def windows() -> None:
        for level, size in enumerate(FEATURE_SIZES):
            scaled = torch.floor(boxes / float(512 // size))
            for part in range(len(PARTS)):
                export.matches[level * len(PARTS) + part](taps[level], taps[level], scaled[:, part])

    def slicing() -> None:
        for level, size in enumerate(FEATURE_SIZES):
            for part, prefix in zip(PARTS, PREFIXES, strict=True):
                box = torch.div(boxes[0, PARTS.index(part)], 512 // size, rounding_mode="floor")
                x1, y1, x2, y2 = (int(v) for v in box)
                crop = taps[level][:, :, y1:y2, x1:x2]
                block = getattr(model, f"{prefix}_{size}")
                dictionary_part(crop, model.dictionary(part, size), block)

    return median_time(windows, runs), median_time(slicing, runs)


if __name__ == "__main__":
    main()
