"""Which TensorRT runs a plan, and whether it may: the two flavours and the refusal rules.

A serialized TensorRT engine (a *plan*) runs only on the TensorRT version that built it and on the
compute capabilities it was built for. facert has two flavours with one runtime API (names as the
builder's ``--target``):

=================  ===============  =====================================================
flavour            module           differences the runtime sees
=================  ===============  =====================================================
``tensorrt-rtx``   ``tensorrt_rtx``  RTX-class GPUs only (compute capability 7.5, 8.0, 8.6,
                                     8.9, 12.0, 12.1; not 8.7 Jetson, not 9.0 H100/H200);
                                     ``Runtime.get_engine_validity`` says whether a plan
                                     runs here (and why not) before deserializing it; a
                                     runtime cache keeps the kernels its JIT compiled on
                                     the first run (``IRuntimeConfig``)
``tensorrt``       ``tensorrt``      every CUDA GPU TensorRT supports; no validity query:
                                     a foreign plan fails in ``deserialize_cuda_engine``
=================  ===============  =====================================================

:func:`plan_refusal` is the check made before any of that, from the facts the plan's manifest
records (:class:`PlanFacts`) and the device's compute capability: pure, so it is tested anywhere.
Every refusal is one line ending with the command that rebuilds the plan.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from facert.errors import MissingDependencyError, UsageError


@dataclass(frozen=True)
class Flavour:
    """One TensorRT flavour: its ``--target`` name, module, extra and what its runtime offers."""

    name: str
    module: str
    extra: str
    label: str
    has_engine_validity: bool
    compute_capabilities: tuple[str, ...] | None  # those it runs on; None: any CUDA GPU
    has_runtime_cache: bool = False  # keeps the kernels its JIT compiled, across processes


FLAVOURS = {
    "tensorrt-rtx": Flavour(
        "tensorrt-rtx",
        "tensorrt_rtx",
        "facert[tensorrt-rtx]",
        "TensorRT for RTX",
        has_engine_validity=True,
        compute_capabilities=("7.5", "8.0", "8.6", "8.9", "12.0", "12.1"),
        has_runtime_cache=True,
    ),
    "tensorrt": Flavour(
        "tensorrt",
        "tensorrt",
        "facert[tensorrt]",
        "TensorRT",
        has_engine_validity=False,
        compute_capabilities=None,
    ),
}


def get_flavour(name: str) -> Flavour:
    """The flavour called ``name``; :class:`UsageError` listing the flavours otherwise."""
    try:
        return FLAVOURS[name]
    except KeyError:
        raise UsageError(
            f"unknown TensorRT flavour {name!r}: expected one of {', '.join(FLAVOURS)}"
        ) from None


def import_flavour(flavour: Flavour) -> Any:
    """The flavour's Python module; :class:`MissingDependencyError` naming its extra."""
    try:
        return importlib.import_module(flavour.module)
    except ImportError:
        raise MissingDependencyError(
            f"the trt backend ({flavour.label}) needs the {flavour.module} package: "
            f"pip install '{flavour.extra}'"
        ) from None


def installed_version(flavour: Flavour) -> str | None:
    """The installed version of the flavour ("1.7.1.116"), None when it is not installed."""
    try:
        module = importlib.import_module(flavour.module)
    except ImportError:
        return None
    return str(module.__version__)


@dataclass(frozen=True)
class PlanFacts:
    """What a plan's manifest records about its build: the flavour, the exact TensorRT version,
    the compute capabilities it targets (empty: not recorded) and the model it came from (for the
    rebuild command; "NAME" when unknown)."""

    flavour: str
    version: str
    compute_capabilities: tuple[str, ...] = ()
    model: str = "NAME"


def rebuild_command(model: str, flavour: str, compute_capability: str | None = None) -> str:
    """The command that builds ``model``'s plan for ``flavour`` (and this GPU)."""
    command = f"facert models build {model} --target {flavour}"
    return f"{command} --compute-capability {compute_capability}" if compute_capability else command


def plan_refusal(
    facts: PlanFacts, flavour: Flavour, version: str, compute_capability: str
) -> str | None:
    """Why a plan described by ``facts`` cannot run on ``flavour`` at ``version`` on a GPU of
    ``compute_capability`` ("9.0"), in one line with the rebuild command; None when it can."""
    if (
        flavour.compute_capabilities is not None
        and compute_capability not in flavour.compute_capabilities
    ):
        other = "tensorrt" if flavour.name == "tensorrt-rtx" else "tensorrt-rtx"
        return (
            f"{flavour.label} does not run on compute capability {compute_capability} (it runs on "
            f"{', '.join(flavour.compute_capabilities)}): build for {other} instead: "
            f"`{rebuild_command(facts.model, other)}`"
        )
    if facts.flavour != flavour.name:
        return (
            f"the plan was built for {facts.flavour}, this backend runs {flavour.name}: "
            f"rebuild it: `{rebuild_command(facts.model, flavour.name)}`"
        )
    if facts.version != version:
        return (
            f"the plan was built with {flavour.name} {facts.version}, {version} is installed: "
            f"rebuild it: `{rebuild_command(facts.model, flavour.name)}`"
        )
    if facts.compute_capabilities and compute_capability not in facts.compute_capabilities:
        return (
            f"the plan targets compute capability {', '.join(facts.compute_capabilities)}, this "
            f"GPU is {compute_capability}: rebuild it: "
            f"`{rebuild_command(facts.model, flavour.name, compute_capability)}`"
        )
    return None


def invalidity_reasons(diagnostics: int, names: dict[str, int]) -> list[str]:
    """The names of the bits set in ``diagnostics`` (TensorRT for RTX's
    ``EngineInvalidityDiagnostics``: ``names`` maps each name to its bit), in bit order."""
    found = [
        name for name, bit in sorted(names.items(), key=lambda item: item[1]) if diagnostics & bit
    ]
    return [name.lower().replace("_", " ") for name in found]
