"""The CUDA kernels' per-pixel code on the CPU (for information): the header compiled for the host
(tests/kernel_host.py, one thread, no SIMD intrinsics) against the runtime's NumPy/OpenCV path.

One 1920x1080 frame, one 512x512 face rotated 10 degrees at crop scale 1 and 2 (as
bench/bench_blend.py): warp-crop (``to_tensor(warp_crop(...))`` vs ``facert_host_warp_crop_f32``)
and blend (``paste_faces(from_tensor(...))`` vs ``blend_plan`` + ``facert_host_blend_f32``), per
face, medians and minima of interleaved runs with the caches flushed before each. The host path is
a correctness reference, not a CPU implementation: it shows what one CPU thread makes of the
kernels' arithmetic, which a GPU spreads over thousands. Needs g++.

    .venv/bin/python bench/bench_kernels_cpu.py --runs 5
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np
from bench_blend import FACE_SIZE, face_landmarks, interleaved_times, make_frame

from facert.backends.device import cpu_description, split_flags
from facert.kernels.plan import blend_plan, warp_plan
from facert.models.registry import ModelSpec
from facert.stages.align.warp import (
    estimate_affine,
    face_template,
    from_tensor,
    to_tensor,
    warp_crop,
)
from facert.stages.blend.paste import paste_faces, paste_path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from kernel_host import HostKernels

SPEC = ModelSpec(
    name="bench", family="bench", role="restorer", summary="", licence="", input_size=FACE_SIZE
)
SHOWN_FLAGS = ("avx512f", "avx2", "fma")


def machine() -> None:
    has, lacks = split_flags(SHOWN_FLAGS)
    present, absent = " ".join(has) or "none", " ".join(lacks) or "none"
    print(f"CPU: {cpu_description()}, {os.cpu_count()} logical cores")
    print(
        f"instructions present: {present}; absent: {absent}; OpenCV threads {cv2.getNumThreads()}"
    )


def run_scenario(kernels: HostKernels, frame: np.ndarray, scale: float, runs: int) -> None:
    affine = estimate_affine(face_landmarks(scale), face_template(FACE_SIZE))
    crops = np.empty((1, 3, FACE_SIZE, FACE_SIZE), np.float32)
    warp = warp_plan([affine], SPEC)
    restored = np.ascontiguousarray(to_tensor(warp_crop(frame, affine, FACE_SIZE)[None], SPEC))
    background = frame.copy()
    in_place = frame.copy()

    def cpu_blend() -> object:
        return paste_faces(
            background, list(from_tensor(restored, SPEC)), [affine], 1.0, out=in_place
        )

    def host_blend() -> object:
        plan = blend_plan([affine], SPEC, frame.shape[:2])
        kernels.blend(in_place, restored, plan)
        return plan

    functions = {
        "warp-crop, CPU path (warp_crop + to_tensor)": lambda: to_tensor(
            warp_crop(frame, affine, FACE_SIZE)[None], SPEC
        ),
        "warp-crop, header on the host (one thread)": lambda: kernels.warp_crop(frame, warp, crops),
        "blend, CPU path (from_tensor + paste_faces)": cpu_blend,
        "blend, plan only (blend_plan)": lambda: blend_plan([affine], SPEC, frame.shape[:2]),
        "blend, plan + header on the host (one thread)": host_blend,
    }
    load = os.getloadavg()
    results = interleaved_times(functions, runs)
    path = paste_path(affine, FACE_SIZE, 1.0, frame.shape)
    print(f"\n== 1920x1080, one {FACE_SIZE} face at crop scale {scale} ({path} path), {runs} runs")
    print(f"load average before {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}")
    for name, (median, fastest) in results.items():
        print(f"  {name}: median {median:.2f} ms, min {fastest:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description="the kernels' host path vs the CPU path")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    machine()
    kernels = HostKernels()
    frame = make_frame()
    for scale in (1.0, 2.0):
        run_scenario(kernels, frame, scale, args.runs)


if __name__ == "__main__":
    main()
