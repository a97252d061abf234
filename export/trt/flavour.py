"""The two TensorRT flavours facert builds for, and every API difference between them.

One builder (:mod:`facert.export.trt.builder`) serves both; what differs lives here and only here:

==========================  =====================================  ===================================
                            TensorRT for RTX (``tensorrt-rtx``)     TensorRT (``tensorrt``, 10/11)
==========================  =====================================  ===================================
Python module               ``tensorrt_rtx``                        ``tensorrt``
where engines run           RTX GPUs: compute capability 8.0, 8.6,  the GPU it was built on (Jetson
                            8.9, 12.0, 12.1 (7.5 for graphs          Orin 8.7, data centre 9.0...)
                            without FP32 matrix products)
needs a GPU to build        no: ahead-of-time build for the listed  yes: it times kernels on the GPU
                            capabilities, specialised just in time
                            on the user's GPU
target compute capability   ``config.set_compute_capability``       none: the building GPU's
precision                   strongly typed networks only            strongly typed networks (the same
                                                                    flag)
build-time timing cache     none (deprecated no-ops)                ``create_timing_cache`` /
                                                                    ``set_timing_cache``, kept per
                                                                    GPU and version
run-time kernel cache       the runtime cache of the JIT            none
engine check before use     ``Runtime.get_engine_validity``         none (deserialization fails)
==========================  =====================================  ===================================

Nothing here touches a GPU driver: importing the flavour module and building are safe on a
machine without one (measured with tensorrt_rtx 1.7.1). The flavours' names, modules, extras and
the compute capabilities TensorRT for RTX runs on are :mod:`facert.backends.trt_plan`'s table, which
the runtime (:mod:`facert.backends.trt`) refuses foreign plans by; this module adds what only a
build needs.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from facert.backends.trt_plan import FLAVOURS as RUN_FLAVOURS
from facert.backends.trt_plan import Flavour as RunFlavour
from facert.backends.trt_plan import get_flavour as run_flavour
from facert.backends.trt_plan import import_flavour
from facert.errors import UsageError

# Compute capabilities TensorRT for RTX builds for (its ComputeCapability enum), as "major.minor":
# those its runtime runs on (facert.backends.trt_plan, the one table of them).
RTX_CAPABILITIES = RUN_FLAVOURS["tensorrt-rtx"].compute_capabilities or ()
# Built for when none are named and no GPU is at hand: the RTX desktops (Ampere, Ada, Blackwell).
# Turing (7.5) is left out: TensorRT-RTX cannot compile FP32 matrix products for it, which every
# FP32 graph and every FP16 graph with pinned FP32 layers has.
RTX_DEFAULT_CAPABILITIES = ("8.6", "8.9", "12.0")


@dataclass(frozen=True)
class Flavour:
    """The builder's view of one TensorRT flavour (:class:`facert.backends.trt_plan.Flavour`:
    its name, module and extra). ``aot``: builds ahead of time for named compute capabilities,
    without a GPU."""

    run: RunFlavour
    aot: bool

    @property
    def name(self) -> str:  # "tensorrt-rtx" | "tensorrt"
        return self.run.name

    def available(self) -> bool:
        return importlib.util.find_spec(self.run.module) is not None

    def module(self) -> ModuleType:
        """The flavour's Python module; MissingDependencyError naming the extra without it."""
        return import_flavour(self.run)  # type: ignore[no-any-return]

    def version(self) -> str:
        return str(self.module().__version__)

    def check_targets(self, capabilities: tuple[str, ...]) -> None:
        """UsageError unless this flavour can build for every one of ``capabilities``."""
        if not self.aot:
            if capabilities:
                raise UsageError(
                    f"{self.name} builds for the GPU it runs on; --compute-capability is for "
                    "--target tensorrt-rtx"
                )
            return
        for capability in capabilities:
            if capability not in RTX_CAPABILITIES:
                raise UsageError(
                    f"TensorRT for RTX builds for compute capability {', '.join(RTX_CAPABILITIES)}, "
                    f"not {capability}" + _enterprise_hint(capability)
                )

    def set_targets(self, config: Any, capabilities: tuple[str, ...]) -> None:
        """Make ``config`` (an IBuilderConfig) build for ``capabilities`` (AOT flavour only)."""
        if not self.aot:
            return
        trt = self.module()
        config.num_compute_capabilities = len(capabilities)
        for index, capability in enumerate(capabilities):
            member = "SM" + capability.replace(".", "")
            config.set_compute_capability(getattr(trt.ComputeCapability, member), index)

    def attach_timing_cache(self, config: Any, path: Path | None) -> None:
        """Give ``config`` the timing cache read from ``path`` (or an empty one), to save with
        :meth:`save_timing_cache` after the build; nothing for the RTX flavour, which has none."""
        if self.aot or path is None:
            return
        data = path.read_bytes() if path.is_file() else b""
        config.set_timing_cache(config.create_timing_cache(data), False)

    def save_timing_cache(self, config: Any, path: Path | None) -> None:
        if self.aot or path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_suffix(".tmp")
        staging.write_bytes(bytes(config.get_timing_cache().serialize()))
        staging.replace(path)


def _enterprise_hint(capability: str) -> str:
    if capability in ("8.7", "9.0", "10.0", "11.0"):
        return " (Jetson and data-centre GPUs: build on that device with --target tensorrt)"
    return ""


TENSORRT_RTX = Flavour(RUN_FLAVOURS["tensorrt-rtx"], aot=True)
TENSORRT = Flavour(RUN_FLAVOURS["tensorrt"], aot=False)
FLAVOURS = {f.name: f for f in (TENSORRT_RTX, TENSORRT)}


def get_flavour(name: str) -> Flavour:
    """The builder's flavour called ``name`` (UsageError listing them otherwise)."""
    return FLAVOURS[run_flavour(name).name]


def capability_label(capabilities: tuple[str, ...]) -> str:
    """``("8.6", "12.0")`` -> ``"sm86+sm120"``: the device field of an AOT plan's key."""
    return "+".join("sm" + c.replace(".", "") for c in capabilities)
