"""The prebuilt fatbin of facert's kernels, and the choice between it and NVRTC.

``make kernels-fatbin`` (``python -m facert.kernels.fatbin``) builds ``kernels/facert_kernels.fatbin``
with nvcc for :data:`FATBIN_ARCHS` (plus PTX of the newest, which the driver compiles for a newer
GPU) from the same program and options NVRTC compiles (:mod:`facert.kernels.compile`), and records
beside it, in ``facert_kernels.json``, the architectures it holds, the sha256 of the sources it was
built from and nvcc's version. Neither file is committed; a wheel built after ``make kernels-fatbin``
ships both.

:func:`kernel_image` is what a GPU run loads: the fatbin when it holds the device's architecture and
was built from the sources installed beside it (a stale fatbin is never loaded), else the cubin NVRTC
compiles (cached). No GPU is needed to build either.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facert.errors import ArtifactError, MissingDependencyError
from facert.io.files import write_atomic, write_bytes_atomic
from facert.kernels.compile import (
    COMPILE_OPTIONS,
    FACERT_SOURCES,
    KernelSources,
    cached_cubin,
    check_arch,
)

FATBIN_ARCHS = ("sm_75", "sm_86", "sm_87", "sm_89", "sm_90", "sm_120")
FATBIN_NAME = "facert_kernels.fatbin"
FACTS_NAME = "facert_kernels.json"


@dataclass(frozen=True)
class KernelImage:
    """A loadable image of the kernels (cubin or fatbin bytes) and where it came from: ``origin``
    ``fatbin`` or ``nvrtc``, ``path`` the file read."""

    data: bytes
    origin: str
    path: Path


def nvcc_version(nvcc: str) -> str:
    """``13.0`` from ``nvcc --version``."""
    done = subprocess.run([nvcc, "--version"], capture_output=True, text=True, check=True)
    match = re.search(r"release (\d+\.\d+)", done.stdout)
    return match.group(1) if match else "unknown"


def nvcc_command(
    sources: KernelSources, program: Path, out: Path, archs: tuple[str, ...], nvcc: str
) -> list[str]:
    """nvcc's command line: SASS for each of ``archs``, PTX of the newest, warnings as errors."""
    numbers = sorted(check_arch(arch) for arch in archs)
    gencode = [f"-gencode=arch=compute_{n},code=sm_{n}" for n in numbers]
    gencode.append(f"-gencode=arch=compute_{numbers[-1]},code=compute_{numbers[-1]}")
    return [
        nvcc,
        "-fatbin",
        *COMPILE_OPTIONS,
        "-Werror=all-warnings",
        f"-I{sources.directory}",
        *gencode,
        "-o",
        str(out),
        str(program),
    ]


def build_fatbin(
    out_dir: Path,
    archs: tuple[str, ...] = FATBIN_ARCHS,
    sources: KernelSources = FACERT_SOURCES,
    nvcc: str | None = None,
) -> Path:
    """Build ``<out_dir>/facert_kernels.fatbin`` with nvcc and its facts file; the fatbin's path.
    Without nvcc: :class:`MissingDependencyError`; a failed build: :class:`ArtifactError` with a
    one-line summary, then nvcc's output."""
    found = nvcc or shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
    if not Path(found).is_file() and shutil.which(found) is None:
        raise MissingDependencyError(f"building the kernels' fatbin needs nvcc ({found} not found)")
    digest = sources.digest()
    out = Path(out_dir) / FATBIN_NAME
    with tempfile.TemporaryDirectory(prefix="facert-fatbin-") as scratch:
        program = Path(scratch) / "facert_kernels.cu"
        program.write_text(sources.program())
        built = Path(scratch) / FATBIN_NAME
        done = subprocess.run(
            nvcc_command(sources, program, built, archs, found), capture_output=True, text=True
        )
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip()
            first = next((line for line in output.splitlines() if "error" in line), "")
            raise ArtifactError(
                f"nvcc could not build the kernels' fatbin: {first or 'see its output'}\n{output}",
                path=str(sources.directory),
            )
        write_bytes_atomic(out, built.read_bytes())
    facts = {
        "archs": sorted(archs, key=check_arch),
        "sources_sha256": digest,
        "nvcc": nvcc_version(found),
    }
    write_atomic(out.with_name(FACTS_NAME), lambda tmp: tmp.write_text(json.dumps(facts) + "\n"))
    return out


_FATBIN_MAGIC = 0xBA55ED50
_ELF, _PTX = 2, 1


def fatbin_entries(data: bytes) -> list[tuple[str, int]]:
    """The images a fatbin holds, in order: ("elf" | "ptx", architecture number). Reads the
    fatbin container's headers (magic, header size, payload size; per image its kind, header
    size, padded size and ``sm`` at byte 28); :class:`ArtifactError` when ``data`` is not one."""
    if len(data) < 16 or struct.unpack_from("<I", data, 0)[0] != _FATBIN_MAGIC:
        raise ArtifactError("not a CUDA fatbin (wrong magic number)")
    _, _, header, size = struct.unpack_from("<IHHQ", data, 0)
    entries, offset, end = [], header, min(header + size, len(data))
    while offset + 32 <= end:
        kind, _, entry_header, padded = struct.unpack_from("<HHII", data, offset)
        sm = struct.unpack_from("<I", data, offset + 28)[0]
        if kind not in (_ELF, _PTX) or entry_header < 32:
            raise ArtifactError(f"a CUDA fatbin with an unknown image kind {kind} at byte {offset}")
        entries.append(("elf" if kind == _ELF else "ptx", int(sm)))
        offset += entry_header + padded
    return entries


def fatbin_facts(directory: Path) -> dict[str, Any] | None:
    """The facts recorded beside the fatbin in ``directory``; None without both files."""
    facts = Path(directory) / FACTS_NAME
    if not (Path(directory) / FATBIN_NAME).is_file() or not facts.is_file():
        return None
    try:
        found = json.loads(facts.read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def kernel_image(
    arch: str, cache_dir: Path, sources: KernelSources = FACERT_SOURCES
) -> KernelImage:
    """The kernels for ``arch``: the fatbin beside ``sources`` when it holds ``arch`` and was
    built from these sources, else NVRTC's cubin (compiled once, then from ``cache_dir``)."""
    check_arch(arch)
    facts = fatbin_facts(sources.directory)
    if (
        facts is not None
        and arch in facts.get("archs", ())
        and facts.get("sources_sha256") == sources.digest()
    ):
        path = sources.directory / FATBIN_NAME
        data = path.read_bytes()
        if ("elf", check_arch(arch)) in fatbin_entries(data):
            return KernelImage(data, "fatbin", path)
    path = cached_cubin(cache_dir, arch, sources)
    return KernelImage(path.read_bytes(), "nvrtc", path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build kernels/facert_kernels.fatbin with nvcc.")
    parser.add_argument("--out-dir", type=Path, default=FACERT_SOURCES.directory)
    parser.add_argument("--arch", action="append", help="sm_XY (repeatable); default: all")
    parser.add_argument("--nvcc", default=None)
    args = parser.parse_args(argv)
    archs = tuple(args.arch) if args.arch else FATBIN_ARCHS
    try:
        out = build_fatbin(args.out_dir, archs, nvcc=args.nvcc)
    except (ArtifactError, MissingDependencyError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    sys.stdout.write(f"{out}: {', '.join(archs)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
