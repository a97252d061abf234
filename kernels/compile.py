"""Run-time compilation of facert's CUDA kernels with NVRTC, and the cubin cache.

NVRTC (``cuda.bindings.nvrtc`` over the ``nvidia-cuda-nvrtc`` wheel: the ``facert[kernels]``
extra) compiles the ``.cu`` sources for one architecture (``sm_86``) to a cubin without a GPU and
without the CUDA toolkit. The sources include nothing but facert's own header (NVRTC has no
standard headers), passed to NVRTC from memory, so the result depends only on the sources' text,
the architecture and NVRTC's version: the cubin cache under ``<cache_dir>/kernels/`` is keyed by
those three (:func:`cubin_path`) and written atomically, so a second process never compiles again
and a half-written cubin is never read.

All ``.cu`` files of a :class:`KernelSources` are compiled as ONE translation unit (a generated
program that includes each), so one cubin (one module) holds every entry point; the header must
therefore have an include guard. ``make kernels-fatbin`` builds the same program with nvcc
(:mod:`facert.kernels.fatbin`), with the same :data:`COMPILE_OPTIONS`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facert.errors import ArtifactError, MissingDependencyError, UsageError
from facert.io.files import write_bytes_atomic
from facert.kernels import SOURCE_DIR

log = logging.getLogger(__name__)

KERNELS_EXTRA = "pip install 'facert[kernels]'"
# Options shared by NVRTC and nvcc: C++17, IEEE division and square root (no --use_fast_math: the
# kernels must match the CPU reference within 1/255), every warning shown.
COMPILE_OPTIONS = ("-std=c++17",)
_ARCH = re.compile(r"^sm_(\d{2,3})$")


@dataclass(frozen=True)
class KernelSources:
    """The CUDA sources compiled together: ``units`` (``.cu`` files, in this order) and the
    ``headers`` they include, all in ``directory``."""

    directory: Path
    units: tuple[str, ...]
    headers: tuple[str, ...]

    def read(self) -> dict[str, str]:
        """{file name: text} of every unit and header; :class:`ArtifactError` naming a missing one."""
        texts = {}
        for name in (*self.headers, *self.units):
            path = self.directory / name
            try:
                texts[name] = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ArtifactError(
                    f"kernel source missing or unreadable ({exc.strerror}): reinstall facert",
                    path=str(path),
                ) from None
        return texts

    def program(self) -> str:
        """The one translation unit: an ``#include`` of each unit."""
        return "".join(f'#include "{unit}"\n' for unit in self.units)

    def digest(self) -> str:
        """sha256 (hex) of every file's name and text, and of the compile options."""
        hashed = hashlib.sha256(" ".join(COMPILE_OPTIONS).encode())
        for name, text in sorted(self.read().items()):
            hashed.update(f"\0{name}\0{len(text)}\0".encode())
            hashed.update(text.encode())
        return hashed.hexdigest()


FACERT_SOURCES = KernelSources(
    SOURCE_DIR, ("warp_crop.cu", "blend.cu", "resize_normalize.cu"), ("pixels.cuh",)
)


def check_arch(arch: str) -> int:
    """The number of ``sm_XY`` (86); :class:`UsageError` in one line for anything else."""
    match = _ARCH.match(arch)
    if not match:
        raise UsageError(f"a CUDA architecture is written sm_XY (sm_86), not {arch!r}")
    return int(match.group(1))


def arch_of(compute_capability: str) -> str:
    """``sm_86`` for compute capability ``8.6``."""
    major, _, minor = compute_capability.partition(".")
    arch = f"sm_{major}{minor}"
    check_arch(arch)
    return arch


def nvrtc_module() -> Any:
    """``cuda.bindings.nvrtc`` with its library loaded; :class:`MissingDependencyError` in one
    line naming the extra when cuda-python or libnvrtc is missing."""
    try:
        from cuda.bindings import nvrtc
    except ImportError:
        raise MissingDependencyError(
            f"compiling facert's CUDA kernels needs cuda-python (cuda.bindings): {KERNELS_EXTRA}"
        ) from None
    try:
        nvrtc.nvrtcVersion()  # loads libnvrtc
    except (OSError, RuntimeError) as exc:  # cuda.pathfinder's DynamicLibNotFoundError
        reason = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MissingDependencyError(
            f"compiling facert's CUDA kernels needs NVRTC (libnvrtc: {reason}): {KERNELS_EXTRA}"
        ) from None
    return nvrtc


def nvrtc_version() -> str:
    """NVRTC's version, ``13.5``."""
    nvrtc = nvrtc_module()
    major, minor = _check(nvrtc, "nvrtcVersion", nvrtc.nvrtcVersion())
    return f"{major}.{minor}"


def supported_archs() -> tuple[str, ...]:
    """The architectures this NVRTC compiles for (``sm_75`` ...)."""
    nvrtc = nvrtc_module()
    return tuple(
        f"sm_{n}" for n in _check(nvrtc, "nvrtcGetSupportedArchs", nvrtc.nvrtcGetSupportedArchs())
    )


def _check(nvrtc: Any, what: str, result: Any) -> Any:
    """The values of an NVRTC result tuple; :class:`ArtifactError` naming the call otherwise."""
    error, *values = result
    if int(error) != 0:
        _, text = nvrtc.nvrtcGetErrorString(error)
        name = text.decode() if isinstance(text, bytes) else str(error)
        raise ArtifactError(f"NVRTC {what} failed: {name}")
    return values[0] if len(values) == 1 else tuple(values)


def _program_log(nvrtc: Any, program: Any) -> str:
    size = _check(nvrtc, "nvrtcGetProgramLogSize", nvrtc.nvrtcGetProgramLogSize(program))
    text = bytearray(size)  # NVRTC writes into it: never a bytes object (b" " * 1 is CPython's
    # shared one-byte b" ", which a write would change for the whole process)
    _check(nvrtc, "nvrtcGetProgramLog", nvrtc.nvrtcGetProgramLog(program, text))
    return bytes(text).rstrip(b"\0").decode(errors="replace").strip()


def compile_cubin(arch: str, sources: KernelSources = FACERT_SOURCES) -> bytes:
    """NVRTC's cubin of ``sources`` for ``arch`` (``sm_86``). A program that does not compile:
    :class:`ArtifactError`, a one-line summary, then NVRTC's log on the following lines."""
    number = check_arch(arch)
    nvrtc = nvrtc_module()
    if arch not in supported_archs():
        raise UsageError(
            f"NVRTC {nvrtc_version()} does not compile for {arch}; it supports "
            f"{', '.join(supported_archs())}"
        )
    texts = sources.read()
    names = [name.encode() for name in texts]
    program = _check(
        nvrtc,
        "nvrtcCreateProgram",
        nvrtc.nvrtcCreateProgram(
            sources.program().encode(),
            b"facert_kernels.cu",
            len(texts),
            [text.encode() for text in texts.values()],
            names,
        ),
    )
    try:
        options = [
            f"--gpu-architecture=sm_{number}".encode(),
            *(o.encode() for o in COMPILE_OPTIONS),
        ]
        (error,) = nvrtc.nvrtcCompileProgram(program, len(options), options)
        text = _program_log(nvrtc, program)
        if int(error) != 0:
            first = next((line for line in text.splitlines() if "error" in line), "")
            raise ArtifactError(
                f"NVRTC {nvrtc_version()} could not compile the kernels for {arch}: "
                f"{first or 'see the log'}\n{text}",
                path=str(sources.directory),
            )
        if text:
            log.warning("NVRTC compiled the kernels for %s with messages:\n%s", arch, text)
        size = _check(nvrtc, "nvrtcGetCUBINSize", nvrtc.nvrtcGetCUBINSize(program))
        cubin = bytearray(size)
        _check(nvrtc, "nvrtcGetCUBIN", nvrtc.nvrtcGetCUBIN(program, cubin))
        return bytes(cubin)
    finally:
        nvrtc.nvrtcDestroyProgram(program)


def cubin_path(cache_dir: Path, arch: str, sources: KernelSources = FACERT_SOURCES) -> Path:
    """Where the cubin of ``sources`` for ``arch`` compiled by this NVRTC is cached:
    ``<cache_dir>/kernels/facert-<arch>-nvrtc<version>-<16 hex of the sources' sha256>.cubin``."""
    check_arch(arch)
    return (
        Path(cache_dir)
        / "kernels"
        / f"facert-{arch}-nvrtc{nvrtc_version()}-{sources.digest()[:16]}.cubin"
    )


def cached_cubin(cache_dir: Path, arch: str, sources: KernelSources = FACERT_SOURCES) -> Path:
    """The cached cubin of ``sources`` for ``arch``, compiled by NVRTC and written atomically the
    first time (any number of processes may race: each writes a complete file, one wins)."""
    path = cubin_path(cache_dir, arch, sources)
    if not path.is_file():
        cubin = compile_cubin(arch, sources)
        write_bytes_atomic(path, cubin)
        log.info("compiled facert's kernels for %s into %s", arch, path)
    return path
