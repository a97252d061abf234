"""`make gpu-wheels`: download here the wheels a lent GPU machine lacks for `make gpu-check`, into
.whl-gpu/ (ignored by git; name it in the device call's ``carry``), within the carry limit.

    .venv/bin/python bench/gpu_wheels.py [--python-version 3.12] [--budget-mib 56] NAME==VERSION ...

The lent machines (H100/H200, Python 3.12) already hold PyTorch, onnx, onnxruntime (CPU), pytest and
cuda-bindings; what they lack is TensorRT. The carried tree may be 64 MiB in all, so the wheels are
all-or-nothing within ``--budget-mib``: a set over it is deleted and listed in .whl-gpu/left-out.json
(gpu_check.py puts that list in its report). TensorRT for RTX's libraries alone are a 95 MB wheel:
they never travel (and TensorRT for RTX does not run on the H100/H200's compute capability 9.0).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "wheels", nargs="*", help="NAME==VERSION of each wheel (no dependencies are followed)"
    )
    parser.add_argument("--python-version", default="3.12")
    parser.add_argument("--budget-mib", type=float, default=56.0)
    parser.add_argument("-d", "--dest", type=Path, default=ROOT / ".whl-gpu")
    args = parser.parse_args()
    args.dest.mkdir(exist_ok=True)
    for old in args.dest.glob("*.whl"):
        old.unlink()
    left_out = []
    if args.wheels:
        platforms = [f"--platform={p}" for p in PLATFORMS]
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
            f"--python-version={args.python_version}",
            "--implementation=cp",
            *platforms,
            "-d",
            str(args.dest),
            *args.wheels,
        ]
        subprocess.run(command, check=True)
    wheels = sorted(args.dest.glob("*.whl"))
    total = sum(w.stat().st_size for w in wheels) / 2**20
    if total > args.budget_mib:
        for wheel in wheels:
            left_out.append(
                {
                    "wheel": wheel.name,
                    "MiB": round(wheel.stat().st_size / 2**20, 1),
                    "reason": f"the set is {total:.0f} MiB, over the {args.budget_mib:.0f} MiB carry budget",
                }
            )
            wheel.unlink()
        wheels = []
    (args.dest / "left-out.json").write_text(json.dumps(left_out, indent=2) + "\n")
    kept = sum(w.stat().st_size for w in wheels) / 2**20
    print(f"{args.dest}: {len(wheels)} wheels, {kept:.1f} MiB; left out: {len(left_out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
