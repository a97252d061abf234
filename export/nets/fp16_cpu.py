"""Running a float16 torch module on a CPU with GPU convolution arithmetic, in float32 time.

torch's float16 convolutions on x86 CPUs are ~20x slower than float32 ones, which makes an FP16
proof of a full 512x512 restorer take most of an hour. Inside :class:`Float16ConvolutionsInFloat32`
every ``conv2d`` whose input is float16 is computed the way GPU tensor cores compute it: float16
operands (exact in float32), float32 accumulation, one rounding of the result to float16 (overflow
gives inf, as on the GPU). Every other operation still runs in the dtype the module gives it, so
elementwise operations, casts and the FP32-pinned parts behave exactly as in the FP16 build.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

_CONVOLUTIONS = (torch.conv2d, torch.nn.functional.conv2d)


def _widen(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.dtype == torch.float16:
        return value.float()
    return value


class Float16ConvolutionsInFloat32(TorchFunctionMode):
    """Context manager: float16 ``conv2d`` = float32 accumulation of float16 operands, float16 out."""

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        if func in _CONVOLUTIONS and args and getattr(args[0], "dtype", None) == torch.float16:
            wide_args = tuple(_widen(a) for a in args)
            wide_kwargs = {k: _widen(v) for k, v in kwargs.items()}
            return func(*wide_args, **wide_kwargs).to(torch.float16)
        return func(*args, **kwargs)
