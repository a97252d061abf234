"""Whether this machine can run the ``gpu`` and ``trt`` marked tests, and if not, why (one line):
used by conftest.py to skip them and by bench/gpu_check.py to report them "not run"."""

from __future__ import annotations

from typing import Any

from facert.backends.cuda import driver_status
from facert.backends.gpu_choice import flavour_unavailable
from facert.backends.trt_plan import FLAVOURS, Flavour


def gpu_missing() -> str | None:
    """Why no GPU test can run here; None when a GPU is present."""
    status = driver_status()
    return None if status.present else status.summary()


def flavour_missing(flavour: Flavour) -> str | None:
    """Why ``flavour``'s engines cannot run here (no GPU, not installed, compute capability it
    does not support); None when they can."""
    return flavour_unavailable(flavour, driver_status())


def usable_flavour() -> tuple[Flavour | None, str]:
    """The first flavour whose engines run here, or None and every flavour's reason."""
    reasons = []
    for flavour in FLAVOURS.values():
        reason = flavour_missing(flavour)
        if reason is None:
            return flavour, ""
        reasons.append(f"{flavour.name}: {reason}")
    return None, "; ".join(reasons)


class Described:
    """Any object that describes device memory the standard way (CuPy, PyTorch, Numba...)."""

    def __init__(self, shape: tuple[int, ...], typestr: str = "<f2", strides: Any = None) -> None:
        self.__cuda_array_interface__ = {
            "shape": shape,
            "typestr": typestr,
            "data": (0x7F0000001000, False),
            "strides": strides,
            "version": 3,
        }
