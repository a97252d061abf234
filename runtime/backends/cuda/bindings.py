"""cuda-python, imported only when a GPU backend runs, and its errors turned into facert's.

cuda-python's calls return ``(error, *values)``; :func:`call` checks the error and returns the
values, raising :class:`facert.errors.DeviceError` with the CUDA error's name and the call's. facert
uses the runtime API (``cuda.bindings.runtime``: the primary context, as TensorRT, PyTorch and CuPy
do), so buffers, streams and engines of all of them share one context per device.
"""

from __future__ import annotations

from typing import Any

from facert.errors import DeviceError, MissingDependencyError

# The extras that bring cuda-python: TensorRT for RTX's, or ONNX Runtime GPU's.
CUDA_EXTRAS = "pip install 'facert[tensorrt-rtx]' (or 'facert[gpu]', 'facert[tensorrt]')"


def cuda_runtime() -> Any:
    """The ``cuda.bindings.runtime`` module; :class:`MissingDependencyError` in one line naming the
    extras when cuda-python is not installed."""
    try:
        from cuda.bindings import runtime
    except ImportError:
        raise MissingDependencyError(
            f"the GPU backends need cuda-python (cuda.bindings): {CUDA_EXTRAS}"
        ) from None
    return runtime


def error_name(runtime: Any, error: Any) -> str:
    """``cudaErrorMemoryAllocation`` for a ``cudaError_t``; its number when CUDA has no name for it."""
    code, name = runtime.cudaGetErrorName(error)
    return (
        name.decode() if int(code) == 0 and isinstance(name, bytes) else f"cudaError {int(error)}"
    )


def call(what: str, result: Any) -> Any:
    """The values of a cuda-python ``result`` tuple ``(error, *values)``: None, the one value, or a
    tuple of them. Raises :class:`DeviceError` naming ``what`` when ``error`` is not success."""
    error, *values = result if isinstance(result, tuple) else (result,)
    if int(error) != 0:
        runtime = cuda_runtime()
        raise DeviceError(f"CUDA {what} failed: {error_name(runtime, error)}")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def set_device(device: int) -> None:
    """Make ``device`` current on this thread (its primary context), after the driver check: without
    a GPU, :class:`facert.errors.UnsupportedError` in one line and cuda-python is never called."""
    from facert.backends.cuda.driver import require_gpu

    require_gpu(device, purpose="CUDA memory and streams")
    runtime = cuda_runtime()
    call(f"cudaSetDevice({device})", runtime.cudaSetDevice(device))


def cuda_driver() -> Any:
    """The ``cuda.bindings.driver`` module (the driver API: modules and kernel launches, in the
    primary context the runtime API made current); :class:`MissingDependencyError` as
    :func:`cuda_runtime`."""
    try:
        from cuda.bindings import driver
    except ImportError:
        raise MissingDependencyError(
            f"the GPU backends need cuda-python (cuda.bindings): {CUDA_EXTRAS}"
        ) from None
    return driver


def driver_call(what: str, result: Any) -> Any:
    """:func:`call` for the driver API: its ``CUresult`` named (``CUDA_ERROR_INVALID_IMAGE``)."""
    error, *values = result if isinstance(result, tuple) else (result,)
    if int(error) != 0:
        code, name = cuda_driver().cuGetErrorName(error)
        text = (
            name.decode()
            if int(code) == 0 and isinstance(name, bytes)
            else f"CUresult {int(error)}"
        )
        raise DeviceError(f"CUDA {what} failed: {text}")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)
