"""Precision of export-form modules: which dtype activations use, and which dtype pinned ops use.

Export-form modules (the deployable networks that become ONNX graphs) of every learned family follow
one protocol, applied by their ``build(state_dict, precision)`` through :func:`apply_precision`:

- weights and activations take ``precision.activation``;
- the numerically fragile ops a spec's precision policy names (StyleGAN2 demodulation sums,
  GroupNorm, softmax, a code-prediction transformer, a whole encoder...) live in modules with a
  ``pinned_dtype`` attribute (None in the faithful ports: compute in the input's dtype). Such an op
  casts its inputs to ``pinned_dtype`` (:func:`cast`), computes there and casts its result back to
  its input's dtype; the parameters it uses are held in ``precision.pinned``, so an FP16 build never
  rounds them to float16.

The same module thus serves three purposes:

- :data:`FP32`: the FP32 graph and the FP32 reference (no casts at all).
- :data:`FP16`: true half precision with FP32 pinned ops (run on a GPU: PyTorch's CPU float16
  convolutions are hundreds of times slower than float32).
- :data:`FP16_STAGED`: everything one step wider: activations float32, pinned ops float64. The FP16
  ONNX graph is traced from this form and demoted one step (float32 -> float16, float64 -> float32,
  see :mod:`facert.export.precision.onnx_fp16`); with weights rounded to float16 it is the CPU emulation of
  float16 storage with float32 arithmetic (:class:`Float16Monitor`), the only one facert uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

FLOAT16_MAX = 65504.0


@dataclass(frozen=True)
class Precision:
    """``activation``: dtype of weights and activations; ``pinned``: dtype of pinned ops."""

    name: str
    activation: torch.dtype
    pinned: torch.dtype


FP32 = Precision("fp32", torch.float32, torch.float32)
FP16 = Precision("fp16", torch.float16, torch.float32)
FP16_STAGED = Precision("fp16-staged", torch.float32, torch.float64)


def cast(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``tensor`` in ``dtype``; unchanged (no Cast node in a traced graph) when it already is."""
    return tensor if tensor.dtype == dtype else tensor.to(dtype)


def apply_precision(
    module: torch.nn.Module,
    precision: Precision,
    pinned_parts: Iterable[torch.nn.Module | torch.nn.Parameter] = (),
) -> torch.nn.Module:
    """``module`` (changed in place and returned) in ``precision``, as the module doc says.

    Every floating parameter and buffer goes to ``precision.activation``, those of ``pinned_parts``
    (modules, or single parameters) to ``precision.pinned``; every submodule with a
    ``pinned_dtype`` attribute (``module`` included) gets ``precision.pinned``.
    """
    module.to(precision.activation)
    for part in pinned_parts:
        if isinstance(part, torch.nn.Parameter):
            part.data = part.data.to(precision.pinned)
        else:
            part.to(precision.pinned)
    for submodule in module.modules():
        if hasattr(submodule, "pinned_dtype"):
            submodule.pinned_dtype = precision.pinned
    return module


def to_float16_grid(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` (float32) rounded to the nearest float16 value, kept float32 (inf past 65504)."""
    return tensor.to(torch.float16).to(tensor.dtype)


def round_weights_to_float16(module: torch.nn.Module) -> torch.nn.Module:
    """Round every float32 parameter and buffer of ``module`` to float16 values, in place."""
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            if tensor.dtype == torch.float32:
                tensor.copy_(to_float16_grid(tensor))
    return module


class Float16Monitor(TorchFunctionMode):
    """Watches the float16 results of every torch call: the largest magnitude and any overflow.

    With ``emulate`` it first rounds every float32 result to float16 values: used with a
    :data:`FP16_STAGED` module whose weights went through :func:`round_weights_to_float16`, this is
    float32 arithmetic inside each op and float16 storage between ops, pinned ops (float64)
    untouched; values past 65504 become inf as in a float16 engine. The float32 graph inputs named
    by :meth:`graph_inputs` are read rounded to float16 too, except by dtype conversions (the entry
    of a pinned part), as the FP16 graph reads its float32 inputs (:mod:`facert.export.precision.onnx_fp16`).
    Without ``emulate`` it only watches a true float16 module (pinned float32 results pass
    untouched). ``peak`` is the largest finite magnitude seen, ``overflowed`` whether any watched
    result was not finite.
    """

    def __init__(self, emulate: bool) -> None:
        super().__init__()
        self.emulate = emulate
        self.peak = 0.0
        self.overflowed = False
        self._inputs: set[int] = set()

    def graph_inputs(self, *tensors: torch.Tensor) -> None:
        """The float32 tensors that stand for the graph's inputs in the next calls."""
        self._inputs = {id(tensor) for tensor in tensors}

    def _read(self, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return type(value)(self._read(item) for item in value)
        if isinstance(value, torch.Tensor) and id(value) in self._inputs:
            return to_float16_grid(value)
        return value

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        if self.emulate and self._inputs and func is not torch.Tensor.to:
            args = tuple(self._read(value) for value in args)
            kwargs = {key: self._read(value) for key, value in kwargs.items()}
        result = func(*args, **kwargs)
        if not isinstance(result, torch.Tensor):
            return result
        if result.dtype == torch.float16:
            self._watch(result)
        elif self.emulate and result.dtype == torch.float32:
            rounded = to_float16_grid(result)
            self._watch(rounded)
            if getattr(func, "__name__", "").endswith("_"):  # in-place op: round the tensor itself
                with torch.no_grad():
                    result.copy_(rounded)
                return result
            return rounded
        return result

    def _watch(self, values: torch.Tensor) -> None:
        if not values.numel():
            return
        largest = float(values.detach().abs().amax())  # inf or nan when anything overflowed
        if math.isfinite(largest):
            self.peak = max(self.peak, largest)
            return
        self.overflowed = True
        magnitude = values.detach().abs().float()
        finite = torch.isfinite(magnitude)
        if bool(finite.any()):
            self.peak = max(self.peak, float(magnitude[finite].max()))
