"""Is there an NVIDIA GPU here, and which: a check that never touches a driver that is not there.

TensorRT's runtime constructor crashes the process (segfault) on some versions when no driver is
installed, and cuda-python raises from deep inside its loader, so every GPU path asks
:func:`driver_status` first. It loads the driver library (``libcuda.so.1``) with ctypes, and only
when that library exists calls the driver's own entry points (``cuInit``, ``cuDeviceGet``,
``cuDeviceGetName``, ``cuDeviceGetAttribute``, ``cuDriverGetVersion``): no cuda-python, no
TensorRT, so ``facert`` can say "no GPU" and why on any machine, extras installed or not.

:func:`gpu_fingerprint` is the GPU's half of a compiled artifact's key, like
:func:`facert.backends.device.cpu_fingerprint`: GPU name, compute capability and driver version.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from facert.errors import UnsupportedError

DRIVER_LIBRARY = "libcuda.so.1"
NVIDIA_PROC = Path("/proc/driver/nvidia/version")
# cuDeviceGetAttribute's CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR / _MINOR
_CC_MAJOR, _CC_MINOR = 75, 76
_CUDA_ERROR_NO_DEVICE = 100


@dataclass(frozen=True)
class DriverStatus:
    """What :func:`driver_status` found. ``present`` with the device's facts, or not with ``reason``
    (one line). ``cuda_version`` is the CUDA version the driver supports ("13.0");
    ``driver_version`` the display driver's ("580.159.04", Linux only; None when unknown)."""

    present: bool
    reason: str = ""
    device: int = 0
    device_count: int = 0
    name: str | None = None
    compute_capability: str | None = None  # "8.6"
    cuda_version: str | None = None
    driver_version: str | None = None

    def summary(self) -> str:
        """One line: the GPU and its facts, or why there is none."""
        if not self.present:
            return f"no NVIDIA GPU: {self.reason}"
        return (
            f"{self.name} (compute capability {self.compute_capability}, driver "
            f"{self.driver_version or 'unknown'}, CUDA {self.cuda_version})"
        )


def _display_driver_version(proc: Path = NVIDIA_PROC) -> str | None:
    """The kernel module's version ("580.159.04") from /proc, None where it cannot be read."""
    try:
        words = proc.read_text().split()
    except OSError:
        return None
    for word in words:
        if word.count(".") >= 1 and word.replace(".", "").isdigit():
            return word
    return None


def _query(cuda: ctypes.CDLL, device: int) -> DriverStatus:
    """Ask the loaded driver library about ``device`` (cuInit first)."""
    code = cuda.cuInit(0)
    if code != 0:
        reason = "no CUDA device" if code == _CUDA_ERROR_NO_DEVICE else f"cuInit failed ({code})"
        return DriverStatus(False, f"the driver is installed but {reason}")
    count, handle, version = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(0)
    if cuda.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value == 0:
        return DriverStatus(False, "the driver is installed but reports no CUDA device")
    if not 0 <= device < count.value:
        return DriverStatus(
            False, f"device {device} asked for, {count.value} present (0..{count.value - 1})"
        )
    if cuda.cuDeviceGet(ctypes.byref(handle), device) != 0:
        return DriverStatus(False, f"cuDeviceGet({device}) failed")
    name = ctypes.create_string_buffer(256)
    major, minor = ctypes.c_int(0), ctypes.c_int(0)
    cuda.cuDeviceGetName(name, len(name), handle)
    cuda.cuDeviceGetAttribute(ctypes.byref(major), _CC_MAJOR, handle)
    cuda.cuDeviceGetAttribute(ctypes.byref(minor), _CC_MINOR, handle)
    cuda.cuDriverGetVersion(ctypes.byref(version))
    return DriverStatus(
        True,
        device=device,
        device_count=count.value,
        name=name.value.decode(errors="replace"),
        compute_capability=f"{major.value}.{minor.value}",
        cuda_version=f"{version.value // 1000}.{version.value % 1000 // 10}",
        driver_version=_display_driver_version(),
    )


def probe_driver(device: int = 0, library: str = DRIVER_LIBRARY) -> DriverStatus:
    """The status of GPU ``device`` through the driver library ``library``, asked afresh (a
    library that cannot be loaded means no driver; nothing else is tried then)."""
    try:
        cuda = ctypes.CDLL(library)
    except OSError as exc:
        detail = str(exc).split(":")[-1].strip() or "cannot be loaded"
        return DriverStatus(False, f"no NVIDIA driver ({library}: {detail})")
    try:
        return _query(cuda, device)
    except AttributeError as exc:  # a library of that name without the driver API
        return DriverStatus(False, f"{library} is not an NVIDIA driver ({exc})")


@functools.lru_cache(maxsize=8)
def driver_status(device: int = 0) -> DriverStatus:
    """:func:`probe_driver` for ``device``, asked once per process (a driver does not come or go
    while a process runs)."""
    return probe_driver(device)


def require_gpu(device: int = 0, *, purpose: str = "this backend") -> DriverStatus:
    """The status of GPU ``device`` when there is one; otherwise :class:`UnsupportedError` in one
    line saying why (``purpose`` names what needed it)."""
    status = driver_status(device)
    if not status.present:
        raise UnsupportedError(f"{purpose} needs an NVIDIA GPU: {status.reason}")
    return status


def gpu_fingerprint(status: DriverStatus) -> str:
    """``gpu-sm<major><minor>-<12 hex digits>`` of the GPU's name, compute capability and driver:
    the same on every machine with that GPU and driver; one that differs gets its own artifacts."""
    if not status.present or status.compute_capability is None:
        raise UnsupportedError(f"no GPU fingerprint: {status.reason}")
    facts = " ".join(
        (
            status.name or "",
            status.compute_capability,
            status.driver_version or "",
            status.cuda_version or "",
        )
    )
    digest = hashlib.sha256(facts.encode()).hexdigest()[:12]
    return f"gpu-sm{status.compute_capability.replace('.', '')}-{digest}"


class GpuTarget:
    """The device half of a :class:`facert.models.compiling.Compiler` that builds for GPU
    ``device`` (as :class:`facert.backends.device.CpuTarget` for the CPU); needs the GPU."""

    def __init__(self, device: int = 0) -> None:
        self.index = device

    def device(self) -> str:
        return gpu_fingerprint(require_gpu(self.index, purpose="a GPU build"))

    def device_description(self) -> str:
        return require_gpu(self.index, purpose="a GPU build").summary()
