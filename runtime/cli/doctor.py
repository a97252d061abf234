"""``facert doctor [--choose MODEL ...]``: what this machine offers and what ``--backend auto`` chose.

Prints the CPU, the instructions the engines choose by (AMX, AVX512-BF16, VNNI...), the engines
installed, which (backend, precision) plans can run here and why not, and for every restorer in the
cache the automatic choice measured on this machine with its numbers. ``--choose`` measures the
choice of the named models now (exporting them first when needed) instead of on their first run.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
from collections.abc import Iterator
from typing import Any

from facert import __version__
from facert.backends.choice import Chooser, Plan, installed, unavailable
from facert.backends.device import cpu_description, cpu_fingerprint, cpu_flags
from facert.backends.openvino import openvino_version
from facert.cli.engines import add_engine_arguments, report
from facert.config import Settings
from facert.models.cache import exported_sources, model_dir
from facert.models.exporting import ensure_artifact
from facert.models.registry import ModelSpec, get_spec, list_specs

# The instructions worth naming: what BF16 and INT8 engines need, and the vector width.
SHOWN = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni", "amx_int8")
PLANS = ("ort fp32", "ort fp16", "openvino fp32", "openvino bf16", "ort int8", "openvino int8")
GPU_PLANS = ("trt fp16", "ort-gpu fp16", "torch fp16")


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "doctor",
        help="this machine's CPU, engines, and the engine chosen for each model",
        description="What this machine can run and what --backend auto chose for each cached "
        "restorer (measured once per machine and model).",
    )
    parser.add_argument(
        "--choose",
        action="append",
        default=[],
        metavar="MODEL",
        help="measure the automatic choice for MODEL now (repeatable)",
    )
    add_engine_arguments(parser)
    parser.set_defaults(run=run)


def machine_lines() -> Iterator[str]:
    flags = set(cpu_flags())
    yield f"facert {__version__}, Python {platform.python_version()}"
    yield f"CPU: {cpu_description()} ({os.cpu_count()} logical cores; {cpu_fingerprint()})"
    present = [f for f in SHOWN if f in flags]
    absent = [f for f in SHOWN if f not in flags]
    yield f"instructions: {' '.join(present) or 'none of ' + ' '.join(SHOWN)}" + (
        f" (absent: {' '.join(absent)})" if absent else ""
    )
    import onnxruntime

    onnx = "installed" if installed("onnx") else "not installed"
    yield (
        f"engines: onnxruntime {onnxruntime.__version__}; openvino "
        f"{openvino_version() or 'not installed'}; onnx {onnx} (builds INT8 graphs)"
    )
    for text in PLANS:
        why = unavailable(Plan.parse(text), flags)
        yield f"  {text:<14} {'can run' if why is None else 'no: ' + why}"
    yield from gpu_lines()


def gpu_lines() -> Iterator[str]:
    """The GPU (the driver is asked only where its library is present), the TensorRT flavours
    (building needs no GPU; running does) and the GPU plans."""
    from facert.backends.cuda import driver_status
    from facert.backends.trt_plan import FLAVOURS

    yield f"GPU: {driver_status().summary()}"
    flavours = []
    for flavour in FLAVOURS.values():
        version = _distribution_version(flavour.name)  # the flavour's name is its PyPI name
        flavours.append(f"{flavour.name} {version or 'not installed'}")
    yield f"TensorRT: {'; '.join(flavours)} (facert models build NAME builds plans, no GPU needed)"
    for text in GPU_PLANS:
        why = unavailable(Plan.parse(text))
        yield f"  {text:<14} {'can run' if why is None else 'no: ' + why}"


def _distribution_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def choice_lines(settings: Settings, spec: ModelSpec) -> Iterator[str]:
    exports = exported_sources(settings.cache_dir, spec)
    if not exports:
        return
    if [tuple(p) for p in spec.cpu_plans] == [("ort", "fp32")]:
        yield f"{spec.name}: ort fp32 (its spec allows no other CPU plan)"
        return
    folder = model_dir(settings.cache_dir, spec) / "compiled" / "choice"
    records = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if record.get("device") == cpu_fingerprint():
            records.append(record)
    if not records:
        yield f"{spec.name}: not chosen yet on this machine (measured on its first run)"
    for record in records:
        yield f"{spec.name}: {record.get('why')} ({record.get('threads') or 'all'} threads)"
        for row in record.get("measured", []):
            result = f"{row['ms']:.0f} ms per face" if "ms" in row else row.get("refused") or ""
            yield f"    {row['plan']:<14} {result or row.get('failed', '')}"
        for plan, why in record.get("skipped", {}).items():
            yield f"    {plan:<14} not measured: {why}"


def run(args: argparse.Namespace, settings: Settings) -> int:
    for line in machine_lines():
        print(line)
    for name in args.choose:
        spec = get_spec(name)
        export = ensure_artifact(spec, settings.cache_dir)
        chooser = Chooser(settings.cache_dir, export, threads=settings.threads, report=report)
        if args.backend == "auto":
            chooser.choose(args.precision)
    print("automatic choice per cached restorer (--backend auto):")
    for spec in list_specs("restorer"):
        for line in choice_lines(settings, spec):
            print(f"  {line}")
    return 0
