"""The machine a benchmark ran on: what its latencies can be compared with, and the ISA path each
reduced precision took (what its accuracy can be compared with).

The *fingerprint* names a machine for latency: CPU model, logical cores, the CPU's ISA flags
(:func:`facert.backends.device.cpu_fingerprint`) and the GPU with its driver. Library versions and
facert's own version are recorded beside it but are not part of it: a new ONNX Runtime on the same
machine is exactly what a latency comparison should judge.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

from facert import __version__
from facert.backends.device import SHOWN_FLAGS, cpu_description, cpu_fingerprint, cpu_flags

LIBRARIES = ("numpy", "opencv-python-headless", "onnxruntime", "openvino", "onnx", "torch")
# The instructions each reduced precision runs on, best first; the first this CPU has names its path.
ISA_PATHS = {
    "bf16": ("amx_bf16", "avx512_bf16"),
    "int8": ("amx_int8", "avx512_vnni", "avx_vnni", "i8mm", "asimddp"),
    "fp16": ("avx512_fp16", "asimdhp"),
}


def isa_path(precision: str, flags: tuple[str, ...] | None = None) -> str:
    """The instruction set ``precision`` runs on here: "fp32" for fp32 (its accuracy does not depend
    on the vector width beyond rounding, far under the 0.1 dB a comparison allows); for the others
    the first of :data:`ISA_PATHS` the CPU has (``amx_bf16``, ``avx512_bf16``...), or
    "<precision>-emulated" where it has none (computed in f32 and rounded, or refused)."""
    if precision == "fp32":
        return "fp32"
    have = set(cpu_flags() if flags is None else flags)
    for flag in ISA_PATHS.get(precision, ()):
        if flag in have:
            return flag
    return f"{precision}-emulated"


def _versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version(), "facert": __version__}
    for name in LIBRARIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def git_commit(start: Path | None = None) -> str | None:
    """The commit of the checkout facert runs from (with "+dirty" for local changes), or None
    when it is not a git checkout (an installed wheel)."""
    here = (start or Path(__file__)).resolve()
    folder = here.parent
    try:
        tracked = subprocess.run(  # an installed copy inside some other checkout is not one
            ["git", "ls-files", "--error-unmatch", here.name],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if tracked.returncode != 0:
            return None
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _gpu() -> dict[str, Any]:
    from facert.backends.cuda.driver import driver_status

    status = driver_status()
    if not status.present:
        return {"present": False, "reason": status.reason}
    return {
        "present": True,
        "name": status.name,
        "compute_capability": status.compute_capability,
        "driver": status.driver_version,
        "cuda": status.cuda_version,
    }


def machine_facts(threads: int) -> dict[str, Any]:
    """The machine section of a benchmark document (``threads``: the engines' thread setting)."""
    flags = cpu_flags()
    gpu = _gpu()
    cores = os.cpu_count() or 0
    cpu = cpu_description()
    identity = [cpu, str(cores), cpu_fingerprint(), str(gpu.get("name")), str(gpu.get("driver"))]
    digest = hashlib.sha256("|".join(identity).encode()).hexdigest()[:10]
    return {
        "fingerprint": f"{slug(cpu)}-{cores}c-{digest}",
        "cpu": cpu,
        "cpu_fingerprint": cpu_fingerprint(),
        "logical_cores": cores,
        "cpu_features": [f for f in SHOWN_FLAGS if f in flags],
        "cpu_features_absent": [f for f in SHOWN_FLAGS if f not in flags],
        "isa_paths": {p: isa_path(p, flags) for p in ("fp32", "fp16", "bf16", "int8")},
        "gpu": gpu,
        "threads": threads,
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "platform": platform.platform(),
        "versions": _versions(),
        "git_commit": git_commit(),
    }


def slug(text: str) -> str:
    """ "AMD EPYC 9R14 96-Core Processor" -> "amd-epyc-9r14-96-core-processor"."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48] or "unknown-cpu"
