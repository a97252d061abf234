"""CUDA for facert's GPU backends: the driver check (no driver library is touched unless it is
there), cuda-python imported lazily, and the owned resources engines run on (streams, device and
page-locked host memory, CUDA graphs). Importing this package imports neither cuda-python nor
TensorRT; :mod:`.memory` and :mod:`.graph` import cuda-python only when a resource is opened."""

from __future__ import annotations

from facert.backends.cuda.driver import (
    DriverStatus,
    GpuTarget,
    driver_status,
    gpu_fingerprint,
    probe_driver,
    require_gpu,
)

__all__ = [
    "DriverStatus",
    "GpuTarget",
    "driver_status",
    "gpu_fingerprint",
    "probe_driver",
    "require_gpu",
]
