"""TensorRT plans built on this machine (issue 10): build time and plan size per model and
precision, with the layer precisions and the FP32 pins found in each FP16 plan.

TensorRT for RTX builds ahead of time, without a GPU, for the compute capabilities named (default:
the RTX desktops, 8.6 8.9 12.0); the plan is specialised just in time on the user's GPU. Each plan is
built fresh into a temporary folder (a cached plan would time nothing). Learned models carry the
deterministic fill in the official layout (bench/learned_models.py; the first run exports each
full-size model, minutes each on 2 cores); MTCNN, ISPL and WIPA are the embedded exports. Speed on
a GPU is measured by `make gpu-check`, where a GPU is lent.

    .venv/bin/python bench/bench_trt_build.py [--models mtcnn ispl wipa gfpgan ...]
        [--precisions fp16 fp32] [--compute-capability 8.6 8.9 12.0] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench_cpu_backends import EMBEDDED, export_of

from facert.config import load_settings
from facert.errors import FacertError
from facert.models.artifacts import Artifact
from facert.models.trt_plans import BuildRequest, build_export_plans

LEARNED = ("gfpgan", "gpen-bfr-256", "gpen-bfr-512", "gpen-bfr-1024", "codeformer",
           "restoreformer", "restoreformer-pp")  # fmt: skip
QUICK = ("mtcnn", "ispl", "wipa", "gfpgan")


def row(label: str, precision: str, request: BuildRequest, export: Artifact) -> list[str]:
    """One line per plan built at ``precision``, or the reason none was."""
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        try:
            plans = build_export_plans(export, Path(folder), request)
        except FacertError as error:
            return [f"{label:17} {precision:5} not built: {str(error).splitlines()[0]}"]
        total = time.perf_counter() - started
        lines = []
        for plan in plans:
            build = plan.manifest["build"]
            layers = ", ".join(f"{k} {v}" for k, v in build["layer_precisions"].items())
            pins = build.get("fp32_pins")
            pinned = f"{pins['fp32_layers_found']}/{pins['pinned_nodes']}" if pins else "-"
            lines.append(
                f"{label:17} {precision:5} {plan.key.source_graph:16} {build['seconds']:7.2f} "
                f"{build['engine_bytes'] / 1e6:8.1f} {pinned:>9}  {layers}"
            )
        lines.append(f"{'':17} {precision:5} {'(with parsing, checks, hashing)':16} {total:.2f} s")
        return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=[*EMBEDDED, *LEARNED])
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument("--precisions", nargs="+", default=["fp16", "fp32"])
    parser.add_argument("--compute-capability", nargs="+", default=[])
    parser.add_argument(
        "--workdir", type=Path, default=load_settings().cache_dir.parent / "facert-bench"
    )
    args = parser.parse_args()
    import tensorrt_rtx

    capabilities = tuple(args.compute_capability)
    print(f"tensorrt_rtx {tensorrt_rtx.__version__}, ahead of time (no GPU used), targets: "
          f"{' '.join(capabilities) or '8.6 8.9 12.0 (default)'}")  # fmt: skip
    print(f"{'model':17} {'prec':5} {'graph':16} {'build s':>7} {'plan MB':>8} {'FP32 pins':>9}"
          "  layers by output type")  # fmt: skip
    for label in QUICK if args.quick else args.models:
        export = export_of(label, args.workdir)
        for precision in args.precisions:
            request = BuildRequest(precision=precision, capabilities=capabilities)
            for line in row(label, precision, request, export):
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
