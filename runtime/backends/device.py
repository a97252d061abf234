"""Device fingerprints: what a compiled artifact's key records about the device it was built for.

A CPU's fingerprint is its architecture and the vector extensions backends choose kernels and
layouts by (ONNX Runtime's optimized models hold NCHWc convolutions blocked for the CPU's vector
width: 16 floats with AVX-512, 8 with AVX2; OpenVINO's blobs are compiled for the ISA they ran
on). Two machines with the same extensions share compiled CPU artifacts; a machine with other ones
gets its own. GPU fingerprints (name, compute capability, driver) arrive with the GPU backends.
"""

from __future__ import annotations

import hashlib
import os
import platform
from collections.abc import Sequence
from pathlib import Path

# The CPU flags (Linux /proc/cpuinfo names) that decide which kernels a backend compiles for.
ISA_PREFIXES = ("sse", "avx", "amx", "fma", "f16c", "asimd", "sve", "neon", "fp16", "bf16", "i8mm")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, ...]:
    """The ISA flags of the first CPU listed in ``cpuinfo``, sorted; () where there is no such file."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return ()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):  # x86 | ARM
            return tuple(sorted({f for f in value.split() if f.startswith(ISA_PREFIXES)}))
    return ()


# The extensions facert's CPU precisions and speeds depend on, as benches print them.
SHOWN_FLAGS = ("amx_bf16", "amx_int8", "avx512_bf16", "avx512_vnni", "avx_vnni", "avx512f", "avx2")


def split_flags(
    names: Sequence[str] = SHOWN_FLAGS, cpuinfo: Path = Path("/proc/cpuinfo")
) -> tuple[list[str], list[str]]:
    """``names`` split into those this CPU has and those it lacks, each in ``names``' order."""
    flags = set(cpu_flags(cpuinfo))
    return [f for f in names if f in flags], [f for f in names if f not in flags]


def cpu_fingerprint(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """``cpu-<arch>-<12 hex digits of the sha256 of the ISA flags>``: the same on every machine
    whose CPU offers the same vector extensions."""
    flags = cpu_flags(cpuinfo)
    facts = " ".join((platform.machine(), *flags)) if flags else platform.processor()
    digest = hashlib.sha256(facts.encode()).hexdigest()[:12]
    return f"cpu-{platform.machine() or 'unknown'}-{digest}"


def cpu_description(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name (Linux), or what the platform says; for manifests, not for keys."""
    try:
        for line in cpuinfo.read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


class CpuTarget:
    """The device half of a :class:`facert.models.compiling.Compiler` that builds for this CPU."""

    def device(self) -> str:
        return cpu_fingerprint()

    def device_description(self) -> str:
        return cpu_description()


def local_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
